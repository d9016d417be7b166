"""Tests of seed_shop: counts, determinism, idempotence and consistency."""

from dataclasses import replace

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connection
from PIL import Image

from catalog.models import Category, Product, ProductImage, Review
from orders.models import Order
from seeding import vocabulary
from seeding.images import PLACEHOLDERS
from seeding.scales import SCALES, scale_get
from seeding.seed import SEED_PASSWORD, seed_shop

TINY_COUNTS = {
    "auth_user": 21,
    "customers_customer": 20,
    "catalog_category": 5,
    "catalog_brand": 6,
    "catalog_tag": 12,
    "catalog_product": 30,
    "catalog_product_tags": 90,
    "catalog_productimage": 60,
    "catalog_review": 300,
    "orders_orderitem": 200,
    "orders_order": 60,
}


def _table_counts() -> dict[str, int]:
    counts = {}
    with connection.cursor() as cursor:
        for table in TINY_COUNTS:
            cursor.execute(f"SELECT count(*) FROM {table}")
            counts[table] = cursor.fetchone()[0]
    return counts


def _digest() -> str:
    """Return an md5 of every row of every seeded table, in id order."""
    parts = []
    with connection.cursor() as cursor:
        for table in TINY_COUNTS:
            cursor.execute(
                f"SELECT md5(string_agg(t::text, '|' ORDER BY t.id)) FROM {table} t"
            )
            parts.append(cursor.fetchone()[0])
    return ":".join(parts)


@pytest.mark.django_db
def test_tiny_scale_loads_the_declared_row_counts():
    report = seed_shop(scale="tiny", progress=False)

    assert report.counts() == TINY_COUNTS
    assert _table_counts() == TINY_COUNTS


@pytest.mark.django_db
def test_the_same_seed_gives_identical_rows_and_ids():
    seed_shop(scale="tiny", seed=7, progress=False)
    first = _digest()
    seed_shop(scale="tiny", seed=3, progress=False)
    seed_shop(scale="tiny", seed=7, progress=False)

    assert _digest() == first


@pytest.mark.django_db
def test_different_seeds_give_different_rows():
    seed_shop(scale="tiny", seed=1, progress=False)
    first = _digest()
    seed_shop(scale="tiny", seed=2, progress=False)

    assert _digest() != first


@pytest.mark.django_db
def test_seeding_twice_replaces_the_rows_instead_of_adding_to_them():
    seed_shop(scale="tiny", progress=False)
    seed_shop(scale="tiny", progress=False)

    assert _table_counts() == TINY_COUNTS
    assert min(Product.objects.values_list("id", flat=True)) == 1


