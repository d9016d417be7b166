"""Build the shop rows the trusted lesson tests measure, fast and deterministic."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection

from catalog.models import Brand, Category, Product, Review, Tag
from customers.models import Customer
from orders.models import Order, OrderItem

__all__ = [
    "DESCRIPTION",
    "bulk_order_items",
    "catalog_make",
    "category_make",
    "category_rename",
    "celery_settings",
    "customers_make",
    "order_status_set",
    "orders_make",
    "product_price_raise",
    "product_restock",
    "review_approve",
    "staff_make",
    "task_send",
]

# Long enough that loading it for every row of a list costs something.
DESCRIPTION = " ".join(["A sturdy, well made product for every day."] * 50)
EPOCH = datetime(2025, 6, 1, tzinfo=UTC)
STATUSES = [status.value for status in Order.Status]
CITIES = ["Lisbon", "Oslo", "Porto", "Turin"]

_serial = itertools.count(1)


def _names(kind: str, count: int) -> list[tuple[str, str]]:
    numbers = [next(_serial) for _ in range(count)]
    return [(f"{kind.title()} {n}", f"{kind}-{n}") for n in numbers]


def staff_make() -> Any:
    """Create a superuser for the admin and the staff pages."""
    number = next(_serial)
    return get_user_model().objects.create_superuser(
        f"staff-{number}", f"staff-{number}@example.com", "staff-password"
    )


def customers_make(count: int) -> list[Customer]:
    """Create `count` customers, each with its own user."""
    users = get_user_model().objects.bulk_create(
        get_user_model()(username=slug, email=f"{slug}@example.com")
        for _, slug in _names("shopper", count)
    )
    return Customer.objects.bulk_create(
        Customer(user=user, city=CITIES[index % len(CITIES)], phone=f"555-{index}")
        for index, user in enumerate(users)
    )


def _spread_review_dates(reviews: list[Review]) -> None:
    # created_at is auto_now_add, which bulk_create overwrites with "now";
    # distinct dates keep "newest first" a single, well-defined order.
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE catalog_review SET created_at = %s - id * interval '1 minute'"
            " WHERE id = ANY(%s)",
            [EPOCH, [review.pk for review in reviews]],
        )


def catalog_make(
    *,
    products: int,
    tags_per_product: int = 2,
    reviews_per_product: int = 3,
    reviewers: int = 4,
    category: Category | None = None,
    inactive: int = 0,
) -> list[Product]:
    """Create active products with categories, brands, tags and reviews.

    Every other review is approved. `inactive` more products are created
    inactive, which no page may show or count.
    """
    categories = (
        [category]
        if category
        else Category.objects.bulk_create(
            Category(name=name, slug=slug) for name, slug in _names("category", 3)
        )
    )
    brands = Brand.objects.bulk_create(
        Brand(name=name, slug=slug) for name, slug in _names("brand", 3)
    )
    tags = Tag.objects.bulk_create(
        Tag(name=name, slug=slug) for name, slug in _names("tag", 4)
    )
    made = Product.objects.bulk_create(
        Product(
            name=name,
            slug=slug,
            sku=slug.upper(),
            category=categories[index % len(categories)],
            brand=brands[index % len(brands)],
            price=Decimal(10 + (index * 37) % 90) + Decimal("0.99"),
            stock=index % 4,
            is_active=index < products,
            description=DESCRIPTION,
        )
        for index, (name, slug) in enumerate(_names("product", products + inactive))
    )
    Product.tags.through.objects.bulk_create(
        Product.tags.through(product=product, tag=tags[(index + shift) % len(tags)])
        for index, product in enumerate(made)
        for shift in range(min(tags_per_product, len(tags)))
    )
    if reviews_per_product:
        people = customers_make(reviewers)
        reviews = Review.objects.bulk_create(
            Review(
                product=product,
                customer=people[(index + number) % len(people)],
                rating=1 + (index + number * 2) % 5,
                title=f"Review {index}-{number}",
                body="Does what it says.",
                is_approved=number % 2 == 0,
            )
            for index, product in enumerate(made)
            for number in range(reviews_per_product)
        )
        _spread_review_dates(reviews)
    return made[:products]


def category_make(*, products: int, inactive: int = 1) -> Category:
    """Create a category of `products` active products and `inactive` more.

    The first product has no review; the others have reviews, every other one
    approved, so the category page shows both an empty and a filled row.
    """
    [first] = catalog_make(products=1, reviews_per_product=0)
    catalog_make(products=products - 1, category=first.category, inactive=inactive)
    return first.category


def orders_make(
    *,
    orders: int,
    items_per_order: int = 3,
    customers: list[Customer] | None = None,
    products: list[Product] | None = None,
) -> list[Order]:
    """Create orders, newest first by id, each with `items_per_order` items."""
    customers = customers or customers_make(2)
    products = products or catalog_make(products=4, reviews_per_product=0)
    lines = [
        [
            (products[(number + line) % len(products)], 1 + (number + line) % 3)
            for line in range(items_per_order)
        ]
        for number in range(orders)
    ]
    made = Order.objects.bulk_create(
        Order(
            customer=customers[number % len(customers)],
            status=STATUSES[number % len(STATUSES)],
            created_at=EPOCH - timedelta(hours=number),
            total=sum((product.price * quantity for product, quantity in items), 0),
        )
        for number, items in enumerate(lines)
    )
    OrderItem.objects.bulk_create(
        OrderItem(
            order=order, product=product, quantity=quantity, unit_price=product.price
        )
        for order, items in zip(made, lines, strict=True)
        for product, quantity in items
    )
    return made


def bulk_order_items(*, orders: int, items: int, products: int) -> None:
    """Create `orders` orders holding `items` items in a few statements.

    Used where a test needs a full-size export: inserting through
    generate_series takes well under a second for tens of thousands of rows.
    """
    made = catalog_make(products=products, reviews_per_product=0, tags_per_product=0)
    people = customers_make(50)
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO orders_order (customer_id, status, created_at, total)"
            " SELECT (%s::bigint[])[1 + g %% %s], (%s::text[])[1 + g %% 4],"
            " %s - g * interval '1 minute', 0 FROM generate_series(0, %s - 1) g",
            [[c.pk for c in people], len(people), STATUSES, EPOCH, orders],
        )
        cursor.execute(
            "INSERT INTO orders_orderitem (order_id, product_id, quantity, unit_price)"
            " SELECT o.ids[1 + g %% o.n], (%s::bigint[])[1 + g %% %s], 1 + g %% 4,"
            " 9.99 + g %% 50 FROM generate_series(0, %s - 1) g,"
            " (SELECT array_agg(id ORDER BY id) AS ids, count(*) AS n"
            "  FROM orders_order) o",
            [[p.pk for p in made], len(made), items],
        )


# Writes a trusted test makes between two reads: each runs inside the shop, with
# an ordinary save(), so that its signals and on_commit callbacks fire there.


def product_price_raise(*, product: Product, by: int = 5) -> Product:
    """Raise a product's price and save the whole product."""
    product.price += by
    product.save()
    return product


def product_restock(*, product: Product, by: int = 7) -> Product:
    """Add to a product's stock, saving that field alone."""
    product.stock += by
    product.save(update_fields=["stock"])
    return product


def review_approve(*, product: Product) -> Review:
    """Approve the oldest review of `product` that is not approved yet."""
    review = product.reviews.filter(is_approved=False).order_by("id")[0]
    review.is_approved = True
    review.save()
    return review


def order_status_set(*, order: Order, status: str) -> Order:
    """Give an order another status and save it."""
    order.status = status
    order.save()
    return order


def category_rename(*, category: Category, to: str) -> Category:
    """Rename a category and save it."""
    category.name = to
    category.save()
    return category


def task_send(name: str, *args: Any) -> str:
    """Publish the task `name` with `args` through the shop's Celery; return its id.

    The trusted side publishes a task the way any client of the broker does,
    without the page that would publish it.
    """
    from celery import current_app

    return str(current_app.send_task(name, args=list(args)).id)


def celery_settings(*, names: list[str]) -> dict[str, Any]:
    """Return settings of the shop's Celery app by name (`worker_max_tasks_per_child`).

    For the settings a worker reads as it starts, which no request shows.
    """
    from celery import current_app

    return {name: current_app.conf.get(name) for name in names}
