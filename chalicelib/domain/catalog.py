"""The catalog's rules, with no AWS in sight: categories and their levels, products, aggregate deltas.

Average price (SPEC §5). Every category keeps, per relative level below it (0 = itself, 1..3 = its
descendants at that distance), the sum and the count of its products' prices and the number of
subcategories. A product in category X contributes to X at level 0, to X's parent at level 1, to
the grandparent at level 2 and to the great-grandparent at level 3 — so a product write touches at
most four categories, and the average for any category is read from that category alone.

Every write is described here as an `AggregateDelta` (category id -> per-level changes) and applied
by the repository in the same transaction as the product or category write it belongs to.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace

from chalicelib.domain.keys import MAX_SORT_KEY_BYTES, utf8_size
from chalicelib.domain.money import format_cents, mean_cents, to_cents
from chalicelib.domain.stock import stock_covers_reserved

LEVELS = 4  # relative levels kept per category: 0 (itself) .. 3
MAX_NAME = 200
MAX_DEPTH = 19  # deepest category: depth 19 = 20 levels (keeps the stored subtree paths short)
MAX_PRICE_CENTS = 100_000_000_000  # 1,000,000,000.00
MAX_STOCK = 1_000_000_000
MAX_ID = 100
PATH_SEPARATOR = "/"


def new_id() -> str:
    return uuid.uuid4().hex


def plausible_id(value: object) -> bool:
    """Ids we hand out are short hex strings; anything else cannot name a stored item (404 early)."""
    return isinstance(value, str) and 0 < len(value) <= MAX_ID and ":" not in value


def name_key(name: str) -> str:
    """The form names are compared in: case-insensitive, surrounding and repeated blanks ignored."""
    return " ".join(name.split()).casefold()


# --- field rules (SPEC §4 Validation). Each raises ValueError with the message shown to the client.


def check_name_key(name: str) -> None:
    """A name is stored in keys as its case-folded form (`name_key`: index sort keys, sibling-name claims),
    which DynamoDB caps at 1,024 bytes; case folding can grow a name (200 × "ΐ" → 1,200 bytes)."""
    size = utf8_size(name)
    if size is None:
        raise ValueError("must be valid Unicode text")
    if utf8_size(name_key(name)) > MAX_SORT_KEY_BYTES:
        raise ValueError(f"is too long: at most {MAX_SORT_KEY_BYTES} bytes of UTF-8 once case-folded")


def clean_name(value: object, *, category: bool = False) -> str:
    if not isinstance(value, str):
        raise ValueError("must be a string")
    name = value.strip()
    if not name:
        raise ValueError("must not be empty")
    if len(name) > MAX_NAME:
        raise ValueError(f"must be at most {MAX_NAME} characters")
    check_name_key(name)
    if category and PATH_SEPARATOR in name:
        raise ValueError("must not contain '/' (it separates the levels of a category path)")
    return name


def clean_price(value: object) -> int:
    """A price > 0 in cents."""
    cents = _money(value)
    if cents <= 0:
        raise ValueError("must be greater than 0")
    return cents


def clean_discount(value: object) -> int | None:
    """A discount price >= 0 in cents, or None (no discount)."""
    if value is None:
        return None
    cents = _money(value)
    if cents < 0:
        raise ValueError("must be 0 or more")
    return cents


def _money(value: object) -> int:
    if isinstance(value, str) and not value.strip():
        raise ValueError("must be a number")
    cents = to_cents(value)
    if cents > MAX_PRICE_CENTS:
        raise ValueError(f"must be at most {format_cents(MAX_PRICE_CENTS)}")
    return cents


def clean_stock(value: object, *, text: bool = False) -> int:
    """An integer >= 0. JSON input must be an integer; `text` also accepts "12" (CSV cells)."""
    if isinstance(value, bool):
        raise ValueError("must be an integer")
    if text and isinstance(value, str):
        raw = value.strip()
        if not raw.isascii() or not raw.lstrip("+-").isdigit():
            raise ValueError("must be an integer")
        value = int(raw)
    if not isinstance(value, int):
        raise ValueError("must be an integer")
    if value < 0:
        raise ValueError("must be 0 or more")
    if value > MAX_STOCK:
        raise ValueError(f"must be at most {MAX_STOCK}")
    return value


def check_discount_below_price(price_cents: int, discount_cents: int | None, changed: str) -> None:
    """discount < price; `changed` is the field the client set, so the message points at it."""
    if discount_cents is not None and discount_cents >= price_cents:
        if changed == "price":
            raise ValueError(f"must be greater than the discount price ({format_cents(discount_cents)})")
        raise ValueError(f"must be less than the price ({format_cents(price_cents)})")


def parse_path(value: object) -> tuple[str, ...]:
    """A category name or path ("Electronics/Laptops") as its cleaned segments."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError("must be a category name or path, e.g. Electronics/Laptops")
    segments = [segment.strip() for segment in value.strip().strip(PATH_SEPARATOR).split(PATH_SEPARATOR)]
    if not all(segments):
        raise ValueError("must not contain empty levels")
    if len(segments) > MAX_DEPTH + 1:
        raise ValueError(f"must have at most {MAX_DEPTH + 1} levels")
    for segment in segments:
        if len(segment) > MAX_NAME:
            raise ValueError(f"every level must be at most {MAX_NAME} characters")
        try:
            check_name_key(segment)
        except ValueError as error:
            raise ValueError(f"every level {error}") from None
    return tuple(segments)