def _schema() -> list[tuple[str, str]]:
    """Return the definition of every index and constraint of the seeded tables."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid)"
            " FROM pg_index WHERE indrelid = ANY(%s::text[]::regclass[])"
            " UNION ALL SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint"
            " WHERE conrelid = ANY(%s::text[]::regclass[]) ORDER BY 1, 2",
            [list(TINY_COUNTS), list(TINY_COUNTS)],
        )
        return cursor.fetchall()


@pytest.mark.django_db
def test_seeding_leaves_every_index_and_foreign_key_as_it_found_them():
    before = _schema()

    seed_shop(scale="tiny", progress=False)

    assert any("FOREIGN KEY (order_id)" in definition for _, definition in before)
    assert _schema() == before


@pytest.mark.django_db
def test_new_rows_get_ids_after_the_seeded_ones():
    seed_shop(scale="tiny", progress=False)

    category = Category.objects.create(name="New", slug="new")

    assert category.pk == TINY_COUNTS["catalog_category"] + 1


@pytest.mark.django_db
def test_every_order_total_is_the_sum_of_its_items():
    seed_shop(scale="tiny", progress=False)

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM orders_order o WHERE o.total <> ("
            " SELECT sum(i.quantity * i.unit_price) FROM orders_orderitem i"
            " WHERE i.order_id = o.id)"
        )
        mismatches = cursor.fetchone()[0]
    assert mismatches == 0
    assert Order.objects.filter(items__isnull=True).count() == 0


@pytest.mark.django_db
def test_seeded_users_log_in_with_the_seed_password_and_admin_is_staff():
    seed_shop(scale="tiny", progress=False)
    users = get_user_model().objects

    admin = users.get(username="admin")
    customer_user = users.get(customer__id=1)

    assert admin.is_staff and admin.is_superuser
    assert admin.check_password(SEED_PASSWORD)
    assert customer_user.check_password(SEED_PASSWORD)
    assert not customer_user.is_staff


@pytest.mark.django_db
def test_product_descriptions_hold_several_kilobytes():
    seed_shop(scale="tiny", progress=False)

    descriptions = Product.objects.values_list("description", flat=True)

    lengths = [len(text) for text in descriptions]
    assert min(lengths) > 3_000


@pytest.mark.django_db
def test_products_fit_their_category_in_name_brand_and_price():
    seed_shop(scale="small", progress=False)
    catalog = {
        name: (things, low, high) for name, things, low, high in vocabulary.CATALOG
    }
    categories_of_brand: dict[int, set[str]] = {}

    for product in Product.objects.select_related("category"):
        things, low, high = catalog[product.category.name]
        assert any(f" {thing} " in product.name for thing in things), product.name
        assert low <= product.price < high, (product.name, product.price)
        categories_of_brand.setdefault(product.brand_id, set()).add(
            product.category.name
        )

    # small has twice as many brands as categories: each brand makes one kind.
    assert {len(names) for names in categories_of_brand.values()} == {1}
    assert len(categories_of_brand) == SCALES["small"].brands


def _sentences(text: str) -> set[str]:
    return {part if part.endswith(".") else f"{part}." for part in text.split(". ")}


@pytest.mark.django_db
def test_descriptions_and_reviews_read_as_sentences():
    seed_shop(scale="tiny", progress=False)
    described = set(vocabulary.DESCRIPTION_SENTENCES)
    feelings = vocabulary.REVIEW_SENTENCES

    for product in Product.objects.select_related("brand"):
        opening, *paragraphs = product.description.split("\n\n")
        assert opening.startswith(f"{product.name}, by {product.brand.name},")
        for paragraph in paragraphs:
            assert _sentences(paragraph) <= described, paragraph
    for review in Review.objects.all():
        feeling = (
            "bad" if review.rating <= 2 else "fair" if review.rating == 3 else "good"
        )
        assert _sentences(review.body) <= set(feelings[feeling]), review.body


@pytest.mark.django_db
def test_a_custom_scale_loads_its_own_counts():
    doubled = replace(SCALES["tiny"], name="tiny-x2", products=60, order_items=400)

    report = seed_shop(scale=doubled, progress=False)

    assert report.scale == "tiny-x2"
    assert report.counts()["catalog_product"] == Product.objects.count() == 60
    assert report.counts()["orders_orderitem"] == 400


def test_an_unknown_scale_is_refused_with_the_choices():
    with pytest.raises(ValueError) as error:
        scale_get(name="huge")

    assert str(error.value) == "unknown scale 'huge'; choose one of tiny, small, large"


def test_the_large_scale_holds_at_least_a_million_order_items():
    assert SCALES["large"].order_items >= 1_000_000


@pytest.mark.django_db
def test_the_command_prints_the_rate_per_table_and_the_total(capsys):
    call_command("seed_shop", "--scale", "tiny", "--no-progress")

    output = capsys.readouterr().out
    assert "seed_shop --scale tiny --seed 0" in output
    assert "orders_orderitem" in output
    assert "rows/s" in output
    assert "total" in output
    assert _table_counts() == TINY_COUNTS


@pytest.mark.django_db
def test_every_seeded_image_is_a_picture_among_a_few_shared_ones(media_root):
    seed_shop(scale="tiny", progress=False)

    paths = set(ProductImage.objects.values_list("image", flat=True))
    files = sorted(p.name for p in (media_root / "products").iterdir())
    assert files == sorted(f"placeholder-{n}.jpg" for n in range(PLACEHOLDERS))
    assert {f"products/{name}" for name in files} == paths
    with Image.open(media_root / "products" / files[0]) as picture:
        assert (picture.format, picture.size) == ("JPEG", (400, 300))
