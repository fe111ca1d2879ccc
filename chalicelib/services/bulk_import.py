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

from dataclasses import dataclass, field

from chalicelib.domain import bulk_rows
from chalicelib.domain import catalog as rules
from chalicelib.domain.attempts import Attempts
from chalicelib.domain.bulk_rows import UNSET, RowInput
from chalicelib.domain.catalog import (
    BUSY,
    CATEGORY_MISSING,
    CHANGED,
    MISSING,
    NAME_TAKEN,
    STOCK_BELOW_RESERVED,
    Category,
    CreateProduct,
    Product,
    UpdateProduct,
    WriteRefused,
)
from chalicelib.domain.clock import utc_now
from chalicelib.domain.errors import TryAgain
from chalicelib.ports import CatalogStore, Services

MAX_TRANSACTION_ITEMS = 100
MAX_ATTEMPTS = 8  # per batch, for refusals caused by concurrent writes (paced by domain/attempts.py)
BUSY_STORE = "the store was too busy to write this row; upload the row again"


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
        """The answer's status; its body is the response model the route documents for it."""
        if not self.errors:
            return 200 if self.dry_run else 201
        return 207 if self.created or self.updated else 400


@dataclass
class PendingCategory:
    """A category path that does not exist yet: `base` is its deepest existing ancestor (None = root)."""

    base: Category | None
    base_key: tuple[str, ...]  # the name keys of the path down to base
    names: tuple[str, ...]  # the levels to create under base, as the file spells them

    @property
    def identity(self) -> tuple:
        return ("new", *self.base_key, *(rules.name_key(n) for n in self.names))


@dataclass
class Planned:
    row: RowInput
    category: Category | PendingCategory
    before: Product | None = None  # the stored product it updates
    fields: tuple[str, ...] = ()


def upload(svc: Services, body: bytes, content_type: str, *, dry_run: bool = False) -> Report:
    kind, data = bulk_rows.read_upload(body, content_type)
    raw = bulk_rows.read_rows(kind, data)
    report = Report(dry_run=dry_run)
    valid: list[RowInput] = []
    for number, checked in bulk_rows.iter_checked(raw):
        if isinstance(checked, dict):
            report.errors[number] = checked
        else:
            valid.append(checked)
    Importer(svc.catalog, report, dry_run).run(valid)
    return report


