"""HTML pages and exports about orders."""

from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth.decorators import login_required
from django.core.files.storage import default_storage
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from customers.models import Customer
from customers.selectors import customer_for_user, customer_get
from orders import selectors, services
from orders.exports import order_items_write


def _history(request: HttpRequest, customer: Customer) -> HttpResponse:
    context = {
        "customer": customer,
        "has_orders": selectors.customer_has_orders(customer=customer),
        "orders": selectors.order_history(customer=customer),
    }
    return render(request, "orders/order_history.html", context)


@login_required
def order_history(request: HttpRequest) -> HttpResponse:
    """Show the logged-in customer's orders with their items."""
    customer = customer_for_user(user=request.user)
    if customer is None and request.user.is_staff:
        messages.info(
            request,
            "This staff account places no orders of its own: the sales dashboard"
            " lists every customer's.",
        )
        return redirect("orders:sales_dashboard")
    if customer is None:
        raise Http404("This account has no customer profile.")
    return _history(request, customer)


@staff_member_required
def customer_orders(request: HttpRequest, customer_id: int) -> HttpResponse:
    """Show any customer's orders to staff."""
    try:
        customer = customer_get(customer_id=customer_id)
    except Customer.DoesNotExist:
        raise Http404(f"No customer with id {customer_id}.") from None
    return _history(request, customer)


@staff_member_required
def sales_dashboard(request: HttpRequest) -> HttpResponse:
    """Show revenue, orders per status, bestsellers, categories and recent orders."""
    context = {
        "revenue": selectors.sales_revenue(),
        "status_counts": selectors.sales_status_counts(),
        "bestsellers": selectors.sales_bestsellers(),
        "categories": selectors.sales_by_category(),
        "recent_orders": selectors.recent_orders(),
    }
    return render(request, "orders/sales_dashboard.html", context)


@staff_member_required
@require_POST
def sales_report(request: HttpRequest) -> HttpResponse:
    """Build the sales report file and link to it from the dashboard."""
    # TODO(lesson 5): the report is built inside the request, which waits for
    # it; a service that starts build_sales_report in a worker answers at once.
    name = services.sales_report_build()
    messages.success(request, f"Sales report ready: {default_storage.url(name)}")
    return redirect("orders:sales_dashboard")


@staff_member_required
def order_items_csv(request: HttpRequest) -> HttpResponse:
    """Export every order item as CSV."""
    response = HttpResponse(content_type="text/csv")
    response["Content-Disposition"] = 'attachment; filename="order-items.csv"'
    items = list(selectors.order_item_export())
    order_items_write(items=items, out=response)
    return response
