"""Two admin sites over the same books: one naive changelist, one fixed."""

from django.contrib import admin

from tests.checker_testapp.models import Book

naive_site = admin.AdminSite(name="checker_naive_admin")
fixed_site = admin.AdminSite(name="checker_fixed_admin")


class NaiveBookAdmin(admin.ModelAdmin):
    # A method column hides the relation from the admin's own select_related.
    list_display = ["title", "author_name"]

    @admin.display(description="author")
    def author_name(self, book: Book) -> str:
        return book.author.name


class FixedBookAdmin(NaiveBookAdmin):
    list_select_related = ["author"]


naive_site.register(Book, NaiveBookAdmin)
fixed_site.register(Book, FixedBookAdmin)