class Importer:
    def __init__(self, repo: CatalogStore, report: Report, dry_run: bool):
        self.repo = repo
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
        """path key -> the category, a pending one, or an error message.

        Resolved level by level with batched reads: every distinct prefix costs one name-claim read and
        one category read, shared by all the paths through it (two BatchGetItems per level, per 100).
        """
        spelled = {row.path_key: row.path for row in rows}
        found: dict[tuple, Category | None] = {(): None}  # prefix -> category (() is the root)
        absent: set[tuple] = set()
        for depth in range(1, max((len(key) for key in spelled), default=0) + 1):
            asked = sorted({key[:depth] for key in spelled if len(key) >= depth and key[:depth - 1] in found})
            if not asked:
                break
            parent_ids = {prefix: (found[prefix[:-1]].id if found[prefix[:-1]] else None) for prefix in asked}
            children = self.repo.children_named([(parent_ids[prefix], prefix[-1]) for prefix in asked])
            for prefix in asked:
                child = children.get((parent_ids[prefix], prefix[-1]))
                if child is None:
                    absent.add(prefix)
                else:
                    found[prefix] = self._seen(child)
        resolved: dict[tuple, Category | PendingCategory | str] = {}
        for key, path in spelled.items():
            if key in found:
                resolved[key] = found[key]
            elif len(key) == 1:
                resolved[key] = self._anywhere(path[0])
            else:
                depth = max(d for d in range(len(key)) if key[:d] in found)
                resolved[key] = PendingCategory(found[key[:depth]], key[:depth], path[depth:])
        return resolved

    def _anywhere(self, name: str) -> Category | PendingCategory | str:
        """A bare name that is not a top-level category: the only category of that name, if there is one."""
        anywhere = self.repo.categories_named(rules.name_key(name))
        if len(anywhere) > 1:
            return f"{len(anywhere)} categories are named '{name}': give the path, e.g. Parent/{name}"
        if anywhere:
            return self._seen(anywhere[0])
        return PendingCategory(None, (), (name,))

    def _seen(self, category: Category) -> Category:
        self.categories[category.id] = category
        return category

    def _create_categories(self, plans: list[Planned]) -> list[Planned]:
        """Creates the pending categories (parents first, each once); rows whose category cannot be made fail."""
        made: dict[tuple, Category | str] = {}
        kept = []
        for plan in plans:
            if isinstance(plan.category, PendingCategory):
                category = self._make(plan.category, made)
                if isinstance(category, str):
                    self.report.fail(plan.row.row, "category", category)
                    continue
                plan.category = category
            kept.append(plan)
        return kept

    def _make(self, pending: PendingCategory, made: dict[tuple, Category | str]) -> Category | str:
        parent, key = pending.base, pending.base_key
        for name in pending.names:
            key = (*key, rules.name_key(name))
            if key not in made:
                made[key] = self._create_one(name, parent)
            if isinstance(made[key], str):
                return made[key]
            parent = made[key]
        return parent

    def _create_one(self, name: str, parent: Category | None) -> Category | str:
        """One transaction; if a concurrent upload made the same category first, that one is used."""
        try:
            category = rules.new_category(name, parent, utc_now())
        except ValueError as error:
            return str(error)
        for _ in Attempts("bulk category", MAX_ATTEMPTS):
            try:
                self.repo.create_category(category)
                return self._seen(category)
            except TryAgain:  # transient failures outlasted the store's retries: this row fails, the report stays whole
                return BUSY_STORE
            except WriteRefused as refused:
                reasons = {f.reason for f in refused.failures}
                if NAME_TAKEN in reasons:
                    existing = self.repo.child_named(parent.id if parent else None, category.name_key)
                    if existing is not None:
                        return self._seen(existing)
                elif CATEGORY_MISSING in reasons:
                    return f"the category '{parent.name if parent else name}' was deleted during the upload"
        return f"could not create the category '{name}'; upload the row again"

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
            category = plan.category
            if isinstance(category, Category) and category.direct_products:  # from the aggregates: 0 = none
                wanted.setdefault(category.id, set()).add(plan.row.name_key)
        found: list[Product] = []
        for top, group in self._lookup_groups(wanted):
            if top is not None:
                found += self.repo.products_below(top, {i: wanted[i] for i in group})
            else:
                for category_id in group:
                    stored = self.categories[category_id].direct_products
                    found += self.repo.products_named(category_id, wanted[category_id], stored)
        stored_products: dict[tuple[str, str], Product] = {}
        for product in sorted(found, key=lambda p: (p.created_at, p.id)):
            stored_products.setdefault((product.category_id, product.name_key), product)  # oldest same-named one
        for plan in plans:
            if isinstance(plan.category, Category):
                plan.before = stored_products.get((plan.category.id, plan.row.name_key))

    def _lookup_groups(self, wanted: dict[str, set[str]]):
        """(top, category ids): one subtree query under `top` where the file covers most of what it holds,
        else (None, ids) for one query per category. Decided from the aggregates, without reading."""
        by_root: dict[str, list[Category]] = {}
        for category_id in wanted:
            category = self.categories[category_id]
            by_root.setdefault((category.ancestors or (category.id,))[0], []).append(category)
        for members in by_root.values():
            lines = [(*c.ancestors, c.id) for c in members]
            common = 0
            while all(len(line) > common and line[common] == lines[0][common] for line in lines):
                common += 1
            top = self.categories.get(lines[0][common - 1]) if common else None
            needed = sum(c.direct_products for c in members)
            within_reach = top is not None and all(c.depth - top.depth < rules.LEVELS for c in members)
            if len(members) > 2 and within_reach and 2 * needed >= top.average().products_count:
                yield top, [c.id for c in members]
            else:
                yield None, [c.id for c in members]

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
        """Consecutive runs of plans whose transaction holds at most MAX_TRANSACTION_ITEMS items: each
        product's own items (`_own_items`) plus one per category whose aggregates change (an upper bound:
        the categories each counting row's category counts in, `_chain`)."""
        batch, touched, items = [], set(), 0
        for plan in plans:
            chain = self._chain(plan)
            own = self._own_items(plan)
            if batch and items + own + len(touched | chain) > MAX_TRANSACTION_ITEMS:
                yield batch
                batch, touched, items = [], set(), 0
            batch.append(plan)
            touched |= chain
            items += own
        if batch:
            yield batch

    def _chain(self, plan: Planned) -> set[str]:
        return {category_id for category_id, _ in plan.category.levels_up()} if self._counts(plan) else set()

    @staticmethod
    def _own_items(plan: Planned) -> int:
        return 2 if plan.before is None else 1  # a new product comes with its name claim

    def _items(self, batch: list[Planned]) -> int:
        """The most items `batch`'s transaction can hold (the bound `_batches` builds batches with)."""
        touched: set[str] = set()
        for plan in batch:
            touched |= self._chain(plan)
        return sum(self._own_items(plan) for plan in batch) + len(touched)

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
        for _ in Attempts("bulk batch", MAX_ATTEMPTS, deadline=20):
            if not batch:
                return
            if self._items(batch) > MAX_TRANSACTION_ITEMS:
                # A refused row re-planned (an update become a create, a changed price) can count in more
                # categories than before: write the batch as smaller ones, each within the limit.
                for part in self._batches(batch):
                    self._write_batch(part, now)
                return
            writes = [self._write_for(plan, now) for plan in batch]
            delta = rules.write_delta(writes, {p.category.id: p.category for p in batch})
            try:
                self.repo.write(writes, delta)
            except TryAgain:  # transient failures outlasted the store's retries: these rows fail
                for plan in batch:
                    self.report.fail(plan.row.row, "row", BUSY_STORE)
                return
            except WriteRefused as refused:
                batch = self._after_refusal(batch, refused)
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
            if failure.reason == NAME_TAKEN:  # created meanwhile (a concurrent upload): update that one instead
                found = self.repo.claimed_products({plan.category.id: {plan.row.name_key}})
                plan.before = found[0] if found else None
                if not self._plan(plan):
                    dropped.add(failure.index)
            elif failure.reason == STOCK_BELOW_RESERVED:
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

