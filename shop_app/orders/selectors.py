"""Read queries about orders: history, the sales dashboard and the export."""

from typing import Any, cast

from django.db.models import DecimalField, F, QuerySet, Sum
from django.db.models.functions import Coalesce

from customers.models import Customer
from orders.models import Order, OrderItem

# Orders that brought money in; pending and cancelled ones did not.
REVENUE_STATUSES = (Order.Status.PAID, Order.Status.SHIPPED)
LINE_REVENUE = Sum(
    F("quantity") * F("unit_price"),
    output_field=DecimalField(max_digits=14, decimal_places=2),
)


def order_history(*, customer: Customer) -> QuerySet[Order]:
    """Return the orders of `customer`, newest first."""
    # TODO(lesson 1): the template reads item.product for every item of every order.
    # TODO(lesson 2): the template queries each order's items on their own.
    return customer.orders.order_by("-created_at", "-id")


def customer_has_orders(*, customer: Customer) -> bool:
    """Return True if `customer` has placed any order."""
    # TODO(lesson 3): bool() loads every order of the customer just to test for one.
    return bool(customer.orders.all())


def sales_revenue() -> Any:
    """Return the sum of the totals of paid and shipped orders."""
    revenue = Order.objects.filter(status__in=REVENUE_STATUSES).aggregate(
        revenue=Coalesce(Sum("total"), 0, output_field=DecimalField())
    )
    return revenue["revenue"]


def sales_status_counts() -> dict[str, int]:
    """Return how many orders have each status, in the order of the choices."""
    # TODO(lesson 2): one COUNT query per status; a single values("status")
    # .annotate(Count("id")) query counts them all.
    return {
        status.label: Order.objects.filter(status=status).count()
        for status in Order.Status
    }


def sales_bestsellers(*, limit: int | None = 10) -> list[dict[str, Any]]:
    """Return the products that sold the most units, with their revenue."""
    # TODO(lesson 4): every request aggregates all order items again; cache the
    # result and drop it when an order changes.
    sales = (
        OrderItem.objects.filter(order__status__in=REVENUE_STATUSES)
        .values("product_id", "product__name", "product__slug")
        .annotate(units=Sum("quantity"), revenue=LINE_REVENUE)
        .order_by("-units", "product_id")
    )
    return cast(list[dict[str, Any]], list(sales if limit is None else sales[:limit]))


def sales_by_category() -> list[dict[str, Any]]:
    """Return the revenue and units sold per category, highest revenue first."""
    # TODO(lesson 4): every request aggregates all order items again; cache it.
    sales = (
        OrderItem.objects.filter(order__status__in=REVENUE_STATUSES)
        .values("product__category__name")
        .annotate(units=Sum("quantity"), revenue=LINE_REVENUE)
        .order_by("-revenue", "product__category__name")
    )
    return cast(list[dict[str, Any]], list(sales))


def recent_orders(*, limit: int = 20) -> QuerySet[Order]:
    """Return the latest orders, newest first."""
    # TODO(lesson 1): the dashboard reads order.customer.user for every order.
    # TODO(lesson 2): the dashboard counts each order's items on their own.
    return Order.objects.order_by("-created_at", "-id")[:limit]


def order_item_export() -> QuerySet[OrderItem]:
    """Return every order item with its order and product, by id."""
    # TODO(lesson 3): the export loads all items, with every column of their order
    # and product (descriptions included), into memory before writing a line;
    # stream values_list(...).iterator() instead.
    return OrderItem.objects.select_related("order", "product").order_by("id")


def order_api_list() -> QuerySet[Order]:
    """Return the orders the API lists, newest first."""
    # TODO(lesson 6): the nested serializer queries the customer, its user, the
    # items and their products once per order.
    return Order.objects.order_by("-id")
