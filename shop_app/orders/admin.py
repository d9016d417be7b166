"""Admin of orders."""

from django.contrib import admin

from orders.models import Order, OrderItem


class OrderItemInline(admin.TabularInline):
    model = OrderItem
    extra = 0
    raw_id_fields = ["product"]


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    # TODO(lesson 1): each row's customer and its user are fetched on their own;
    # list_select_related fetches them with the orders.
    list_display = ["__str__", "customer", "status", "total", "created_at"]
    list_filter = ["status"]
    date_hierarchy = "created_at"
    raw_id_fields = ["customer"]
    inlines = [OrderItemInline]