# --- categories


@dataclass(frozen=True)
class AveragePrice:
    """SPEC §5 `calculate_average_price` of one category: over it and its descendants down to 3 levels below."""

    category_id: str
    category: str  # its name
    average_price: str | None  # two places; None when there is nothing to average
    products_count: int
    subcategory_count: int


@dataclass
class Category:
    id: str
    name: str
    parent_id: str | None
    ancestors: tuple[str, ...]  # root first, parent last
    created_at: str
    updated_at: str
    price_sums: list[int] = field(default_factory=lambda: [0] * LEVELS)
    product_counts: list[int] = field(default_factory=lambda: [0] * LEVELS)
    subcategory_counts: list[int] = field(default_factory=lambda: [0] * LEVELS)

    @property
    def depth(self) -> int:
        return len(self.ancestors)

    @property
    def path(self) -> str:
        """"/root/.../self/": the prefix of every descendant's path, so a subtree is one prefix query."""
        return PATH_SEPARATOR + "".join(part + PATH_SEPARATOR for part in (*self.ancestors, self.id))

    @property
    def name_key(self) -> str:
        return name_key(self.name)

    def levels_up(self) -> Iterator[tuple[str, int]]:
        """(category id, level) of itself (0) and of its ancestors up to level 3."""
        yield self.id, 0
        for level, ancestor in enumerate(reversed(self.ancestors[-(LEVELS - 1):]), start=1):
            yield ancestor, level

    @property
    def direct_products(self) -> int:
        return int(self.product_counts[0])

    @property
    def direct_children(self) -> int:
        return int(self.subcategory_counts[1])

    def average(self) -> AveragePrice:
        """SPEC §5 `calculate_average_price`, from this category's own aggregates."""
        total = sum(int(v) for v in self.price_sums)
        count = sum(int(v) for v in self.product_counts)
        subcategories = sum(int(v) for v in self.subcategory_counts[1:])
        return AveragePrice(self.id, self.name, mean_cents(total, count), count, subcategories)


def new_category(name: str, parent: Category | None, now: str) -> Category:
    if parent is not None and parent.depth >= MAX_DEPTH:
        raise ValueError(f"categories nest at most {MAX_DEPTH + 1} levels deep")
    return Category(
        id=new_id(),
        name=name,
        parent_id=parent.id if parent else None,
        ancestors=(*parent.ancestors, parent.id) if parent else (),
        created_at=now,
        updated_at=now,
    )


