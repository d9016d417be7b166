"""Tests of the order pages: history, sales dashboard, report and CSV export."""

import csv
import io
from collections import Counter
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.db.models import Count

from customers.models import Customer
from orders.exports import EXPORT_HEADER
from orders.models import Order, OrderItem
from orders.services import REPORT_HEADER

pytestmark = pytest.mark.usefixtures("tiny_shop")

PAID = ("paid", "shipped")


@pytest.fixture
def staff_client(client):
    client.force_login(get_user_model().objects.get(username="admin"))
    return client


def _busiest_customer() -> Customer:
    return (
        Customer.objects.annotate(order_count=Count("orders"))
        .order_by("-order_count", "id")
        .first()
    )


@pytest.mark.django_db
def test_order_history_lists_the_customers_orders_newest_first_with_items(client):
    customer = _busiest_customer()
    orders = list(customer.orders.order_by("-created_at", "-id"))
    items = OrderItem.objects.filter(order__customer=customer)
    client.force_login(customer.user)

    response = client.get("/account/orders/")

    html = response.content.decode()
    assert list(response.context["orders"]) == orders
    assert html.count('<section class="order">') == len(orders)
    assert html.count('<tr class="item">') == items.count()
    for order in orders:
        assert f"Order #{order.pk} ·" in html
        assert f"· {order.total}</h2>" in html
    item = items.first()
    assert (
        f'<tr class="item"><td>{item.product.name}</td><td>{item.quantity}</td>'
        f"<td>{item.unit_price}</td><td>{item.line_total}</td></tr>"
    ) in html


@pytest.mark.django_db
def test_order_history_of_a_customer_without_orders_says_so(client):
    customer = Customer.objects.filter(orders__isnull=True).first()
    client.force_login(customer.user)

    response = client.get("/account/orders/")

    assert "<p>No orders yet.</p>" in response.content.decode()


@pytest.mark.django_db
def test_order_history_asks_anonymous_visitors_to_log_in(client):
    response = client.get("/account/orders/")

    assert response.status_code == 302
    assert response.url == "/admin/login/?next=/account/orders/"


@pytest.mark.django_db
def test_a_staff_account_without_orders_is_sent_to_the_dashboard(staff_client):
    response = staff_client.get("/account/orders/", follow=True)

    assert response.redirect_chain == [("/dashboard/sales/", 302)]
    assert "the sales dashboard lists every customer&#x27;s" in (
        response.content.decode()
    )


@pytest.mark.django_db
def test_staff_see_any_customers_orders_by_id(staff_client):
    customer = _busiest_customer()

    response = staff_client.get(f"/customers/{customer.pk}/orders/")

    assert list(response.context["orders"]) == list(
        customer.orders.order_by("-created_at", "-id")
    )
    assert staff_client.get("/customers/999999/orders/").status_code == 404


@pytest.mark.django_db
def test_customers_cannot_see_other_customers_orders(client):
    client.force_login(Customer.objects.get(pk=1).user)

    response = client.get("/customers/2/orders/")

    assert response.status_code == 302
    assert response.url.startswith("/admin/login/")


@pytest.mark.django_db
def test_dashboard_shows_revenue_and_orders_per_status(staff_client):
    orders = Order.objects.all()
    revenue = sum(order.total for order in orders if order.status in PAID)
    statuses = Counter(order.get_status_display() for order in orders)

    response = staff_client.get("/dashboard/sales/")

    assert response.context["revenue"] == revenue
    assert response.context["status_counts"] == {
        label: statuses[label] for label in ("Pending", "Paid", "Shipped", "Cancelled")
    }
    assert f'<strong class="revenue">{revenue}</strong>' in response.content.decode()


@pytest.mark.django_db
def test_dashboard_ranks_bestsellers_by_units_sold_in_paid_orders(staff_client):
    units: Counter[int] = Counter()
    revenue: Counter[int] = Counter()
    for item in OrderItem.objects.filter(order__status__in=PAID):
        units[item.product_id] += item.quantity
        revenue[item.product_id] += item.line_total
    expected = sorted(units, key=lambda product_id: (-units[product_id], product_id))

    bestsellers = staff_client.get("/dashboard/sales/").context["bestsellers"]

    assert [sale["product_id"] for sale in bestsellers] == expected[:10]
    assert [sale["units"] for sale in bestsellers] == [units[p] for p in expected[:10]]
    assert [sale["revenue"] for sale in bestsellers] == [
        revenue[p] for p in expected[:10]
    ]


@pytest.mark.django_db
def test_dashboard_sums_revenue_per_category(staff_client):
    revenue: Counter[str] = Counter()
    for item in OrderItem.objects.filter(order__status__in=PAID):
        revenue[item.product.category.name] += item.line_total

    categories = staff_client.get("/dashboard/sales/").context["categories"]

    by_name = {sale["product__category__name"]: sale["revenue"] for sale in categories}
    assert by_name == dict(revenue)
    assert sum(sale["revenue"] for sale in categories) == sum(revenue.values())


@pytest.mark.django_db
def test_dashboard_shows_the_20_latest_orders_with_customer_and_item_count(
    staff_client,
):
    latest = Order.objects.order_by("-created_at", "-id").first()

    response = staff_client.get("/dashboard/sales/")

    html = response.content.decode()
    assert len(response.context["recent_orders"]) == 20
    assert (
        f'<tr class="order"><td>#{latest.pk}</td>'
        f"<td>{latest.customer.user.username}</td>"
        f"<td>{latest.get_status_display()}</td><td>{latest.items.count()}</td>"
    ) in html


@pytest.mark.django_db
def test_dashboard_is_for_staff_only(client):
    client.force_login(Customer.objects.get(pk=1).user)

    assert client.get("/dashboard/sales/").status_code == 302


@pytest.mark.django_db
def test_sales_report_writes_every_sold_product_to_a_csv_file(staff_client, media_root):
    sold = OrderItem.objects.filter(order__status__in=PAID)

    response = staff_client.post("/dashboard/sales/report/")

    (report,) = (media_root / "reports").iterdir()
    rows = list(csv.reader(report.open()))
    assert response.status_code == 302
    assert rows[0] == REPORT_HEADER
    assert len(rows) - 1 == sold.values("product_id").distinct().count()
    assert sum(Decimal(row[3]) for row in rows[1:]) == sum(i.line_total for i in sold)


@pytest.mark.django_db
def test_csv_export_has_one_line_per_order_item(staff_client):
    items = list(OrderItem.objects.select_related("order", "product").order_by("id"))

    response = staff_client.get("/exports/order-items.csv")

    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert response["Content-Type"] == "text/csv"
    assert rows[0] == EXPORT_HEADER
    assert len(rows) == len(items) + 1
    first = items[0]
    assert rows[1] == [
        str(first.order_id),
        first.order.created_at.isoformat(),
        first.order.status,
        str(first.order.customer_id),
        first.product.sku,
        first.product.name,
        str(first.quantity),
        str(first.unit_price),
        str(first.line_total),
    ]
    assert sum(Decimal(row[8]) for row in rows[1:]) == sum(i.line_total for i in items)
