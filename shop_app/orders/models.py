"""Orders and the items they contain."""

from decimal import Decimal

from django.db import models
from django.utils import timezone


class Order(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        PAID = "paid", "Paid"
        SHIPPED = "shipped", "Shipped"
        CANCELLED = "cancelled", "Cancelled"

    # TODO(lesson 7): a customer's history finds their orders by customer_id and
    # sorts them newest first; the foreign key's own index holds customer_id only.
    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.PROTECT, related_name="orders"
    )
    # TODO(lesson 7): the dashboard counts and filters orders by status, which has
    # no index.
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.PENDING
    )
    # TODO(lesson 7): the dashboard lists the latest orders, and created_at has no
    # index.
    created_at = models.DateTimeField(default=timezone.now)
    total = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal(0))

    def __str__(self) -> str:
        return f"Order #{self.pk}"


class OrderItem(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="items")
    product = models.ForeignKey(
        "catalog.Product", on_delete=models.PROTECT, related_name="order_items"
    )
    quantity = models.PositiveIntegerField()
    unit_price = models.DecimalField(max_digits=10, decimal_places=2)

    def __str__(self) -> str:
        return f"{self.quantity} x product #{self.product_id}"

    @property
    def line_total(self) -> Decimal:
        """Return the quantity times the unit price."""
        return self.quantity * self.unit_price
