"""A Mailchimp Marketing API client on requests, with the retry and upsert rules the real API needs.

- Base URL: `MAILCHIMP_API_URL` when set, else `https://<dc>.api.mailchimp.com/3.0` from the key's
  `-<dc>` suffix.
- Retries (urllib3 Retry, exponential backoff with jitter) on 429, 5xx, bare 403 (Mailchimp's CDN
  throttles with an HTML 403) and connect/read timeouts, for every verb: every write here is a PUT,
  a PATCH, a DELETE or a POST inside an upsert whose repeat ends in "already exists", handled below.
- Errors arrive as problem+json and become typed exceptions.
- The key is used only in the Authorization header; nothing here logs it, nor any e-mail address.
- Metrics (docs/operations.md): each call's latency, retries included; every 429, 5xx and 401 answer, each
  attempt counted, so throttling that the retries absorb still shows.
"""

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

import requests
import requests.auth
from pydantic import BaseModel, ConfigDict
from urllib3.exceptions import MaxRetryError
from urllib3.util.retry import Retry

from commerce_sync.aws.metric_names import (
    MAILCHIMP_LATENCY,
    MAILCHIMP_SERVER_ERRORS,
    MAILCHIMP_THROTTLED,
    MAILCHIMP_UNAUTHORIZED,
)
from commerce_sync.aws.observability import logger, record
from commerce_sync.http.sessions import api_session, backoff_retry
from commerce_sync.mailchimp.errors import (
    RETRYABLE_STATUSES,
    MailchimpAlreadyExists,
    MailchimpError,
    MailchimpNotFound,
    problem_error,
)
from commerce_sync.mailchimp.ids import UnsafePathSegment, api_path, store_path
from commerce_sync.mailchimp.models import (
    McCart,
    McCustomer,
    McMemberTags,
    McOrder,
    McProduct,
    McProductVariant,
    McPromoCode,
    McPromoRule,
    McStore,
    McStoreUpdate,
)

DEFAULT_CONNECT_TIMEOUT = 3.05
DEFAULT_READ_TIMEOUT = 20.0
# The most a Mailchimp collection page holds (`count`).
MAX_PAGE = 1000


class ListedProduct(BaseModel):
    # defer_build (here and on ProductIdPage): built when the catalog sync first lists products, not at import by
    # every function that holds a Mailchimp client.
    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True, defer_build=True)

    id: str


class ProductIdPage(BaseModel):
    """A page of the store's products as `fields=products.id,total_items` trims it."""

    model_config = ConfigDict(extra="ignore", defer_build=True)

    products: list[ListedProduct] = []
    total_items: int = 0

    @property
    def ids(self) -> list[str]:
        return [product.id for product in self.products]


class _MailchimpRetry(Retry):
    """urllib3 Retry that treats a 403 *with* a JSON body as final: that is a real Forbidden (role or
    plan), while the CDN's throttling 403 comes as HTML and is worth waiting out."""

    def increment(self, method=None, url=None, response=None, error=None, _pool=None, _stacktrace=None):  # type: ignore[no-untyped-def]
        # urllib3 calls this for every answer in the retried statuses, the last one too (which it then returns
        # rather than retries): the one place that sees each attempt.
        if response is not None:
            _count_retried_answer(response.status)
        if response is not None and response.status == 403 and "json" in (response.headers.get("Content-Type") or ""):
            raise MaxRetryError(_pool, url, "403 with a problem body is not retried")  # type: ignore[arg-type]
        return super().increment(method, url, response, error, _pool, _stacktrace)


def _count_retried_answer(status: int) -> None:
    if status == 429:
        record(name=MAILCHIMP_THROTTLED.name, unit="Count", value=1)
    elif status >= 500:
        record(name=MAILCHIMP_SERVER_ERRORS.name, unit="Count", value=1)


def datacenter_of_key(api_key: str) -> str:
    """The `usN` of a key of the form `<32 hex>-<dc>`."""
    _, separator, datacenter = api_key.rpartition("-")
    if not separator or not datacenter.isalnum():
        raise ValueError("the Mailchimp API key has no datacenter suffix (expected '<key>-usN')")
    return datacenter


