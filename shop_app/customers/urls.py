"""URLs of the customer pages."""

from django.urls import path

from customers import views

app_name = "customers"

urlpatterns = [
    path("signup/", views.signup, name="signup"),
]