# --- products


@dataclass
class Product:
    id: str
    name: str
    category_id: str
    price_cents: int
    discount_price_cents: int | None
    stock: int
    reserved: int
    available: int
    created_at: str
    updated_at: str

    @property
    def name_key(self) -> str:
        return name_key(self.name)

    @property
    def current_price_cents(self) -> int:
        return self.price_cents if self.discount_price_cents is None else self.discount_price_cents


EDITABLE = ("name", "price_cents", "discount_price_cents", "stock", "category_id")


def new_product(
    name: str, price_cents: int, discount_price_cents: int | None, stock: int, category_id: str, now: str
) -> Product:
    return Product(
        id=new_id(),
        name=name,
        category_id=category_id,
        price_cents=price_cents,
        discount_price_cents=discount_price_cents,
        stock=stock,
        reserved=0,
        available=stock,
        created_at=now,
        updated_at=now,
    )


def edited(product: Product, changes: dict, now: str) -> Product:
    """The product with `changes` (a subset of EDITABLE) applied; `available` follows `stock`."""
    updated = replace(product, **changes, updated_at=now)
    updated.available = updated.stock - updated.reserved
    return updated


# --- aggregate deltas


@dataclass
class LevelDelta:
    price_sums: list[int] = field(default_factory=lambda: [0] * LEVELS)
    product_counts: list[int] = field(default_factory=lambda: [0] * LEVELS)
    subcategory_counts: list[int] = field(default_factory=lambda: [0] * LEVELS)

    def is_zero(self) -> bool:
        return not any(self.price_sums) and not any(self.product_counts) and not any(self.subcategory_counts)

    def changes(self) -> Iterator[tuple[str, int, int]]:
        """(aggregate name, level, amount) for every non-zero change."""
        for name in ("price_sums", "product_counts", "subcategory_counts"):
            for level, amount in enumerate(getattr(self, name)):
                if amount:
                    yield name, level, amount


class AggregateDelta:
    """Per-category changes to the aggregates, merged so each category is written once."""

    def __init__(self):
        self._by_category: dict[str, LevelDelta] = {}

    def _at(self, category_id: str) -> LevelDelta:
        return self._by_category.setdefault(category_id, LevelDelta())

    def add_product(self, category: Category, price_cents: int, sign: int = 1) -> AggregateDelta:
        for category_id, level in category.levels_up():
            delta = self._at(category_id)
            delta.price_sums[level] += sign * price_cents
            delta.product_counts[level] += sign
        return self

    def add_subcategory(self, category: Category, sign: int = 1) -> AggregateDelta:
        """`category` is counted by its ancestors up to three levels above it."""
        for category_id, level in category.levels_up():
            if level:
                self._at(category_id).subcategory_counts[level] += sign
        return self

    def merge(self, other: AggregateDelta) -> AggregateDelta:
        for category_id, delta in other._by_category.items():
            mine = self._at(category_id)
            for name, level, amount in delta.changes():
                getattr(mine, name)[level] += amount
        return self

    def items(self) -> list[tuple[str, LevelDelta]]:
        """Non-zero changes, in a stable order (category id)."""
        return sorted((k, v) for k, v in self._by_category.items() if not v.is_zero())

    def category_ids(self) -> set[str]:
        return {category_id for category_id, _ in self.items()}

    def __bool__(self) -> bool:
        return bool(self.items())


def apply_delta(category: Category, delta: LevelDelta) -> None:
    """In-memory application (fakes, tests); the DynamoDB adapter does the same with update expressions."""
    for name, level, amount in delta.changes():
        getattr(category, name)[level] += amount


# --- product writes, as the repositories execute them (all of one call in one transaction)


@dataclass
class CreateProduct:
    product: Product
    category_path: str


