"""URLs of the order pages and exports."""

from django.urls import path

from orders import views

app_name = "orders"

urlpatterns = [
    path("account/orders/", views.order_history, name="order_history"),
    path(
        "customers/<int:customer_id>/orders/",
        views.customer_orders,
        name="customer_orders",
    ),
    path("dashboard/sales/", views.sales_dashboard, name="sales_dashboard"),
    path("dashboard/sales/report/", views.sales_report, name="sales_report"),
    path("exports/order-items.csv", views.order_items_csv, name="order_items_csv"),
]
