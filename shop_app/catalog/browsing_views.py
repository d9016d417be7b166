"""HTML pages to browse the catalog by brand and to find a product by its SKU."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from catalog import browsing, ratings


def brand_index(request: HttpRequest) -> HttpResponse:
    """List the brands, beside the best rated products of the shop."""
    context = {"brands": browsing.brand_list(), "top_rated": ratings.top_rated()}
    return render(request, "catalog/brand_index.html", context)


def brand_detail(request: HttpRequest, slug: str) -> HttpResponse:
    """Show the active products of a brand."""
    brand = get_object_or_404(browsing.brand_list(), slug=slug)
    context = {"brand": brand, "products": browsing.brand_products(brand=brand)}
    return render(request, "catalog/brand_detail.html", context)


def product_lookup(request: HttpRequest) -> HttpResponse:
    """Find the active products whose SKU starts with what the visitor typed."""
    prefix = request.GET.get("sku", "").strip()
    products = browsing.products_by_sku(prefix=prefix) if prefix else []
    context = {"prefix": prefix, "products": products}
    return render(request, "catalog/product_lookup.html", context)
