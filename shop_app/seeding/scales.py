"""The dataset sizes `seed_shop` can load."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Scale:
    """How many rows of each kind a dataset holds."""

    name: str
    categories: int
    brands: int
    tags: int
    products: int
    tags_per_product: int
    images_per_product: int
    customers: int
    reviews: int
    orders: int
    order_items: int

    def __post_init__(self) -> None:
        # Every order gets at least one item, so there cannot be fewer items.
        if self.order_items < self.orders:
            raise ValueError(f"{self.name}: fewer order items than orders")
        if self.tags_per_product > self.tags:
            raise ValueError(f"{self.name}: more tags per product than tags")


SCALES: dict[str, Scale] = {
    scale.name: scale
    for scale in (
        # Loads in well under a second; the test suite seeds it per test.
        Scale(
            name="tiny",
            categories=5,
            brands=6,
            tags=12,
            products=30,
            tags_per_product=3,
            images_per_product=2,
            customers=20,
            reviews=300,
            orders=60,
            order_items=200,
        ),
        # The learner's default: big enough for N+1s to hurt.
        Scale(
            name="small",
            categories=20,
            brands=40,
            tags=60,
            products=3_000,
            tags_per_product=3,
            images_per_product=2,
            customers=2_000,
            reviews=30_000,
            orders=12_000,
            order_items=40_000,
        ),
        # Big enough for sequential scans to lose to indexes (lesson 7).
        Scale(
            name="large",
            categories=40,
            brands=150,
            tags=200,
            products=10_000,
            tags_per_product=3,
            images_per_product=2,
            customers=50_000,
            reviews=200_000,
            orders=400_000,
            order_items=1_200_000,
        ),
    )
}


def scale_get(*, name: str) -> Scale:
    """Return the scale called `name`, or raise ValueError naming the choices."""
    try:
        return SCALES[name]
    except KeyError:
        choices = ", ".join(SCALES)
        raise ValueError(f"unknown scale {name!r}; choose one of {choices}") from None
