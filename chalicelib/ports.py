"""The ports: what the use cases (chalicelib/services/, the sign-in flow) ask of the outside world.

Each Protocol lists the methods the core actually calls, with the signatures of the real adapters:
- CustomerStore     adapters/dynamodb/customer_repository.py   DynamoCustomerRepository
- CatalogStore      adapters/dynamodb/catalog_repository.py    DynamoCatalogRepository
- OrderStore        adapters/dynamodb/order_repository.py      DynamoOrderRepository
- NotificationStore adapters/dynamodb/notification_repository.py DynamoNotificationRepository
- NotificationQueue adapters/queue.py                           SqsNotificationQueue
- EmailSender       adapters/email.py                           SesEmailSender
- SmsSender         adapters/sms.py                             build_sms_sender (Africa's Talking, local sink)
- SignInProvider    auth/oidc_provider.py, auth/dev_provider.py OidcProvider, DevProvider (api/identity.py picks)
- IdTokenVerifier   auth/tokens.py                              TokenVerifier
`Services` (last below) is what a use case receives: the settings it reads, the delivery knobs and one adapter
per port; `chalicelib/bootstrap.py` implements it, wiring one of each (unit tests pass in-memory fakes). Only
domain types cross a port: this module imports nothing but the domain (an import-linter contract in
pyproject.toml).

Pages are `(items, next cursor or None)`; `now`/`cutoff` arguments are ISO-8601 UTC strings
(`domain/clock.py`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Protocol

from chalicelib.domain.catalog import AggregateDelta, Category, PriceSnapshot, Product, ProductWrite
from chalicelib.domain.customers import Customer, LoginState
from chalicelib.domain.notifications import DeliveryTuning, Notification, NotificationDraft, Receipt
from chalicelib.domain.orders import HistoryEntry, Order, PendingLimits, Placement


class CustomerStore(Protocol):
    def get(self, customer_id: str) -> Customer | None: ...

    def create(self, customer: Customer) -> bool:
        """Conditional put: False (nothing written) when a customer with this id already exists."""
        ...

    def update(self, customer_id: str, updated_at: str, **fields) -> Customer:
        """Sets `fields` (Customer attribute -> value); returns the customer after. NotFound if missing."""
        ...

    def list(self, limit: int, cursor: str | None) -> tuple[list[Customer], str | None]: ...

    def save_login_state(self, state: LoginState) -> None:
        """Keeps a sign-in in progress; Conflict if another one is stored under its key."""
        ...

    def take_login_state(self, key: str) -> LoginState | None:
        """Removes and returns it, once: of two concurrent callers only one gets it."""
        ...


class CatalogStore(Protocol):
    """Categories, products (with their categories' price aggregates) and price snapshots.

    Writes are conditional: a write that meets a concurrent change, a taken name or a missing category
    raises `domain.catalog.WriteRefused` with one failure per refused item (the use case decides)."""

    # --- categories
    def get_category(self, category_id: str) -> Category | None: ...

    def get_categories(self, category_ids: Iterable[str]) -> dict[str, Category]:
        """The ones that exist, by id."""
        ...

    def child_named(self, parent_id: str | None, key: str) -> Category | None:
        """The child of `parent_id` (None = top level) with this name key, read consistently."""
        ...

    def children_named(self, pairs: list[tuple[str | None, str]]) -> dict[tuple[str | None, str], Category]:
        """Many `child_named` lookups at once: {(parent id, name key): category} for those that exist."""
        ...

    def categories_named(self, key: str) -> list[Category]:
        """Every category with this name key, anywhere, read consistently."""
        ...

    def list_categories(self, parent_id: str | None, limit: int,
                        cursor: str | None) -> tuple[list[Category], str | None]:
        """Children of `parent_id` by name ("" = top level); None = every category."""
        ...

    def all_categories(self) -> Iterator[Category]: ...

    def create_category(self, category: Category) -> None:
        """WriteRefused: NAME_TAKEN among its siblings, CATEGORY_MISSING (the parent), BUSY."""
        ...

    def rename_category(self, category: Category, name: str, now: str) -> Category:
        """WriteRefused: NAME_TAKEN, MISSING, CHANGED (since `category` was read), BUSY."""
        ...

    def delete_category(self, category: Category) -> None:
        """WriteRefused: MISSING, NOT_EMPTY (it has products or subcategories), BUSY."""
        ...

    # --- products
    def get_product(self, product_id: str) -> Product | None: ...

    def list_products(self, category: Category | None, descendants: bool, limit: int,
                      cursor: str | None) -> tuple[list[Product], str | None]:
        """All products (category None), a category's own, or (descendants) its whole subtree's."""
        ...

    def products_named(self, category_id: str, keys: set[str], stored: int) -> list[Product]:
        """The products of one category whose name key is in `keys`, read consistently (`stored`: how many
        it holds). Only the attributes an upsert needs are filled in."""
        ...

    def products_below(self, top: Category, wanted: dict[str, set[str]]) -> list[Product]:
        """The products of `top`'s subtree in the categories and with the name keys of `wanted`."""
        ...

    def claimed_products(self, wanted: dict[str, set[str]]) -> list[Product]:
        """{category id: name keys} -> the products holding those names."""
        ...

    def write(self, writes: list[ProductWrite], delta: AggregateDelta) -> list[Product | None]:
        """Applies `writes` and the categories' aggregate `delta` atomically; returns each write's product
        (None for a delete). WriteRefused names the refused writes (by index) and why."""
        ...

    # --- price history
    def save_snapshots(self, snapshots: list[PriceSnapshot]) -> None:
        """Upserts: one snapshot per category and hour."""
        ...

    def list_snapshots(self, category_id: str, limit: int,
                       cursor: str | None) -> tuple[list[PriceSnapshot], str | None]:
        """Newest first."""
        ...

    # --- maintenance (chalicelib/runtime/backfill.py)
    def backfill_name_sets(self) -> int:
        """Indexes categories stored before the name sets existed (idempotent); returns how many."""
        ...

    def backfill_product_claims(self) -> dict[str, int]:
        """Name claims for products stored before claims existed (idempotent); counts by kind."""
        ...


class OrderStore(Protocol):
    """Orders, with their stock reservations, the customers' pending counters and the notification records
    of each event, each change in one transaction."""

    def load_for_placement(self, customer_id: str, product_ids: list[str], order_id: str | None) -> Placement:
        """The customer, the products, the order an Idempotency-Key maps to and the pending counters,
        from one consistent batched read."""
        ...

    def expired(self, cutoff: str, limit: int = 100,
                after: dict | None = None) -> tuple[list[Order], dict | None]:
        """PENDING orders created before `cutoff`, oldest first; (orders, where to continue or None). May
        lag: an order listed may have moved on (the transition's condition finds out)."""
        ...

    def get(self, order_id: str) -> Order | None: ...

    def next_number(self) -> int:
        """A unique, human-facing order number (not gap-free)."""
        ...

    def create(self, order: Order, drafts: list[NotificationDraft], limits: PendingLimits | None = None) -> None:
        """Stores the order, reserves its items, records `drafts` as PENDING notifications and counts it
        against the customer's limits, all or nothing. Raises OrderExists (the id is taken: a replay; from
        adapters/dynamodb/order_repository.py), PendingLimitReached, InsufficientStock or UnknownProducts."""
        ...

    def transition(self, order: Order, target: str, entry: HistoryEntry,
                   drafts: list[NotificationDraft]) -> Order:
        """PENDING -> COMPLETED (deducts stock) or CANCELED (releases it), with `drafts` and the release of the
        pending counters, in one transaction conditioned on the order still being PENDING: InvalidTransition
        otherwise, NotFound if it is gone."""
        ...

    # last: below it, `list` in an annotation would name this method for a type checker
    def list(self, *, customer_id: str | None, status: str | None, limit: int,
             cursor: str | None) -> tuple[list[Order], str | None]:
        """Newest first: a customer's own orders, or (customer_id None) everyone's."""
        ...


class NotificationStore(Protocol):
    """The notification records (the outbox the orders write) and their delivery attempts.

    The `bool` writes are conditional: False when the record was not in the state they expect."""

    def warm_up(self) -> None:
        """Creates the store's client on this thread before a batch fans out to worker threads."""
        ...

    def get(self, notification_id: str) -> Notification | None: ...

    def begin_attempts(self, ids: list[str], now: str,
                       lease_until: str) -> dict[str, tuple[str, Notification | None]]:
        """For each distinct id: if it is PENDING and no attempt is in flight, counts an attempt and takes a
        lease until `lease_until`. {id: (outcome, the record or None)}; outcome: "started" (the caller holds the
        lease and must call the provider), "finished" (SENT or FAILED), "busy" (leased) or "missing"."""
        ...

    def mark_sent_many(self, receipts: dict[str, Receipt], now: str) -> set[str]:
        """PENDING -> SENT with the provider's receipt, for several records at once; returns the ids recorded."""
        ...

    def mark_failed(self, notification_id: str, error: str, now: str) -> bool:
        """PENDING -> FAILED (permanent failure, or the last try)."""
        ...

    def release(self, notification_id: str, error: str, now: str) -> bool:
        """After a transient failure: frees the lease and keeps the error; the record stays PENDING."""
        ...

    def reset_failed(self, notification_id: str, now: str) -> bool:
        """FAILED -> PENDING, for a redriven message."""
        ...

    def touch(self, notification_id: str, seen_updated_at: str, now: str) -> bool:
        """Marks a PENDING record as just re-enqueued, unless it changed since it was read."""
        ...

    def stale_pending(self, cutoff: str, limit: int = 500) -> list[Notification]:
        """PENDING records created and last touched before `cutoff`, oldest first."""
        ...

    def list(self, order_id: str | None, limit: int,
             cursor: str | None) -> tuple[list[Notification], str | None]:
        """Newest first; all records, or one order's."""
        ...


class NotificationQueue(Protocol):
    """The delivery queue (SQS) and its dead-letter queue; messages carry a notification id."""

    dead_letter_name: str

    def send(self, notification_ids: list[str]) -> None:
        """Enqueues the ids; raises if any could not be sent."""
        ...

    def change_visibility(self, delays: dict[str, int]) -> list[str]:
        """{receipt handle: seconds until the message is visible again}; returns the handles that failed."""
        ...

    def dead_letter(self, bodies: list[str]) -> None:
        """Puts raw message bodies on the dead-letter queue."""
        ...

    def receive_dead_letters(self, max_messages: int = 10, hide_seconds: int = 60,
                             wait_seconds: int = 0) -> list[dict]:
        """One receive from the dead-letter queue (SQS message dicts: Body, ReceiptHandle, Attributes)."""
        ...

    def move_back(self, messages: list[dict]) -> None:
        """Sends dead-lettered messages to the main queue again, then deletes them from the dead-letter queue."""
        ...

    def depth(self, dead_letter: bool = False) -> dict[str, int]:
        """Approximate counts: {"visible": n, "in_flight": m, "delayed": k}."""
        ...


class EmailSender(Protocol):
    def send(self, recipient: str, message: str) -> Receipt:
        """`recipient`: one address or several, comma-separated. Raises PermanentDeliveryError or
        TransientDeliveryError (domain/notifications.py)."""
        ...


class SmsSender(Protocol):
    def send(self, to: str, message: str) -> Receipt:
        """`to`: an E.164 number. Raises PermanentDeliveryError or TransientDeliveryError."""
        ...


class SignInProvider(Protocol):
    """The OIDC provider the login flow (services/login.py) sends people to and redeems codes with."""

    def client_id(self) -> str:
        """The OAuth client ID; a 503 `login_not_configured` when sign-in has none."""
        ...

    def authorization_endpoint(self) -> str:
        """Where the browser signs in; a 502 `provider_unavailable` when it cannot be found."""
        ...

    def redeem(self, code: str, login: LoginState) -> str:
        """The ID token for `code`, issued for `login` (its redirect URI, PKCE verifier, nonce): a 400
        `code_exchange_failed` when the provider refuses the code, a 502 when it does not answer."""
        ...


class IdTokenVerifier(Protocol):
    def verify(self, token: str, nonce: str | None = None) -> dict:
        """The token's verified claims (with `nonce`, the token must carry it); Unauthenticated otherwise."""
        ...


class UseCaseSettings(Protocol):
    """The settings the use cases read (chalicelib/config.py Settings has them, among others)."""

    @property
    def admin_emails(self) -> tuple[str, ...]: ...

    @property
    def admin_notification_emails(self) -> tuple[str, ...]: ...

    @property
    def phone_regions(self) -> tuple[str, ...]: ...

    @property
    def max_pending_orders(self) -> int: ...

    @property
    def max_pending_units(self) -> int: ...

    @property
    def order_hold_seconds(self) -> int: ...


class Services(Protocol):
    """Everything a use case may use, passed to it as its first argument (`svc`) by the entrypoints (routes,
    event handlers, the worker, jobs): bootstrap.services() in production, fakes in unit tests."""

    @property
    def settings(self) -> UseCaseSettings: ...

    @property
    def delivery(self) -> DeliveryTuning:
        """The notification delivery knobs (the queue's maxReceiveCount among them), read when asked."""
        ...

    @property
    def customers(self) -> CustomerStore: ...

    @property
    def catalog(self) -> CatalogStore: ...

    @property
    def orders(self) -> OrderStore: ...

    @property
    def notifications(self) -> NotificationStore: ...

    @property
    def queue(self) -> NotificationQueue: ...

    @property
    def email(self) -> EmailSender: ...

    @property
    def sms(self) -> SmsSender: ...
