"""Tests of the catalog pages: list, detail, category, shipping, reviews, images."""

import io
import re

import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db.models import Avg, Count, Q
from django.template.defaultfilters import floatformat
from django.utils.html import escape
from PIL import Image

from catalog.models import Category, Product, ProductImage, Review
from catalog.shipping import CARRIERS

pytestmark = pytest.mark.usefixtures("tiny_shop")


def _row(html: str, name: str) -> str:
    """Return the table row of the product called `name`."""
    match = re.search(
        rf'<tr class="product">\s*<td><a [^>]*>{re.escape(escape(name))}</a>.*?</tr>',
        html,
        re.S,
    )
    assert match, f"no row for {name!r}"
    return match.group(0)


@pytest.mark.django_db
def test_product_list_shows_every_active_product_cheapest_first(client):
    response = client.get("/products/")

    expected = list(Product.objects.filter(is_active=True).order_by("price", "id"))
    assert response.status_code == 200
    assert list(response.context["page"]) == expected
    assert response.content.decode().count('<tr class="product">') == len(expected)


@pytest.mark.django_db
def test_product_search_shows_the_active_products_whose_name_holds_the_term(client):
    product = Product.objects.filter(is_active=True).order_by("id").first()
    term = product.name[1:4].lower()

    response = client.get("/products/", {"q": f"  {term} "})

    expected = Product.objects.filter(is_active=True, name__icontains=term)
    assert response.status_code == 200
    assert list(response.context["page"]) == list(expected.order_by("price", "id"))
    assert product in response.context["page"]
    assert f'value="{escape(term)}"' in response.content.decode()


@pytest.mark.django_db
def test_product_search_keeps_its_term_in_the_page_links(client, monkeypatch):
    monkeypatch.setattr("catalog.views.PRODUCTS_PER_PAGE", 1)
    term = Product.objects.filter(is_active=True).order_by("id").first().name[:2]
    assert term.isalnum()
    assert Product.objects.filter(is_active=True, name__icontains=term).count() > 1

    page = client.get("/products/", {"q": term}).content.decode()

    assert f'href="?q={term}&amp;page=2"' in page


@pytest.mark.django_db
def test_product_list_rows_show_category_brand_tags_price_and_reviews(client):
    product = (
        Product.objects.filter(is_active=True)
        .annotate(approved=Count("reviews", filter=Q(reviews__is_approved=True)))
        .order_by("-approved", "id")
        .first()
    )
    average = product.reviews.filter(is_approved=True).aggregate(Avg("rating"))

    row = _row(client.get("/products/").content.decode(), product.name)

    assert f"<td>{escape(product.category.name)}</td>" in row
    assert f"<td>{escape(product.brand.name)}</td>" in row
    for tag in product.tags.all():
        assert f'<span class="tag">{escape(tag.name)}</span>' in row
    assert f"<td>{product.price}</td>" in row
    assert f"<td>{product.approved}</td>" in row
    assert f"<td>{floatformat(average['rating__avg'], 1)}</td>" in row


@pytest.mark.django_db
def test_product_detail_shows_only_approved_reviews_with_their_authors(client):
    product = Product.objects.filter(is_active=True).order_by("id").first()
    approved = list(product.reviews.filter(is_approved=True).order_by("-created_at"))

    response = client.get(f"/products/{product.slug}/")

    html = response.content.decode()
    assert response.status_code == 200
    assert list(response.context["reviews"]) == approved
    assert f"<h2>Reviews ({len(approved)})</h2>" in html
    assert html.count('<article class="review">') == len(approved)
    assert f"by {approved[0].customer.user.username} on" in html
    assert f'<p class="price">{product.price}</p>' in html


@pytest.mark.django_db
def test_product_detail_is_not_found_for_inactive_or_unknown_products(client):
    product = Product.objects.order_by("id").first()
    product.is_active = False
    product.save()

    assert client.get(f"/products/{product.slug}/").status_code == 404
    assert client.get("/products/no-such-product/").status_code == 404


