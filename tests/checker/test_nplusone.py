"""Every N+1 detector fires on the naive view and stays quiet on the fixed one."""

import pytest

from checker import nplusone
from checker.measure import measure
from checker.nplusone import Access
from tests.checker.conftest import line_of
from tests.checker_testapp.data import library_create
from tests.checker_testapp.models import Author, Book

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.checker_testapp.urls")]

BOOKS = 5
TEMPLATE = "tests/checker_testapp/templates/checker_testapp/book_list.html"

# path, what the group is attributed to, where it comes from, the fix named
CASES = {
    "loop": (
        "Book.author",
        ("views.py", 'f"{book.title} by {book.author.name}" for book in books'),
        'Try select_related("author").',
    ),
    "template": ("Book.author", None, 'Try select_related("author").'),
    "api": (
        "Book.author",
        ("views.py", "return Response(BookSerializer(books, many=True).data)"),
        'Try select_related("author").',
    ),
    # A generic view runs no project line: the serializer class is named.
    "generic": (
        "Book.author",
        ("serializers.py", "class BookSerializer"),
        'Try select_related("author") on the queryset of the view that serializes'
        " them.",
    ),
    "deferred": (
        "Book.body",
        ("views.py", 'f"{book.title}: {len(book.body)}" for book in books'),
        'Fetch "body" with the rows: drop it from defer() or add it to only().',
    ),
    "reverse": (
        "Author.books",
        ("views.py", "[b.title for b in a.books.all()]"),
        'Try prefetch_related("books").',
    ),
    "m2m": (
        "Book.tags",
        ("views.py", "[t.name for t in b.tags.all()]"),
        'Try prefetch_related("tags").',
    ),
    "profile": (
        "Author.profile",
        ("views.py", "author.profile.bio"),
        'Try select_related("profile").',
    ),
    "count": (
        "Author.books",
        ("views.py", "author.books.count()"),
        'Try annotate(books_count=Count("books")) on the queryset.',
    ),
    "filtered": (
        "Author.books",
        ("views.py", "a.books.filter(title__endswith='1').count()"),
        'Try prefetch_related(Prefetch("books", queryset=..., to_attr="...")) and '
        "read the attribute; filtering a related manager queries again even when "
        "prefetched.",
    ),
}


@pytest.fixture
def library():
    library_create(books=BOOKS)


def _get(client, path):
    with measure(f"GET {path}", memory=False) as measurement:
        response = client.get(path)
    assert response.status_code == 200
    return measurement


@pytest.mark.parametrize("name", list(CASES))
def test_naive_view_makes_one_group_attributed_to_the_relation(client, library, name):
    via, origin, fix = CASES[name]
    measurement = _get(client, f"/{name}/naive/")

    [group] = [group for group in measurement.similar() if group.access]
    assert group.count == BOOKS
    assert str(group.access) == via
    assert str(group.origin) == (
        f"{TEMPLATE}:3" if origin is None else line_of(*origin)
    )
    assert group.fix() == fix


@pytest.mark.parametrize("name", list(CASES))
def test_fixed_view_makes_no_similar_queries(client, library, name):
    measurement = _get(client, f"/{name}/fixed/")

    assert measurement.similar() == []


def test_template_lookup_is_located_at_the_template_line(client, library):
    measurement = _get(client, "/template/naive/")

    [group] = measurement.similar()
    template = group.queries[0].template
    assert (template.path, template.line, template.in_project) == (TEMPLATE, 3, True)
    # The Python line that rendered the template is kept too.
    assert str(group.queries[0].frame) == line_of(
        "views.py", 'return render(request, "checker_testapp/book_list.html"'
    )


def test_admin_method_column_fires_and_names_list_select_related(admin_client, library):
    measurement = _get(admin_client, "/admin-naive/checker_testapp/book/")

    [group] = [group for group in measurement.similar() if group.access]
    assert group.count == BOOKS
    assert str(group.access) == "Book.author"
    assert str(group.origin) == line_of("admin.py", "return book.author.name")
    assert group.fix() == 'Try list_select_related = ["author"] on the ModelAdmin.'


def test_admin_with_list_select_related_follows_no_relation(admin_client, library):
    measurement = _get(admin_client, "/admin-fixed/checker_testapp/book/")

    assert [group for group in measurement.similar() if group.access] == []
    # The changelist's own two COUNTs are similar, and not an N+1.
    assert [group.short for group in measurement.similar()] == [
        "SELECT COUNT(*) AS __count FROM checker_testapp_book"
    ]


def test_fresh_query_in_a_loop_groups_by_shape_without_a_relation(client, library):
    measurement = _get(client, "/fresh/naive/")

    [group] = measurement.similar()
    assert group.count == BOOKS
    assert group.access is None
    assert group.fix() is None
    assert str(group.origin) == line_of(
        "views.py", "list(Book.objects.filter(author_id=a.pk))"
    )
    assert group.short == "SELECT ... FROM checker_testapp_book WHERE author_id = #"