def base_url_for_key(api_key: str) -> str:
    """`https://<dc>.api.mailchimp.com/3.0` from a key of the form `<32 hex>-<dc>`."""
    return f"https://{datacenter_of_key(api_key)}.api.mailchimp.com/3.0"


class _OAuthToken(requests.auth.AuthBase):
    """`Authorization: OAuth <token>`, the scheme Mailchimp documents for OAuth 2 access tokens."""

    def __init__(self, token: str) -> None:
        self._token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"OAuth {self._token}"
        return request


@dataclass
class RetryPolicy:
    total: int = 5
    backoff_factor: float = 0.5
    backoff_jitter: float = 0.5
    backoff_max: float = 20.0

    def as_urllib3(self) -> Retry:
        # Every verb: each write here is a PUT, a PATCH, a DELETE or a POST whose repeat ends in "already exists".
        return backoff_retry(
            _MailchimpRetry,
            self.total,
            RETRYABLE_STATUSES,
            self.backoff_factor,
            self.backoff_jitter,
            self.backoff_max,
        )


@dataclass
class MailchimpClient:
    # An API key, or an OAuth access token with auth_scheme "oauth" (commerce_sync.mailchimp.credentials).
    api_key: str = field(repr=False)
    base_url: str | None = None
    auth_scheme: Literal["basic", "oauth"] = "basic"
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    read_timeout: float = DEFAULT_READ_TIMEOUT
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    # One connection per invocation: the template budgets Mailchimp connections per invocation.
    max_connections: int = 1
    session: requests.Session = field(init=False, repr=False)
    # Called before each request while set (`before_each_request`).
    _before_request: Callable[[], None] | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.base_url = (self.base_url or base_url_for_key(self.api_key)).rstrip("/")
        self.session = api_session(
            requests.Session(), self.retry.as_urllib3(), self.max_connections, block=True, proxies_for=self.base_url
        )
        self.session.auth = (
            _OAuthToken(self.api_key) if self.auth_scheme == "oauth" else ("commerce-sync", self.api_key)
        )
        # Mailchimp allows 10 connections per user across every caller; this bounds our own share.
        self._slots = threading.BoundedSemaphore(self.max_connections)

    # ---- transport -------------------------------------------------------------------------------

    @contextmanager
    def _slot(self) -> Iterator[None]:
        with self._slots:
            yield

    @contextmanager
    def before_each_request(self, hook: Callable[[], None]) -> Iterator["MailchimpClient"]:
        """Within the body, `hook` runs before each request (and may refuse it by raising): the event applier takes
        an entity's lease there when it read the entity's state first (commerce_sync.aws.entity_locks)."""
        previous, self._before_request = self._before_request, hook
        try:
            yield self
        finally:
            self._before_request = previous

    def request(self, method: str, path: str, body: dict[str, Any] | None = None, **params: Any) -> Any:
        """`path` comes from `mailchimp_ids.api_path` / `store_path`; it is checked again here, the one place
        every call passes, so no caller can send a path whose segments climb or vanish."""
        check_path(path)
        if self._before_request is not None:
            self._before_request()
        url = f"{self.base_url}{path}"
        try:
            with self._slot():
                # Timed inside the slot: waiting for one is our own budget's doing, not Mailchimp's latency.
                started = time.perf_counter()
                try:
                    response = self.session.request(
                        method,
                        url,
                        json=body,
                        params=params or None,
                        timeout=(self.connect_timeout, self.read_timeout),
                    )
                finally:
                    elapsed_ms = (time.perf_counter() - started) * 1000
                    record(name=MAILCHIMP_LATENCY.name, unit="Milliseconds", value=elapsed_ms)
        except requests.exceptions.RetryError as error:
            raise MailchimpError(0, "Retries exhausted", str(error)) from error
        except requests.exceptions.Timeout as error:
            raise MailchimpError(0, "Timeout", f"{method} {path} timed out after retries") from error
        except requests.exceptions.ConnectionError as error:
            raise MailchimpError(0, "Connection failed", f"{method} {path}: {type(error).__name__}") from error
        logger.debug(
            "mailchimp call",
            method=method,
            path=path,
            status=response.status_code,
            request_id=response.headers.get("X-Request-Id"),
        )
        if response.status_code == 401:
            # Never retried, so not counted with the retried answers.
            record(name=MAILCHIMP_UNAUTHORIZED.name, unit="Count", value=1)
        if response.status_code >= 400:
            raise self._error(response)
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

    @staticmethod
    def _error(response: requests.Response) -> MailchimpError:
        try:
            problem = response.json()
        except ValueError:
            problem = None
        if not isinstance(problem, dict):
            # A CDN page (HTML 403/502/503) rather than a problem document.
            return MailchimpError(response.status_code, response.reason or "HTTP error", "no problem body")
        return problem_error(response.status_code, problem, response.reason or "")

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, **params)

    def _object(self, method: str, path: str, body: dict[str, Any] | None = None, **params: Any) -> dict[str, Any]:
        """A call whose answer is a resource: Mailchimp answers a JSON object (nothing for a 204)."""
        answer = self.request(method, path, body, **params)
        return answer if isinstance(answer, dict) else {}

    # ---- account and stores ----------------------------------------------------------------------

    def ping(self) -> dict[str, Any]:
        return self._object("GET", "/ping")

    def account(self) -> dict[str, Any]:
        return self._object("GET", "/")

    def get_list(self, list_id: str) -> dict[str, Any]:
        """The audience's id and name; MailchimpNotFound when the account has no audience with that id."""
        return self._object("GET", api_path("lists", list_id), fields="id,name")

    def get_store(self, store_id: str) -> dict[str, Any] | None:
        try:
            return self._object("GET", api_path("ecommerce", "stores", store_id))
        except MailchimpNotFound:
            return None

    def ensure_store(self, store: McStore) -> dict[str, Any]:
        """Create the store when Mailchimp lacks it; an existing store is returned as it is (its
        list_id is immutable, so a different audience is reported rather than silently ignored)."""
        existing = self.get_store(store.id)
        if existing is None:
            try:
                return self._object("POST", api_path("ecommerce", "stores"), store.body())
            except MailchimpAlreadyExists:
                existing = self.get(api_path("ecommerce", "stores", store.id))
        if existing.get("list_id") != store.list_id:
            raise ValueError(
                f"Mailchimp store {store.id} is bound to audience {existing.get('list_id')}, "
                f"not {store.list_id}; a store's audience cannot change"
            )
        return existing

    def update_store(self, store_id: str, changes: McStoreUpdate) -> dict[str, Any]:
        return self._object("PATCH", api_path("ecommerce", "stores", store_id), changes.body())

    def delete_store(self, store_id: str) -> bool:
        """Mailchimp deletes the store's customers, orders, products, carts and promo rules with it (not the
        audience's members); True when a store was deleted, one already gone is done."""
        return self._delete(api_path("ecommerce", "stores", store_id))

    # ---- e-commerce resources ----------------------------------------------------------------------

    def upsert_customer(self, store_id: str, customer: McCustomer) -> dict[str, Any]:
        return self._object("PUT", store_path(store_id, "customers", customer.id), customer.body())

    def delete_customer(self, store_id: str, customer_id: str) -> bool:
        """True when a customer was deleted; one already gone is done, not an error."""
        return self._delete(store_path(store_id, "customers", customer_id))

    def upsert_product(self, store_id: str, product: McProduct) -> dict[str, Any]:
        return self._object("PUT", store_path(store_id, "products", product.id), product.body())

    def upsert_variant(self, store_id: str, product_id: str, variant: McProductVariant) -> dict[str, Any]:
        return self._object("PUT", store_path(store_id, "products", product_id, "variants", variant.id), variant.body())

    def create_product(self, store_id: str, product: McProduct) -> bool:
        """POST, which never touches a product Mailchimp already holds: True when created, False when
        one with this id exists (it is left exactly as it is)."""
        try:
            self.request("POST", store_path(store_id, "products"), product.body())
        except MailchimpAlreadyExists:
            return False
        return True

    def create_variant(self, store_id: str, product_id: str, variant: McProductVariant) -> bool:
        """POST, which never touches a variant Mailchimp already holds: True when created, False when
        the product already has a variant with this id."""
        try:
            self.request("POST", store_path(store_id, "products", product_id, "variants"), variant.body())
        except MailchimpAlreadyExists:
            return False
        return True

    def product_ids(self, store_id: str, offset: int, count: int = MAX_PAGE) -> ProductIdPage:
        """The ids of up to `count` of the products Mailchimp holds for the store, from `offset`, and how
        many it holds in all: ids only, so a page of 1,000 is a small answer."""
        answer = self.get(
            store_path(store_id, "products"),
            fields="products.id,total_items",
            offset=offset,
            count=min(count, MAX_PAGE),
        )
        return ProductIdPage.model_validate(answer if isinstance(answer, dict) else {})

    def get_product(self, store_id: str, product_id: str) -> dict[str, Any] | None:
        try:
            return self._object("GET", store_path(store_id, "products", product_id))
        except MailchimpNotFound:
            return None

    def _upsert(
        self,
        store_id: str,
        collection: str,
        resource_id: str,
        body: dict[str, Any],
        patch: dict[str, Any],
        likely_new: bool,
        parents: tuple[str, ...] = (),
    ) -> dict[str, Any]:
        """PATCH-then-POST, or POST-then-PATCH when the caller knows the resource is probably new: either
        way one call in the usual case, and "not found" / "already exists" fall back to the other. `parents`:
        the collection's place under the store (`("promo-rules", rule_id)` for a rule's codes)."""
        items = store_path(store_id, *parents, collection)
        item = store_path(store_id, *parents, collection, resource_id)
        if likely_new:
            try:
                return self._object("POST", items, body)
            except MailchimpAlreadyExists:
                return self._object("PATCH", item, patch)
        try:
            return self._object("PATCH", item, patch)
        except MailchimpNotFound:
            pass
        try:
            return self._object("POST", items, body)
        except MailchimpAlreadyExists:
            return self._object("PATCH", item, patch)

    def upsert_cart(self, store_id: str, cart: McCart, likely_new: bool = False) -> dict[str, Any]:
        """PATCH with the full lines array, POST when new. Never DELETE+POST: that breaks automations."""
        return self._upsert(store_id, "carts", cart.id, cart.body(), cart.patch_body(), likely_new)

    def delete_cart(self, store_id: str, cart_id: str) -> bool:
        """True when a cart was deleted; a cart already gone is done, not an error."""
        return self._delete(store_path(store_id, "carts", cart_id))

    def upsert_order(self, store_id: str, order: McOrder, likely_new: bool = False) -> dict[str, Any]:
        """No PUT for orders (removed from the API); a repeated POST says "already exists"."""
        return self._upsert(store_id, "orders", order.id, order.body(), order.patch_body(), likely_new)

    def delete_order(self, store_id: str, order_id: str) -> bool:
        """True when an order was deleted; one already gone is done, not an error."""
        return self._delete(store_path(store_id, "orders", order_id))

    # ---- promo rules and their codes: no PUT either (NOTES.md §4) ------------------------------------------

    def upsert_promo_rule(self, store_id: str, rule: McPromoRule, likely_new: bool = False) -> dict[str, Any]:
        return self._upsert(store_id, "promo-rules", rule.id, rule.body(), rule.patch_body(), likely_new)

    def delete_promo_rule(self, store_id: str, rule_id: str) -> bool:
        """True when a rule was deleted (Mailchimp deletes its codes with it); one already gone is done."""
        return self._delete(store_path(store_id, "promo-rules", rule_id))

    def upsert_promo_code(
        self, store_id: str, rule_id: str, code: McPromoCode, likely_new: bool = False
    ) -> dict[str, Any]:
        """MailchimpNotFound when Mailchimp has no such rule: a rule is written before its codes."""
        return self._upsert(
            store_id, "promo-codes", code.id, code.body(), code.patch_body(), likely_new, ("promo-rules", rule_id)
        )

    def delete_promo_code(self, store_id: str, rule_id: str, code_id: str) -> bool:
        """True when a code was deleted; one already gone (or whose rule is gone) is done."""
        return self._delete(store_path(store_id, "promo-rules", rule_id, "promo-codes", code_id))

    def _delete(self, resource: str) -> bool:
        try:
            self.request("DELETE", resource)
        except MailchimpNotFound:
            return False
        return True

    # ---- audience members --------------------------------------------------------------------------

    def get_member(self, list_id: str, subscriber_hash: str, **params: Any) -> dict[str, Any] | None:
        try:
            return self._object("GET", api_path("lists", list_id, "members", subscriber_hash), **params)
        except MailchimpNotFound:
            return None

    def update_member(self, list_id: str, subscriber_hash: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._object("PATCH", api_path("lists", list_id, "members", subscriber_hash), body)

    def put_member(self, list_id: str, subscriber_hash: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._object("PUT", api_path("lists", list_id, "members", subscriber_hash), body)

    def archive_member(self, list_id: str, subscriber_hash: str) -> bool:
        """DELETE archives the member (NOTES.md §3); False when there was none."""
        return self._delete(api_path("lists", list_id, "members", subscriber_hash))

    def delete_member_permanently(self, list_id: str, subscriber_hash: str) -> bool:
        """Mailchimp forgets the address: it cannot be re-imported, only sign up again; False when there was none."""
        try:
            self.request("POST", api_path("lists", list_id, "members", subscriber_hash, "actions", "delete-permanent"))
        except MailchimpNotFound:
            return False
        return True

    # ---- audience webhooks (two-way consent, docs/consent.md) -------------------------------------

    def list_webhooks(self, list_id: str) -> list[dict[str, Any]]:
        answer = self._object("GET", api_path("lists", list_id, "webhooks"))
        hooks = answer.get("webhooks") if isinstance(answer, dict) else None
        return [hook for hook in hooks or [] if isinstance(hook, dict)]

    def create_list_webhook(self, list_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """Mailchimp first checks the URL with a GET; a URL that does not answer is a 400 (MailchimpError)."""
        return self._object("POST", api_path("lists", list_id, "webhooks"), body)

    def delete_list_webhook(self, list_id: str, webhook_id: str) -> bool:
        """False when there was none."""
        return self._delete(api_path("lists", list_id, "webhooks", webhook_id))

    def update_member_tags(
        self, list_id: str, subscriber_hash: str, changes: dict[str, bool], is_syncing: bool | None = None
    ) -> bool:
        """Adds (True) and removes (False) the named tags on the member in one request; False when the audience
        has no such member (404). Nothing to change sends nothing."""
        if not changes:
            return True
        body = McMemberTags.of(changes, is_syncing).body()
        try:
            self.request("POST", api_path("lists", list_id, "members", subscriber_hash, "tags"), body)
        except MailchimpNotFound:
            return False
        return True

    # ---- reading a shopper's records back (privacy: erasure and export) -------------------------------------

    def get_customer(self, store_id: str, customer_id: str) -> dict[str, Any] | None:
        try:
            return self._object("GET", store_path(store_id, "customers", customer_id))
        except MailchimpNotFound:
            return None

    def get_order(self, store_id: str, order_id: str) -> dict[str, Any] | None:
        try:
            return self._object("GET", store_path(store_id, "orders", order_id))
        except MailchimpNotFound:
            return None

    def orders_of_customer(self, store_id: str, customer_id: str) -> Iterator[dict[str, Any]]:
        """Every order of a Mailchimp customer (`GET …/orders?customer_id=`), page by page."""
        yield from self._paged(store_path(store_id, "orders"), "orders", customer_id=customer_id)

    def carts(self, store_id: str) -> Iterator[dict[str, Any]]:
        """Every cart of the store, page by page (Mailchimp cannot filter carts by customer)."""
        yield from self._paged(store_path(store_id, "carts"), "carts")

    def _paged(self, path: str, key: str, **params: Any) -> Iterator[dict[str, Any]]:
        offset = 0
        while True:
            try:
                page = self._object("GET", path, count=MAX_PAGE, offset=offset, **params)
            except MailchimpNotFound:
                return
            items = [item for item in page.get(key) or [] if isinstance(item, dict)]
            yield from items
            offset += len(items)
            if not items or offset >= int(page.get("total_items") or 0):
                return


def check_path(value: str) -> None:
    """Refuses a path with an empty, `.` or `..` segment or a raw control character: whatever built it,
    such a path could reach a resource other than the one meant."""
    if not value.startswith("/"):
        raise UnsafePathSegment("a Mailchimp path must start with /")
    segments = value.split("?", 1)[0].split("/")[1:]
    if value != "/" and any(segment in ("", ".", "..") for segment in segments):
        raise UnsafePathSegment("a Mailchimp path segment is empty, '.' or '..'")
    if not value.isprintable():
        raise UnsafePathSegment("a Mailchimp path holds control characters")
