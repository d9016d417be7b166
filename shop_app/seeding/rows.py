"""Lazy, deterministic row generators for every table `seed_shop` loads.

Each table draws from its own `random.Random`, seeded from the run's seed and
the table name, so the rows of one table do not depend on how many random
numbers another table used. Ids are explicit: the same seed gives the same ids.
"""

from __future__ import annotations

import random
from array import array
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from django.utils.text import slugify

from seeding import vocabulary as words
from seeding.images import PLACEHOLDERS, placeholder_path
from seeding.scales import Scale

Row = tuple[object, ...]

EPOCH = datetime(2025, 1, 1, tzinfo=UTC)
YEAR_SECONDS = 365 * 24 * 3600
ADMIN_USERNAME = "admin"
PARAGRAPHS = 48
PARAGRAPH_WORDS = 100
DESCRIPTION_PARAGRAPHS = 7
REVIEW_BODIES = 64
REVIEW_WORDS = 36
# Cumulative weights, so that random.choices does not add them up on every row.
RATINGS = (1, 2, 3, 4, 5)
RATING_WEIGHTS = (7, 15, 30, 60, 100)
STATUSES = ("pending", "paid", "shipped", "cancelled")
STATUS_WEIGHTS = (10, 40, 90, 100)
# 60% of lines order one unit, 25% two, 10% three, 5% four.
QUANTITY_BY_PERCENT = (1,) * 60 + (2,) * 25 + (3,) * 10 + (4,) * 5


def _catalog(category_index: int) -> tuple[str, tuple[str, ...], int, int]:
    """Return what a category sells and its price range; beyond the list, repeat it."""
    return words.CATALOG[category_index % len(words.CATALOG)]


def _cents_text(cents: int) -> str:
    """Format an amount in cents the way PostgreSQL reads a numeric."""
    return f"{cents // 100}.{cents % 100:02d}"


