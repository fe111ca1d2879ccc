"""Bulk upload (SPEC §6): upsert products by (category, name) from a CSV or JSON file.

1. Read and check the whole file first (structural errors: nothing is written).
2. Resolve each row's category path; in a real run create the missing categories.
3. Look up existing products per category (one query per category, or per name for a few names).
4. Plan a create or an update per row; rows that change nothing are counted as updated, not written.
5. Write in transactions of up to 100 items: the products and, in the same transaction, the
   aggregate changes of their categories — so the average price is right after every transaction.
   A refused item (concurrent edit, stock below reserved, deleted category) is re-planned or becomes
   that row's error; the rest of the batch is retried.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from chalicelib.adapters.dynamodb.base import utc_now
from chalicelib.bootstrap import services
from chalicelib.domain import bulk_rows
from chalicelib.domain import catalog as rules
from chalicelib.domain.bulk_rows import UNSET, RowInput
from chalicelib.domain.catalog import (
    BUSY,
    CATEGORY_MISSING,
    CHANGED,
    MISSING,
    STOCK_BELOW_RESERVED,
    Category,
    CreateProduct,
    Product,
    UpdateProduct,
    WriteRefused,
)
from chalicelib.domain.errors import DomainError

MAX_TRANSACTION_ITEMS = 100
MAX_ATTEMPTS = 8  # per batch, for refusals caused by concurrent writes


@dataclass
class Report:
    dry_run: bool
    created: int = 0
    updated: int = 0
    errors: dict[int, dict[str, list[str]]] = field(default_factory=dict)

    def fail(self, row: int, field_name: str, message: str) -> None:
        self.errors.setdefault(row, {}).setdefault(field_name, []).append(message)

    @property
    def status(self) -> int:
        if not self.errors:
            return 200 if self.dry_run else 201
        return 207 if self.created or self.updated else 400

    def body(self) -> dict:
        body = {
            "products_created": self.created,
            "products_updated": self.updated,
            "errors": [{"row": row, "errors": self.errors[row]} for row in sorted(self.errors)],
        }
        if self.dry_run:
            body["dry_run"] = True
        if self.status == 400:  # none applied: also the error envelope every 4xx carries
            body = {
                "error": {
                    "code": "no_rows_applied",
                    "message": "no row of the file could be applied; see errors",
                    "details": {"errors": body["errors"]},
                },
                **body,
            }
        return body


@dataclass
class PendingCategory:
    """A category path that does not exist yet: `base` is its deepest existing ancestor (None = root)."""

    base: Category | None
    names: tuple[str, ...]  # the levels to create under base

    @property
    def identity(self) -> tuple:
        return ("new", self.base.id if self.base else None, tuple(rules.name_key(n) for n in self.names))


@dataclass
class Planned:
    row: RowInput
    category: Category | PendingCategory
    before: Product | None = None  # the stored product it updates
    fields: tuple[str, ...] = ()


def upload(body: bytes, content_type: str, *, dry_run: bool = False) -> Report:
    kind, data = bulk_rows.read_upload(body, content_type)
    raw = bulk_rows.read_rows(kind, data)
    report = Report(dry_run=dry_run)
    valid: list[RowInput] = []
    for number, checked in bulk_rows.iter_checked(raw):
        if isinstance(checked, dict):
            report.errors[number] = checked
        else:
            valid.append(checked)
    Importer(report, dry_run).run(valid)
    return report


class Importer:
    def __init__(self, report: Report, dry_run: bool):
        self.repo = services().catalog
        self.report = report
        self.dry_run = dry_run
        self.categories: dict[str, Category] = {}  # every category seen, by id

    def run(self, rows: list[RowInput]) -> None:
        resolved = self._resolve_paths(rows)
        plans = self._deduplicate(rows, resolved)
        self._find_existing(plans)
        plans = [p for p in plans if self._plan(p)]
        if self.dry_run:
            for plan in plans:
                if plan.before is None:
                    self.report.created += 1
                else:
                    self.report.updated += 1
            return
        plans = self._create_categories(plans)
        self._write(plans)

    # --- categories

    def _resolve_paths(self, rows: list[RowInput]) -> dict[tuple, Category | PendingCategory | str]:
        """path key -> the category, a pending one, or an error message."""
        resolved: dict[tuple, Category | PendingCategory | str] = {}
        for row in rows:
            if row.path_key not in resolved:
                resolved[row.path_key] = self._resolve(row.path)
        return resolved

    def _resolve(self, path: tuple[str, ...]) -> Category | PendingCategory | str:
        if len(path) == 1:
            top = self.repo.child_named(None, rules.name_key(path[0]))
            if top is not None:
                return self._seen(top)
            anywhere = self.repo.categories_named(rules.name_key(path[0]))
            if len(anywhere) > 1:
                return f"{len(anywhere)} categories are named '{path[0]}': give the path, e.g. Parent/{path[0]}"
            if anywhere:
                return self._seen(anywhere[0])
            return PendingCategory(None, path)
        parent = None
        for depth, name in enumerate(path):
            child = self.repo.child_named(parent.id if parent else None, rules.name_key(name))
            if child is None:
                return PendingCategory(parent, path[depth:])
            parent = self._seen(child)
        return parent

    def _seen(self, category: Category) -> Category:
        self.categories[category.id] = category
        return category

    def _create_categories(self, plans: list[Planned]) -> list[Planned]:
        """Creates the pending categories (parents first); rows whose category cannot be made fail."""
        made: dict[tuple, Category | str] = {}
        kept = []
        for plan in plans:
            if isinstance(plan.category, PendingCategory):
                identity = plan.category.identity
                if identity not in made:
                    made[identity] = self._make(plan.category)
                if isinstance(made[identity], str):
                    self.report.fail(plan.row.row, "category", made[identity])
                    continue
                plan.category = made[identity]
            kept.append(plan)
        return kept

    def _make(self, pending: PendingCategory) -> Category | str:
        from chalicelib.services import catalog as catalog_service

        parent = pending.base
        for name in pending.names:
            existing = self.repo.child_named(parent.id if parent else None, rules.name_key(name))
            if existing is None:
                try:
                    existing = catalog_service.create_category(name, parent.id if parent else None)
                except DomainError as error:  # a concurrent upload created it, or the parent vanished
                    existing = self.repo.child_named(parent.id if parent else None, rules.name_key(name))
                    if existing is None:
                        return f"could not create category '{name}': {error.message}"
            parent = self._seen(existing)
        return parent

    # --- rows

    def _deduplicate(self, rows: list[RowInput], resolved: dict) -> list[Planned]:
        plans, first_row = [], {}
        for row in rows:
            category = resolved[row.path_key]
            if isinstance(category, str):
                self.report.fail(row.row, "category", category)
                continue
            identity = category.identity if isinstance(category, PendingCategory) else category.id
            key = (identity, row.name_key)
            if key in first_row:
                self.report.fail(row.row, "name", f"repeats row {first_row[key]} (same name in the same category)")
                continue
            first_row[key] = row.row
            plans.append(Planned(row, category))
        return plans

    def _find_existing(self, plans: list[Planned]) -> None:
        wanted: dict[str, set[str]] = {}
        for plan in plans:
            if isinstance(plan.category, Category):
                wanted.setdefault(plan.category.id, set()).add(plan.row.name_key)
        stored: dict[tuple[str, str], Product] = {}
        for category_id, keys in wanted.items():
            for product in sorted(self.repo.products_named(category_id, keys), key=lambda p: (p.created_at, p.id)):
                stored.setdefault((category_id, product.name_key), product)  # the oldest of same-named ones
        for plan in plans:
            if isinstance(plan.category, Category):
                plan.before = stored.get((plan.category.id, plan.row.name_key))

    def _plan(self, plan: Planned) -> bool:
        """Works out an update's fields and checks it against the stored product; False = row error."""
        row, before = plan.row, plan.before
        if before is None:
            return True
        changes = self._changes(row, before)
        discount = changes.get("discount_price_cents", before.discount_price_cents)
        blamed = "discount_price" if row.discount_price_cents is not UNSET else "price"
        try:
            rules.check_discount_below_price(row.price_cents, discount, blamed)
        except ValueError as error:  # the file's price against the discount the product keeps
            self.report.fail(row.row, blamed, str(error))
            return False
        if "stock" in changes and row.stock < before.reserved:
            self.report.fail(row.row, "stock", f"must be at least {before.reserved} (reserved by pending orders)")
            return False
        plan.fields = tuple(changes)
        return True

    @staticmethod
    def _changes(row: RowInput, before: Product) -> dict:
        wanted = {"name": row.name, "price_cents": row.price_cents, "stock": row.stock}
        if row.discount_price_cents is not UNSET:
            wanted["discount_price_cents"] = row.discount_price_cents
        return {k: v for k, v in wanted.items() if getattr(before, k) != v}

    # --- writing

    def _write(self, plans: list[Planned]) -> None:
        now = utc_now()
        pending = []
        for plan in sorted(plans, key=lambda p: (p.category.path, p.row.row)):
            if plan.before is not None and not plan.fields:
                self.report.updated += 1  # already as the file says: nothing to write
            else:
                pending.append(plan)
        for batch in self._batches(pending):
            self._write_batch(batch, now)

    def _batches(self, plans: list[Planned]):
        batch, touched = [], set()
        for plan in plans:
            chain = {category_id for category_id, _ in plan.category.levels_up()} if self._counts(plan) else set()
            if batch and len(batch) + 1 + len(touched | chain) > MAX_TRANSACTION_ITEMS:
                yield batch
                batch, touched = [], set()
            batch.append(plan)
            touched |= chain
        if batch:
            yield batch

    @staticmethod
    def _counts(plan: Planned) -> bool:
        """Whether the row changes its category's aggregates (a new product, or a new price)."""
        return plan.before is None or "price_cents" in plan.fields

    def _write_for(self, plan: Planned, now: str):
        row = plan.row
        if plan.before is None:
            discount = None if row.discount_price_cents is UNSET else row.discount_price_cents
            product = rules.new_product(row.name, row.price_cents, discount, row.stock, plan.category.id, now)
            return CreateProduct(product, plan.category.path)
        changes = {name: getattr(row, name) for name in plan.fields}
        return UpdateProduct(plan.before, rules.edited(plan.before, changes, now), plan.fields, plan.category.path)

    def _write_batch(self, batch: list[Planned], now: str) -> None:
        for attempt in range(MAX_ATTEMPTS):
            if not batch:
                return
            writes = [self._write_for(plan, now) for plan in batch]
            delta = rules.write_delta(writes, {p.category.id: p.category for p in batch})
            try:
                self.repo.write(writes, delta)
            except WriteRefused as refused:
                batch = self._after_refusal(batch, refused)
                time.sleep(min(0.01 * 2**attempt, 0.2))
                continue
            for plan in batch:
                if plan.before is None:
                    self.report.created += 1
                else:
                    self.report.updated += 1
            return
        for plan in batch:
            self.report.fail(plan.row.row, "row", "the product kept changing during the upload; upload the row again")

    def _after_refusal(self, batch: list[Planned], refused: WriteRefused) -> list[Planned]:
        """The batch to try again: refused rows re-planned against what is stored now, or dropped with errors."""
        dropped: set[int] = set()
        for failure in refused.failures:
            if failure.reason == BUSY:
                continue
            if failure.reason == CATEGORY_MISSING:
                for index, plan in enumerate(batch):
                    if failure.category_id in {c for c, _ in plan.category.levels_up()} and self._counts(plan):
                        self.report.fail(plan.row.row, "category", "the category was deleted during the upload")
                        dropped.add(index)
                continue
            plan = batch[failure.index]
            if failure.reason == STOCK_BELOW_RESERVED:
                reserved = failure.current.reserved
                self.report.fail(plan.row.row, "stock", f"must be at least {reserved} (reserved by pending orders)")
                dropped.add(failure.index)
            elif failure.reason in (MISSING, CHANGED):
                # Deleted since it was read: create it again; changed: plan against the stored product.
                plan.before = failure.current if failure.reason == CHANGED else None
                if plan.before is not None and plan.before.category_id != plan.category.id:
                    plan.before = None  # moved to another category meanwhile: this category gets a new one
                if not self._plan(plan):
                    dropped.add(failure.index)
        kept = [plan for index, plan in enumerate(batch) if index not in dropped]
        done = [plan for plan in kept if plan.before is not None and not plan.fields]
        self.report.updated += len(done)
        return [plan for plan in kept if plan not in done]

