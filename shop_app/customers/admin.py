"""Admin of customers."""

from django.contrib import admin

from customers.models import Customer


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    # TODO(lesson 1): each row's user is fetched on its own, for __str__ and
    # the email column; list_select_related fetches it with the customers.
    list_display = ["__str__", "email", "phone", "city", "created_at"]
    list_filter = ["city"]
    search_fields = ["user__username", "user__email"]
    raw_id_fields = ["user"]

    @admin.display(ordering="user__email")
    def email(self, customer: Customer) -> str:
        return customer.user.email