class ShopRows:
    """Generate the rows of one seeded shop, table by table."""

    def __init__(self, *, scale: Scale, seed: int, password_hash: str) -> None:
        self.scale = scale
        self.seed = seed
        self.password_hash = password_hash
        # Products and order items both need the categories and prices, so
        # draw them once: a price falls in its category's range.
        categories = self._rng("product_categories")
        self.product_categories = array(
            "q", (categories.randrange(scale.categories) for _ in range(scale.products))
        )
        prices = self._rng("prices")
        self.product_cents = array(
            "q",
            (
                prices.randrange(low * 100, high * 100)
                for low, high in (
                    _catalog(index)[2:] for index in self.product_categories
                )
            ),
        )

    def _rng(self, table: str) -> random.Random:
        return random.Random(f"{self.seed}:{table}")

    def _moment(self, rng: random.Random) -> datetime:
        return EPOCH + timedelta(seconds=rng.randrange(YEAR_SECONDS))

    def _joined_at(self, customer_id: int) -> datetime:
        # Customers join evenly through the year, in id order.
        step = YEAR_SECONDS // (self.scale.customers + 1)
        return EPOCH + timedelta(seconds=customer_id * step)

    def _pick(self, rng: random.Random, count: int) -> int:
        # Squaring skews the choice toward low ids, so some products sell far
        # more than others and the bestseller list is meaningful.
        return 1 + int(count * rng.random() ** 2)

    def users(self) -> Iterator[Row]:
        """Yield the staff user `admin` (id 1), then one user per customer."""
        yield (
            1, self.password_hash, None, True, ADMIN_USERNAME, "Shop", "Admin",
            "admin@example.com", True, True, EPOCH,
        )  # fmt: skip
        rng = self._rng("users")
        for customer_id in range(1, self.scale.customers + 1):
            first = rng.choice(words.FIRST_NAMES)
            last = rng.choice(words.LAST_NAMES)
            username = f"{first}.{last}{customer_id}".lower()
            yield (
                customer_id + 1, self.password_hash, None, False, username, first,
                last, f"{username}@example.com", False, True,
                self._joined_at(customer_id),
            )  # fmt: skip

    def customers(self) -> Iterator[Row]:
        """Yield one customer per non-staff user."""
        rng = self._rng("customers")
        for customer_id in range(1, self.scale.customers + 1):
            phone = f"+351 9{rng.randrange(10**8):08d}"
            city = rng.choice(words.CITIES)
            yield (
                customer_id, customer_id + 1, phone, city,
                self._joined_at(customer_id),
            )  # fmt: skip

    def _named(self, names: tuple[str, ...], count: int) -> Iterator[Row]:
        for index in range(count):
            name = names[index % len(names)].title()
            if index >= len(names):
                name = f"{name} {index // len(names) + 1}"
            yield (index + 1, name, slugify(name))

    def categories(self) -> Iterator[Row]:
        """Yield the categories, named from the vocabulary."""
        return self._named(words.CATEGORIES, self.scale.categories)

    def _brand_names(self) -> tuple[str, ...]:
        starts, ends = words.BRAND_STARTS, words.BRAND_ENDS
        return tuple(start + end for end in ends for start in starts)

    def brands(self) -> Iterator[Row]:
        """Yield the brands, named by joining two syllables."""
        return self._named(self._brand_names(), self.scale.brands)

    def _brand_of(self, rng: random.Random, category_index: int) -> int:
        # Brand b makes things for category (b - 1) % categories only, so a
        # brand's products share a category; with fewer brands, they share.
        categories, brands = self.scale.categories, self.scale.brands
        own = range(category_index + 1, brands + 1, categories)
        return rng.choice(own) if own else category_index % brands + 1

    def tags(self) -> Iterator[Row]:
        """Yield the tags, named from the adjectives."""
        return self._named(words.ADJECTIVES, self.scale.tags)

    def _texts(
        self, *, kind: str, sentences: tuple[str, ...], count: int, words_min: int
    ) -> list[str]:
        # A small pool of texts to pick from: joining sentences per row would
        # cost more than writing the row.
        rng = self._rng(kind)
        texts = []
        for _ in range(count):
            # In a random order, each sentence at most once per text.
            shuffled = rng.sample(sentences, len(sentences))
            chosen: list[str] = []
            while sum(len(sentence.split()) for sentence in chosen) < words_min:
                chosen.append(shuffled[len(chosen) % len(shuffled)])
            texts.append(" ".join(chosen))
        return texts

    def products(self) -> Iterator[Row]:
        """Yield the products, each with a description of several KB.

        A product's name, brand and price fit its category: a kettle of a
        kitchen brand at a kettle's price, not a drill among the toys.
        """
        rng = self._rng("products")
        paragraphs = self._texts(
            kind="paragraphs",
            sentences=words.DESCRIPTION_SENTENCES,
            count=PARAGRAPHS,
            words_min=PARAGRAPH_WORDS,
        )
        brand_names = self._brand_names()
        for product_id in range(1, self.scale.products + 1):
            category_index = self.product_categories[product_id - 1]
            category, things, _low, _high = _catalog(category_index)
            thing = rng.choice(things)
            quality = rng.choice(words.QUALITIES)
            name = f"{quality.capitalize()} {thing} {rng.randrange(100, 1000)}"
            brand_id = self._brand_of(rng, category_index)
            brand = brand_names[(brand_id - 1) % len(brand_names)].title()
            created = self._moment(rng)
            opening = f"{name}, by {brand}, from our {category.lower()} range."
            body = "\n\n".join(rng.choices(paragraphs, k=DESCRIPTION_PARAGRAPHS))
            yield (
                product_id,
                name,
                f"{slugify(name)}-{product_id}",
                f"SKU-{product_id:07d}",
                category_index + 1,
                brand_id,
                _cents_text(self.product_cents[product_id - 1]),
                rng.randrange(500),
                rng.random() < 0.95,
                f"{opening}\n\n{body}",
                created,
                created + timedelta(days=rng.randrange(60)),
            )

    def product_tags(self) -> Iterator[Row]:
        """Yield `tags_per_product` distinct tags for every product."""
        rng = self._rng("product_tags")
        tag_ids = range(1, self.scale.tags + 1)
        row_id = 0
        for product_id in range(1, self.scale.products + 1):
            for tag_id in sorted(rng.sample(tag_ids, self.scale.tags_per_product)):
                row_id += 1
                yield (row_id, product_id, tag_id)

    def product_images(self) -> Iterator[Row]:
        """Yield `images_per_product` image paths per product, no thumbnails yet.

        The paths name a few shared placeholder pictures (`placeholders_write()`
        draws them), so that a seed of millions of rows writes only a few files.
        """
        row_id = 0
        for product_id in range(1, self.scale.products + 1):
            for position in range(self.scale.images_per_product):
                row_id += 1
                path = placeholder_path((product_id + position) % PLACEHOLDERS)
                yield (row_id, product_id, path, "", position)

    def reviews(self) -> Iterator[Row]:
        """Yield the reviews, mostly positive, most of them approved."""
        rng = self._rng("reviews")
        bodies = {
            feeling: self._texts(
                kind=f"review_bodies_{feeling}",
                sentences=sentences,
                count=REVIEW_BODIES,
                words_min=REVIEW_WORDS,
            )
            for feeling, sentences in words.REVIEW_SENTENCES.items()
        }
        for review_id in range(1, self.scale.reviews + 1):
            rating = rng.choices(RATINGS, cum_weights=RATING_WEIGHTS)[0]
            feeling = "bad" if rating <= 2 else "fair" if rating == 3 else "good"
            yield (
                review_id,
                self._pick(rng, self.scale.products),
                rng.randrange(self.scale.customers) + 1,
                rating,
                rng.choice(words.REVIEW_TITLES[rating]),
                rng.choice(bodies[feeling]),
                rng.random() < 0.85,
                self._moment(rng),
            )

    def _items_per_order(self) -> array[int]:
        rng = self._rng("items_per_order")
        counts = array("I", [1]) * self.scale.orders
        for _ in range(self.scale.order_items - self.scale.orders):
            counts[rng.randrange(self.scale.orders)] += 1
        return counts

    def order_items(self, totals: array[int]) -> Iterator[Row]:
        """Yield the order items, setting `totals[order]` to the sum of its lines."""
        rng = self._rng("order_items")
        # The hottest loop of a large load: a million rows and more, so the
        # lookups are hoisted out of it and the prices formatted once.
        draw = rng.random
        products = self.scale.products
        cents = self.product_cents
        prices = [_cents_text(amount) for amount in cents]
        row_id = 0
        for order_index, count in enumerate(self._items_per_order()):
            total = 0
            for _ in range(count):
                row_id += 1
                # Squaring skews sales toward low ids, as in _pick.
                index = int(products * draw() ** 2)
                quantity = QUANTITY_BY_PERCENT[int(draw() * 100)]
                total += quantity * cents[index]
                yield (row_id, order_index + 1, index + 1, quantity, prices[index])
            totals[order_index] = total

    def orders(self, totals: array[int]) -> Iterator[Row]:
        """Yield the orders, their totals taken from the items already generated."""
        rng = self._rng("orders")
        for order_index in range(self.scale.orders):
            yield (
                order_index + 1,
                rng.randrange(self.scale.customers) + 1,
                rng.choices(STATUSES, cum_weights=STATUS_WEIGHTS)[0],
                self._moment(rng),
                _cents_text(totals[order_index]),
            )
