"""Admin of orders."""

from django.contrib import admin

from orders.models import Order, OrderItem


class OrderItemInline(admin.TabularInline):
    model = OrderItem
    extra = 0
    raw_id_fields = ["product"]


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    # TODO(lesson 1): the customer columns fetch the customer and its user once
    # per row; list_select_related fetches them with the orders.
    list_display = [
        "__str__", "customer_username", "customer_city", "status", "total",
        "created_at",
    ]  # fmt: skip
    list_filter = ["status"]
    date_hierarchy = "created_at"
    raw_id_fields = ["customer"]
    inlines = [OrderItemInline]

    @admin.display(description="customer", ordering="customer__user__username")
    def customer_username(self, order: Order) -> str:
        return order.customer.user.username

    @admin.display(description="city", ordering="customer__city")
    def customer_city(self, order: Order) -> str:
        return order.customer.city
