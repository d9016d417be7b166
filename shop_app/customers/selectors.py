"""Read queries about customers."""

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

from customers.models import Customer


def customer_for_user(*, user: AbstractBaseUser | AnonymousUser) -> Customer | None:
    """Return the customer profile of `user`, or None for staff and anonymous users."""
    if not user.is_authenticated:
        return None
    return Customer.objects.filter(user_id=user.pk).first()


def customer_get(*, customer_id: int) -> Customer:
    """Return the customer with `customer_id`, or raise Customer.DoesNotExist."""
    return Customer.objects.get(pk=customer_id)