@dataclass
class UpdateProduct:
    """Sets `fields` (names from EDITABLE) to `after`'s values, if the product is still `before`.

    "Still" means: it exists and, when price, discount or category are set, those three are unchanged
    (so the aggregate delta computed from `before` is exact); when stock is set, reserved <= stock.
    """

    before: Product
    after: Product
    fields: tuple[str, ...]
    category_path: str  # of after's category

    @property
    def guards_price(self) -> bool:
        return bool({"price_cents", "discount_price_cents", "category_id"} & set(self.fields))


@dataclass
class DeleteProduct:
    product: Product


ProductWrite = CreateProduct | UpdateProduct | DeleteProduct

# Why a write was refused.
MISSING = "missing"  # the product is gone
CHANGED = "changed"  # price, discount or category changed since it was read: read again, retry
STOCK_BELOW_RESERVED = "stock_below_reserved"
CATEGORY_MISSING = "category_missing"  # a category the write counts in is gone
BUSY = "busy"  # a concurrent transaction touched the same items: retry


@dataclass
class WriteFailure:
    reason: str
    index: int | None = None  # of the write, or None when a category refused
    category_id: str | None = None
    current: Product | None = None  # the product as stored, when known


class WriteRefused(Exception):
    def __init__(self, failures: list[WriteFailure]):
        super().__init__(", ".join(f.reason for f in failures))
        self.failures = failures


def moves_name(write: ProductWrite) -> bool:
    """An update that changes the product's (category, name key): its name claim moves with it."""
    return isinstance(write, UpdateProduct) and (
        (write.after.category_id, write.after.name_key) != (write.before.category_id, write.before.name_key))


def refusal(write: ProductWrite, index: int, stored: Product | None) -> WriteFailure:
    """Why the store refused `write`, given the product as it is stored now (None: gone)."""
    if stored is None:
        return WriteFailure(MISSING, index=index)
    if (isinstance(write, UpdateProduct) and "stock" in write.fields
            and not stock_covers_reserved(write.after.stock, stored.reserved)):
        return WriteFailure(STOCK_BELOW_RESERVED, index=index, current=stored)
    return WriteFailure(CHANGED, index=index, current=stored)


def write_delta(writes: Iterable[ProductWrite], categories: dict[str, Category]) -> AggregateDelta:
    """The aggregate change of a batch of writes; `categories` holds the categories they name.

    A category missing from `categories` counts nothing (a product seeded outside the catalog's rules,
    in a category that does not exist, has no aggregates to keep).
    """
    delta = AggregateDelta()

    def count(category_id: str, price_cents: int, sign: int) -> None:
        if category_id in categories:
            delta.add_product(categories[category_id], price_cents, sign)

    for write in writes:
        if isinstance(write, CreateProduct):
            count(write.product.category_id, write.product.price_cents, +1)
        elif isinstance(write, DeleteProduct):
            count(write.product.category_id, write.product.price_cents, -1)
        else:
            before, after = write.before, write.after
            if (before.category_id, before.price_cents) != (after.category_id, after.price_cents):
                count(before.category_id, before.price_cents, -1)
                count(after.category_id, after.price_cents, +1)
    return delta


NAME_TAKEN = "name_taken"  # a sibling category has this name
NOT_EMPTY = "not_empty"  # the category still has products or subcategories


# --- price history


@dataclass
class PriceSnapshot:
    category_id: str
    taken_at: str
    price_sum_cents: int
    products_count: int
    subcategory_count: int

    @classmethod
    def of(cls, category: Category, taken_at: str) -> PriceSnapshot:
        return cls(
            category_id=category.id,
            taken_at=taken_at,
            price_sum_cents=sum(int(v) for v in category.price_sums),
            products_count=sum(int(v) for v in category.product_counts),
            subcategory_count=sum(int(v) for v in category.subcategory_counts[1:]),
        )

    @property
    def slot(self) -> str:
        """The hour it belongs to: a second snapshot in the same hour replaces the first."""
        return self.taken_at[:13]
