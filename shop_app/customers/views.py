"""HTML pages about customers."""

from django.contrib import messages
from django.contrib.auth import login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from customers.forms import SignupForm
from customers.services import customer_signup


def signup(request: HttpRequest) -> HttpResponse:
    """Create an account, log it in and send the welcome email."""
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        customer = customer_signup(**form.cleaned_data)
        login(
            request, customer.user, backend="django.contrib.auth.backends.ModelBackend"
        )
        messages.success(request, "Welcome! Check your inbox.")
        return redirect("orders:order_history")
    return render(request, "customers/signup.html", {"form": form})
