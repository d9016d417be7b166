"""HTML pages of the catalog."""

from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render

from catalog import selectors, services
from catalog.forms import ProductImageForm, ReviewForm
from catalog.models import Category, Product
from catalog.shipping import shipping_quotes

PRODUCTS_PER_PAGE = 100


def _product_or_404(slug: str) -> Product:
    try:
        return selectors.product_get(slug=slug)
    except Product.DoesNotExist:
        raise Http404(f"No active product with slug {slug!r}.") from None


def product_list(request: HttpRequest) -> HttpResponse:
    """Show the active products, a page at a time, with the categories."""
    paginator = Paginator(selectors.product_list(), PRODUCTS_PER_PAGE)
    page = paginator.get_page(request.GET.get("page"))
    context = {"page": page, "categories": selectors.category_list()}
    return render(request, "catalog/product_list.html", context)


def product_detail(request: HttpRequest, slug: str) -> HttpResponse:
    """Show a product with its approved reviews, and take a new review."""
    # TODO(lesson 4): the page is rebuilt from the database on every request;
    # cache it and invalidate it when the product or its reviews change.
    product = _product_or_404(slug)
    customer = getattr(request.user, "customer", None)
    form = ReviewForm(request.POST or None)
    if request.method == "POST" and customer is not None and form.is_valid():
        services.review_create(product=product, customer=customer, **form.cleaned_data)
        messages.success(request, "Thank you! Your review will appear once approved.")
        return redirect(product)
    context = {
        "product": product,
        "reviews": selectors.product_reviews(product=product),
        "form": form if customer is not None else None,
    }
    return render(request, "catalog/product_detail.html", context)


def category_detail(request: HttpRequest, slug: str) -> HttpResponse:
    """Show the active products of a category."""
    category = get_object_or_404(Category, slug=slug)
    context = {
        "category": category,
        "product_count": selectors.category_product_count(category=category),
        "products": selectors.category_products(category=category),
    }
    return render(request, "catalog/category_detail.html", context)


def product_shipping(request: HttpRequest, slug: str) -> HttpResponse:
    """Show every carrier's shipping quote for a product to a city."""
    # TODO(lesson 8): a synchronous view holds its worker thread while it waits
    # on the carriers; an `async def` view awaits them without one.
    product = _product_or_404(slug)
    city = request.GET.get("city", "Lisbon")
    context = {
        "product": product,
        "city": city,
        "quotes": shipping_quotes(product=product, city=city),
    }
    return render(request, "catalog/product_shipping.html", context)


@staff_member_required
def product_image_upload(request: HttpRequest, slug: str) -> HttpResponse:
    """Take an image of a product from staff and make its thumbnail."""
    product = _product_or_404(slug)
    form = ProductImageForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        services.product_image_create(product=product, image=form.cleaned_data["image"])
        messages.success(request, "Image uploaded.")
        return redirect(product)
    context = {"product": product, "form": form}
    return render(request, "catalog/product_image_upload.html", context)


def category_index(request: HttpRequest) -> HttpResponse:
    """List the categories, each linking to its page."""
    context = {"categories": selectors.category_list()}
    return render(request, "catalog/category_index.html", context)
