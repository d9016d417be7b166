"""Print the query count of every shop page and endpoint on the seeded data.

Run it after `python shop_app/manage.py seed_shop --scale tiny` (or small):

    .venv/bin/python benchmarks/naive_queries.py

Every request runs inside one transaction that is rolled back at the end, and
uploads and reports go to a temporary MEDIA_ROOT, so the seeded data is left
as it was.
"""

from __future__ import annotations

import io
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "shop_app"), str(ROOT)]
# Base settings: the debug toolbar of the dev settings would add its own work.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
QUERIES_LIMIT = 10_000_000


@dataclass(frozen=True)
class Scenario:
    """One request to measure: who sends it, and how."""

    label: str
    path: str
    as_user: str = "anonymous"
    method: str = "get"
    data: dict[str, Any] = field(default_factory=dict)


def _png() -> Any:
    from django.core.files.uploadedfile import SimpleUploadedFile
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (800, 600), "teal").save(buffer, format="PNG")
    return SimpleUploadedFile("photo.png", buffer.getvalue(), "image/png")


def _scenarios() -> list[Scenario]:
    from catalog.models import Category, Product
    from customers.models import Customer
    from orders.models import Order

    product = Product.objects.filter(is_active=True).order_by("id").first()
    category = Category.objects.order_by("id").first()
    order = Order.objects.order_by("id").first()
    customer = Customer.objects.order_by("id").first()
    if not (product and category and order and customer):
        raise SystemExit("No shop data: run `manage.py seed_shop` first.")
    slug = product.slug
    signup = {
        "username": "benchmark-signup",
        "email": "benchmark@example.com",
        "password": "a-long-enough-password",
        "city": "Lisbon",
    }
    review = {"rating": 4, "title": "Nice", "body": "Does what it says."}
    return [
        Scenario("product list", "/products/"),
        Scenario("product detail", f"/products/{slug}/"),
        Scenario("category page", f"/categories/{category.slug}/"),
        Scenario("shipping quotes", f"/products/{slug}/shipping/"),
        Scenario("order history (own)", "/account/orders/", "customer"),
        Scenario("order history (staff)", f"/customers/{customer.pk}/orders/", "staff"),
        Scenario("sales dashboard", "/dashboard/sales/", "staff"),
        Scenario("sales report", "/dashboard/sales/report/", "staff", "post"),
        Scenario("order items CSV", "/exports/order-items.csv", "staff"),
        Scenario("signup form", "/signup/"),
        Scenario("signup", "/signup/", method="post", data=signup),
        Scenario("review post", f"/products/{slug}/", "customer", "post", review),
        Scenario(
            "image upload",
            f"/products/{slug}/images/upload/",
            "staff",
            "post",
            {"image": _png()},
        ),
        Scenario("API product list", "/api/products/"),
        Scenario("API product detail", f"/api/products/{slug}/"),
        Scenario("API order list", "/api/orders/", "staff"),
        Scenario("API order detail", f"/api/orders/{order.pk}/", "staff"),
        Scenario("admin products", "/admin/catalog/product/", "staff"),
        Scenario("admin reviews", "/admin/catalog/review/", "staff"),
        Scenario("admin orders", "/admin/orders/order/", "staff"),
        Scenario("admin customers", "/admin/customers/customer/", "staff"),
    ]


def _users() -> dict[str, Any]:
    from django.contrib.auth import get_user_model

    from customers.models import Customer

    staff, _ = get_user_model().objects.get_or_create(
        username="benchmark-staff", defaults={"is_staff": True, "is_superuser": True}
    )
    customer = Customer.objects.select_related("user").order_by("id").first()
    if customer is None:
        raise SystemExit("No customers: run `manage.py seed_shop` first.")
    return {"anonymous": None, "staff": staff, "customer": customer.user}


def _measure(scenario: Scenario, user: Any) -> tuple[int, int, float]:
    from collections import deque

    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client()
    if user is not None:
        client.force_login(user)
    send = getattr(client, scenario.method)
    # Django keeps only the last 9,000 queries, and the naive API lists make
    # far more; a count past the limit would be wrong.
    connection.queries_limit = QUERIES_LIMIT
    connection.queries_log = deque(maxlen=QUERIES_LIMIT)
    with CaptureQueriesContext(connection) as queries:
        started = time.perf_counter()
        response = send(scenario.path, scenario.data)
        if getattr(response, "streaming", False):
            b"".join(response.streaming_content)
        elapsed = time.perf_counter() - started
    return response.status_code, len(queries), elapsed


def _counts() -> str:
    from catalog.models import Product, Review
    from customers.models import Customer
    from orders.models import Order, OrderItem

    models = (Product, Review, Customer, Order, OrderItem)
    return ", ".join(
        f"{model._meta.verbose_name_plural}: {model.objects.count():,}"
        for model in models
    )


def main() -> None:
    """Measure every scenario and print a table of query counts."""
    from checker.services import ensure_up_or_exit
    from checker.services.carriers import CarrierService

    ensure_up_or_exit()

    import django

    django.setup()
    from django.db import transaction
    from django.test.utils import override_settings, setup_test_environment
    from rich.console import Console
    from rich.table import Table

    setup_test_environment()
    console = Console()
    table = Table(title=f"Queries per request ({_counts()})")
    for column in ("request", "method", "path", "as"):
        table.add_column(column)
    for column in ("status", "queries", "ms"):
        table.add_column(column, justify="right")
    with (
        tempfile.TemporaryDirectory() as media,
        # The shipping page asks the carriers' service for its quotes.
        CarrierService(socket=Path(media) / "carriers.sock") as carriers,
        override_settings(MEDIA_ROOT=media, CARRIERS_SOCKET=str(carriers.socket)),
        transaction.atomic(),
    ):
        users = _users()
        for scenario in _scenarios():
            status, queries, elapsed = _measure(scenario, users[scenario.as_user])
            table.add_row(
                scenario.label,
                scenario.method.upper(),
                scenario.path,
                scenario.as_user,
                str(status),
                f"{queries:,}",
                f"{elapsed * 1000:,.0f}",
            )
        transaction.set_rollback(True)
    console.print(table)


if __name__ == "__main__":
    main()