@pytest.mark.django_db
def test_categories_page_links_every_category_by_name(client):
    response = client.get("/categories/")

    html = response.content.decode()
    links = [
        f'<a href="/categories/{c.slug}/">{c.name}</a>'
        for c in Category.objects.order_by("name")
    ]
    assert links and all(link in html for link in links)
    assert [html.index(link) for link in links] == sorted(
        html.index(link) for link in links
    )


@pytest.mark.django_db
def test_category_page_lists_its_products_with_approved_review_counts(client):
    category = Category.objects.order_by("id").first()
    products = list(
        category.products.filter(is_active=True)
        .annotate(approved=Count("reviews", filter=Q(reviews__is_approved=True)))
        .order_by("name", "id")
    )

    response = client.get(f"/categories/{category.slug}/")

    html = response.content.decode()
    assert [p.pk for p in response.context["products"]] == [p.pk for p in products]
    assert f"<p>{len(products)} products</p>" in html
    for product in products:
        assert f"<td>{product.approved}</td>" in _row(html, product.name)


@pytest.mark.django_db
def test_shipping_page_lists_one_quote_per_carrier_cheapest_first(client, carriers):
    product = Product.objects.filter(is_active=True).order_by("id").first()

    response = client.get(f"/products/{product.slug}/shipping/", {"city": "Oslo"})

    quotes = response.context["quotes"]
    assert sorted(quote.carrier for quote in quotes) == sorted(CARRIERS)
    assert [quote.price for quote in quotes] == sorted(quote.price for quote in quotes)
    assert response.content.decode().count('<tr class="quote">') == len(CARRIERS)


@pytest.mark.django_db
def test_a_customer_review_is_saved_unapproved_and_hidden(client):
    product = Product.objects.filter(is_active=True).order_by("id").first()
    user = get_user_model().objects.get(customer__id=1)
    client.force_login(user)

    response = client.post(
        f"/products/{product.slug}/",
        {"rating": 5, "title": "Superb kettle", "body": "Boils fast."},
    )

    review = Review.objects.get(title="Superb kettle")
    assert response.status_code == 302
    assert (review.product, review.customer, review.is_approved) == (
        product,
        user.customer,
        False,
    )
    assert "Superb kettle" not in client.get(response.url).content.decode()


@pytest.mark.django_db
def test_anonymous_visitors_get_no_review_form(client):
    product = Product.objects.filter(is_active=True).order_by("id").first()

    response = client.get(f"/products/{product.slug}/")

    assert response.context["form"] is None
    assert "Write a review" not in response.content.decode()


@pytest.mark.django_db
def test_staff_upload_stores_the_image_and_a_thumbnail_within_200px(client, media_root):
    product = Product.objects.filter(is_active=True).order_by("id").first()
    client.force_login(get_user_model().objects.get(username="admin"))
    picture = io.BytesIO()
    Image.new("RGB", (800, 400), "orange").save(picture, format="PNG")
    upload = SimpleUploadedFile("kettle.png", picture.getvalue(), "image/png")

    response = client.post(
        f"/products/{product.slug}/images/upload/", {"image": upload}
    )

    image = ProductImage.objects.get(product=product, position=2)
    assert response.status_code == 302
    assert image.image.name.startswith("products/kettle")
    assert (media_root / image.image.name).exists()
    with Image.open(media_root / image.thumbnail.name) as thumbnail:
        assert (thumbnail.format, thumbnail.size) == ("JPEG", (200, 100))


@pytest.mark.django_db
def test_non_staff_cannot_upload_images(client):
    product = Product.objects.filter(is_active=True).order_by("id").first()
    client.force_login(get_user_model().objects.get(customer__id=1))

    response = client.get(f"/products/{product.slug}/images/upload/")

    assert response.status_code == 302
    assert response.url.startswith("/admin/login/")


@pytest.mark.django_db
def test_the_home_page_redirects_to_the_product_list(client):
    response = client.get("/")

    assert response.status_code == 302
    assert response.url == "/products/"