def test_duplicates_fire_on_the_same_query_with_the_same_params(client, library):
    measurement = _get(client, "/duplicates/naive/")

    [group] = measurement.duplicates()
    assert group.count == 3
    assert str(group.origin) == line_of("views.py", 'Publisher.objects.get(name="Pen')


def test_similar_queries_with_different_params_are_not_duplicates(client, library):
    measurement = _get(client, "/loop/naive/")

    assert len(measurement.similar()) == 1
    assert measurement.duplicates() == []


def test_no_duplicates_when_the_query_runs_once(client, library):
    measurement = _get(client, "/duplicates/fixed/")

    assert measurement.duplicates() == []


def test_a_related_object_already_loaded_is_not_attributed(library):
    book = Book.objects.select_related("author").first()
    with measure(memory=False) as measurement:
        assert book.author.name

    assert measurement.queries == []


def test_outside_a_block_the_wrappers_mark_nothing_and_return_the_same(library):
    with measure(memory=False):
        pass
    descriptor = Book.author.__class__
    wrapped = descriptor.get_object
    original = wrapped.__wrapped__
    assert wrapped is not original

    books = list(Book.objects.order_by("pk"))
    assert books[0].author == original(Book.author, books[0])
    assert nplusone.current_access() is None
    marks = {"_checker_rows", "_checker_via"}
    assert [marks & vars(row).keys() for row in [*books, books[0].author]] == [
        set()
    ] * (BOOKS + 1)

    with measure(memory=False) as measurement:
        for book in Book.objects.order_by("pk"):
            assert book.author.name

    assert [str(group.access) for group in measurement.similar()] == ["Book.author"]
    assert descriptor.get_object is wrapped


def test_an_unmarked_query_carries_no_access(library):
    with measure(memory=False) as measurement:
        list(Author.objects.all())

    assert [query.access for query in measurement.queries] == [None]


def test_access_fix_for_a_reverse_relation_without_related_name():
    access = Access("Publisher", "book_set", "reverse_many", "count", "book")
    assert access.fix() == 'Try annotate(book_count=Count("book")) on the queryset.'


def test_an_explicit_refresh_is_not_taken_for_a_deferred_load(library):
    book = Book.objects.first()
    with measure(memory=False) as measurement:
        book.refresh_from_db(fields=["body"])

    assert [query.access for query in measurement.queries] == [None]


def test_a_deferred_load_is_attributed_to_the_field(library):
    book = Book.objects.defer("body").first()
    with measure(memory=False) as measurement:
        assert book.body == ""

    [query] = measurement.queries
    assert (str(query.access), query.access.relation) == ("Book.body", "deferred")


@pytest.mark.parametrize(
    ("access", "admin", "fix"),
    [
        (
            Access("Customer", "user", "forward", path="customer"),
            False,
            'Try select_related("customer__user").',
        ),
        (
            Access("Customer", "user", "forward", path="customer"),
            True,
            'Try list_select_related = ["customer__user"] on the ModelAdmin.',
        ),
        (
            Access(
                "OrderItem",
                "product",
                "forward",
                path="items",
                prefetched="items:OrderItem",
            ),
            False,
            'Try prefetch_related(Prefetch("items",'
            ' queryset=OrderItem.objects.select_related("product"))).',
        ),
        (
            Access(
                "Product",
                "tags",
                "many_to_many",
                path="items__product",
                prefetched="items:OrderItem",
            ),
            False,
            'Try prefetch_related("items__product__tags").',
        ),
        (
            Access("Order", "items", "reverse_many", query_name="items"),
            True,
            'Try prefetch_related("items") in the ModelAdmin\'s get_queryset():'
            ' return super().get_queryset(request).prefetch_related("items").',
        ),
    ],
)
def test_a_fix_names_the_whole_lookup_from_the_queryset_being_built(access, admin, fix):
    assert access.fix(admin=admin) == fix


@pytest.fixture
def project_middleware(settings):
    settings.MIDDLEWARE = [
        *settings.MIDDLEWARE,
        "tests.checker_testapp.middleware.PassThrough",
        "tests.checker_testapp.middleware.AuthorsCounted",
    ]


def test_a_project_middleware_passing_a_request_on_is_not_the_origin(
    client, library, project_middleware
):
    measurement = _get(client, "/generic/naive/")

    [group] = [group for group in measurement.similar() if group.access]
    assert str(group.origin) == line_of("serializers.py", "class BookSerializer")


def test_a_query_a_project_middleware_runs_itself_is_its_own(
    client, library, project_middleware
):
    measurement = _get(client, "/generic/fixed/")

    origins = {str(query.frame) for query in measurement.queries}
    middleware = {origin for origin in origins if "/middleware.py:" in origin}
    assert middleware == {line_of("middleware.py", "Author.objects.count()")}
