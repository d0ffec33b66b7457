"""The BigCommerce emulator's HTTP side: a werkzeug WSGI app over `BigCommerceState`.

Routes, under `/stores/<store_hash>/v3` (anything else answers a BigCommerce-shaped 404):
  GET /carts/<cart_id>                  `include=redirect_urls` mints one-time redirect URLs
  GET /customers                        filters `id:in`, `email:in`, `date_modified:min|max`,
                                        `date_created:min|max` (inclusive); `sort`; `page`, `limit`
  GET /customers/subscribers            filters `email`, `id:in`; `page`, `limit`
  PUT /customers/subscribers/<id>       its `consents` (two-way consent, docs/consent.md)
  GET /catalog/products                 `page`, `limit` (≤ 250), `id:in`, `include=variants,images`
  GET /catalog/products/<product_id>    `include=variants,images`
  GET /catalog/summary                  counts over the catalog (what a credential check reads)
  GET|POST /hooks, GET|PUT|DELETE /hooks/<hook_id>   webhook management (hooks.py)
  GET /orders/<order_id>/payment_actions/refunds      an order's refunds (orders.py)
and under `/stores/<store_hash>/v2` (orders.py; v2 errors are `[{status, message}]`):
  GET /orders (filters, `sort`, paged), GET /orders/count, GET /orders/<order_id>,
  GET /orders/<order_id>/products|shipments|coupons   (an empty list or page is 204)
  GET /coupons (`id`, `min_id`, `max_id`, `type`, `exclude_type`, paged; promotions.py)
and the coupon promotions under v3 (promotions.py): GET /promotions, GET /promotions/<id>/codes (cursor-paged).

Order of checks for each request: added latency, an injected fault (429 with
`X-Rate-Limit-Time-Reset-Ms`, or 500), the `X-Auth-Token` header (401 when missing or unknown), the
store hash in the path (404), then the route. Every request is recorded (never its token). Every answer
carries BigCommerce's rate-limit headers.
"""

from __future__ import annotations

import copy
import json
import math
import random
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from .hooks import HookError, HookRegistry, parse_body
from .orders import OrderBook, OrderError
from .promotions import PromotionError, PromotionShelf

JsonDict = dict[str, Any]
STATUS_CODES_DOC = "https://developer.bigcommerce.com/api-docs/getting-started/api-status-codes"
RATE_LIMIT_QUOTA = 150
RATE_LIMIT_WINDOW_MS = 30_000
MAX_RECORDED_REQUESTS = 50_000


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")


@dataclass(frozen=True)
class FaultSettings:
    """Each API request draws once from `random.Random(seed)`: below `rate_429` it is throttled (429
    with `X-Rate-Limit-Time-Reset-Ms: reset_ms`), then below `rate_429 + rate_500` it fails with 500."""

    rate_429: float = 0.0
    rate_500: float = 0.0
    latency_ms: int = 0
    reset_ms: int = 50
    seed: int = 1

    def __post_init__(self) -> None:
        if not (0.0 <= self.rate_429 <= 1.0 and 0.0 <= self.rate_500 <= 1.0):
            raise ValueError("fault rates must be between 0 and 1")
        if self.rate_429 + self.rate_500 > 1.0 + 1e-9:
            raise ValueError("fault rates must add up to at most 1")
        if self.latency_ms < 0 or self.reset_ms < 0:
            raise ValueError("latency_ms and reset_ms must be >= 0")

    def to_json(self) -> JsonDict:
        return asdict(self)


class FaultInjector:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.settings = FaultSettings()
        self._rng = random.Random(self.settings.seed)

    def configure(self, settings: FaultSettings) -> None:
        with self._lock:
            self.settings = settings
            self._rng = random.Random(settings.seed)

    def draw(self) -> int | None:
        """The status of the fault for the next request (429 or 500), or None."""
        with self._lock:
            settings = self.settings
            if not (settings.rate_429 or settings.rate_500):
                return None
            roll = self._rng.random()
        if roll < settings.rate_429:
            return 429
        if roll < settings.rate_429 + settings.rate_500:
            return 500
        return None


@dataclass
class BigCommerceState:
    """The emulator's data: plain dicts shaped like BigCommerce's v3 GET answers (`data` items)."""

    lock: threading.RLock = field(default_factory=threading.RLock)
    carts: dict[str, JsonDict] = field(default_factory=dict)
    customers: dict[int, JsonDict] = field(default_factory=dict)
    subscribers: dict[int, JsonDict] = field(default_factory=dict)
    products: dict[int, JsonDict] = field(default_factory=dict)
    redirect_urls: dict[str, JsonDict] = field(default_factory=dict)
    requests: list[JsonDict] = field(default_factory=list)

    def clear(self) -> None:
        with self.lock:
            for collection in (self.carts, self.customers, self.subscribers, self.products, self.redirect_urls):
                collection.clear()
            self.requests.clear()


class ApiError(Exception):
    """A BigCommerce v3 error answer: `{status, title, type, errors}`."""

    def __init__(self, status: int, title: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{status} {title}")
        self.status = status
        self.title = title
        self.headers = headers or {}

    def body(self) -> JsonDict:
        return {"status": self.status, "title": self.title, "type": STATUS_CODES_DOC, "errors": {}}


class V2ApiError(ApiError):
    """A BigCommerce v2 error answer: `[{status, message}]`."""

    def body(self) -> list[JsonDict]:  # type: ignore[override]
        return [{"status": self.status, "message": self.title}]


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body), status=status, headers=headers, content_type="application/json")


def _int_list(raw: str | None, name: str) -> list[int] | None:
    if raw is None:
        return None
    try:
        return [int(part) for part in raw.split(",") if part.strip()]
    except ValueError as error:
        raise ApiError(422, f"The filter {name} must be a comma-separated list of integers") from error


CUSTOMER_DATE_FILTERS: tuple[tuple[str, str, Callable[[datetime, datetime], bool]], ...] = (
    ("date_modified:min", "date_modified", lambda stored, given: stored >= given),
    ("date_modified:max", "date_modified", lambda stored, given: stored <= given),
    ("date_created:min", "date_created", lambda stored, given: stored >= given),
    ("date_created:max", "date_created", lambda stored, given: stored <= given),
)


def _v3_time(value: str, name: str, strict: bool = True) -> datetime | None:
    """An ISO 8601 date or date-time (naive: UTC). A filter that is none is a 422, as on BigCommerce."""
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError as error:
        if strict:
            raise ApiError(422, f"The filter {name} must be a date or a date-time") from error
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed


def _includes(request: Request) -> set[str]:
    return {part.strip() for part in request.args.get("include", "").split(",") if part.strip()}


def _page(request: Request, items: list[JsonDict], default_limit: int = 50, max_limit: int = 250) -> JsonDict:
    """A v3 collection answer with `meta.pagination`, as BigCommerce pages its lists."""
    try:
        page = max(int(request.args.get("page", 1)), 1)
        limit = min(max(int(request.args.get("limit", default_limit)), 1), max_limit)
    except ValueError as error:
        raise ApiError(422, "page and limit must be integers") from error
    total = len(items)
    total_pages = max(math.ceil(total / limit), 1) if total else 0
    chunk = items[(page - 1) * limit : page * limit]
    links: JsonDict = {"current": f"?page={page}&limit={limit}"}
    if page > 1:
        links["previous"] = f"?page={page - 1}&limit={limit}"
    if page < total_pages:
        links["next"] = f"?page={page + 1}&limit={limit}"
    return {
        "data": chunk,
        "meta": {
            "pagination": {
                "total": total,
                "count": len(chunk),
                "per_page": limit,
                "current_page": page,
                "total_pages": total_pages,
                "links": links,
            }
        },
    }


class BigCommerceApp:
    """The WSGI application: authentication, faults, the request log and the v3 routes."""

    def __init__(self, store_hash: str, access_tokens: Iterable[str], state: BigCommerceState) -> None:
        self.store_hash = store_hash
        self.access_tokens: set[str] = set(access_tokens)
        self.state = state
        self.faults = FaultInjector()
        self.hook_registry = HookRegistry(store_hash)
        self.order_book = OrderBook()
        self.promotion_shelf = PromotionShelf()
        self._v2_routes = Map(
            [
                Rule("/orders", endpoint="orders", methods=["GET"]),
                Rule("/orders/count", endpoint="count", methods=["GET"]),
                Rule("/orders/<int:order_id>", endpoint="order", methods=["GET"]),
                Rule("/orders/<int:order_id>/<any(products,shipments,coupons):kind>", endpoint="list", methods=["GET"]),
                Rule("/coupons", endpoint="coupons", methods=["GET"]),
            ],
            strict_slashes=False,
        )
        self._routes = Map(
            [
                Rule("/carts/<cart_id>", endpoint="cart", methods=["GET"]),
                Rule("/customers", endpoint="customers", methods=["GET"]),
                Rule("/customers/subscribers", endpoint="subscribers", methods=["GET"]),
                Rule("/customers/subscribers/<int:subscriber_id>", endpoint="subscriber", methods=["PUT"]),
                Rule("/catalog/products", endpoint="products", methods=["GET"]),
                Rule("/catalog/products/<int:product_id>", endpoint="product", methods=["GET"]),
                Rule("/catalog/summary", endpoint="catalog_summary", methods=["GET"]),
                # Webhook management (hooks.py), for key rotation; these endpoints take other methods too.
                Rule("/hooks", endpoint="hooks", methods=["GET", "POST"]),
                Rule("/hooks/<int:hook_id>", endpoint="hook", methods=["GET", "PUT", "DELETE"]),
                Rule("/orders/<int:order_id>/payment_actions/refunds", endpoint="order_refunds", methods=["GET"]),
                Rule("/promotions", endpoint="promotions", methods=["GET"]),
                Rule("/promotions/<int:promotion_id>/codes", endpoint="promotion_codes", methods=["GET"]),
            ],
            strict_slashes=False,
        )

    @property
    def storefront(self) -> str:
        return f"https://store-{self.store_hash}.mybigcommerce.com"

    # ----- WSGI -------------------------------------------------------------------------------------------

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = Request(environ)
        fault: int | None = None
        try:
            settings = self.faults.settings
            if settings.latency_ms:
                time.sleep(settings.latency_ms / 1000)
            fault = self.faults.draw()
            if fault == 429:
                raise ApiError(
                    429,
                    "Too many requests",
                    {"X-Rate-Limit-Time-Reset-Ms": str(settings.reset_ms), "X-Rate-Limit-Requests-Left": "0"},
                )
            if fault == 500:
                raise ApiError(500, "Internal Server Error")
            response = self._dispatch(request)
        except ApiError as error:
            response = _json(error.body(), error.status, error.headers)
        except Exception:
            response = _json(ApiError(500, "Internal Server Error").body(), 500)
        self._rate_limit_headers(response)
        self._record(request, response.status_code, fault)
        return response(environ, start_response)

    def _rate_limit_headers(self, response: Response) -> None:
        headers = {
            "X-Rate-Limit-Requests-Quota": str(RATE_LIMIT_QUOTA),
            "X-Rate-Limit-Time-Window-Ms": str(RATE_LIMIT_WINDOW_MS),
            "X-Rate-Limit-Requests-Left": str(RATE_LIMIT_QUOTA - 1),
            "X-Rate-Limit-Time-Reset-Ms": str(RATE_LIMIT_WINDOW_MS // 2),
        }
        for name, value in headers.items():
            response.headers.setdefault(name, value)

    def _record(self, request: Request, status: int, fault: int | None) -> None:
        entry = {
            "method": request.method,
            "path": request.path,
            "query": request.args.to_dict(),
            "status": status,
            "fault": fault,
            "at": now_iso(),
        }
        with self.state.lock:
            self.state.requests.append(entry)
            if len(self.state.requests) > MAX_RECORDED_REQUESTS:
                del self.state.requests[: len(self.state.requests) - MAX_RECORDED_REQUESTS]

    def _dispatch(self, request: Request) -> Response:
        token = request.headers.get("X-Auth-Token")
        if not token or token not in self.access_tokens:
            raise ApiError(401, "Unauthorized: the X-Auth-Token header is missing or not valid for this store")
        v2_prefix = f"/stores/{self.store_hash}/v2"
        if request.path.startswith(v2_prefix + "/"):
            return self._dispatch_v2(request, request.path[len(v2_prefix) :])
        prefix = f"/stores/{self.store_hash}/v3"
        if not (request.path == prefix or request.path.startswith(prefix + "/")):
            raise ApiError(404, "Store not found or route not supported by the emulator")
        adapter = self._routes.bind("api.bigcommerce.com")
        try:
            endpoint, args = adapter.match(request.path[len(prefix) :] or "/", method=request.method)
        except HTTPException as error:
            status = error.code or 404
            raise ApiError(status, "Method Not Allowed" if status == 405 else "The route was not found") from error
        with self.state.lock:
            return getattr(self, f"_get_{endpoint}")(request, **args)

    # ----- routes (called holding the state lock) ---------------------------------------------------------

    def _get_cart(self, request: Request, cart_id: str) -> Response:
        cart = self.state.carts.get(cart_id)
        if cart is None:
            raise ApiError(404, "Cart not found")
        body = copy.deepcopy(cart)
        preset = body.pop("redirect_urls", None)
        if "redirect_urls" in _includes(request):
            body["redirect_urls"] = preset or self._mint_redirect_urls(cart_id)
            self.state.redirect_urls[cart_id] = dict(body["redirect_urls"])
        return _json({"data": body, "meta": {}})

    def _mint_redirect_urls(self, cart_id: str) -> JsonDict:
        """Redirect URLs are single-use on BigCommerce, so every request mints a new token."""
        token = secrets.token_hex(16)
        base = f"{self.storefront}/cart.php"
        return {
            "cart_url": f"{base}?action=load&id={cart_id}&token={token}",
            "checkout_url": f"{base}?action=loadInCheckout&id={cart_id}&token={token}",
            "embedded_checkout_url": f"{base}?embedded=1&action=loadInCheckout&id={cart_id}&token={token}",
        }

    def _get_customers(self, request: Request) -> Response:
        ids = _int_list(request.args.get("id:in"), "id:in")
        emails = request.args.get("email:in")
        wanted_emails = {e.strip().lower() for e in emails.split(",")} if emails is not None else None
        dated = [
            (name, field_name, compare, _v3_time(request.args[name], name))
            for name, field_name, compare in CUSTOMER_DATE_FILTERS
            if request.args.get(name)
        ]

        def keep(customer_id: int, customer: JsonDict) -> bool:
            if ids is not None and customer_id not in ids:
                return False
            if wanted_emails is not None and str(customer.get("email", "")).lower() not in wanted_emails:
                return False
            for _, field_name, compare, given in dated:
                stored = _v3_time(str(customer.get(field_name) or ""), field_name, strict=False)
                if stored is None or not compare(stored, given):
                    return False
            return True

        found = [
            copy.deepcopy(customer)
            for customer_id, customer in sorted(self.state.customers.items())
            if keep(customer_id, customer)
        ]
        sort = request.args.get("sort")
        if sort is not None:
            field_name, _, direction = sort.partition(":")
            if field_name not in ("date_created", "date_modified", "last_name") or direction not in ("asc", "desc"):
                raise ApiError(422, "The sort parameter is not valid")

            def sort_key(customer: JsonDict) -> tuple[Any, int]:
                if field_name == "last_name":
                    return (str(customer.get("last_name", "")), int(customer["id"]))
                stored = _v3_time(str(customer.get(field_name) or ""), field_name, strict=False)
                return (stored or datetime.min.replace(tzinfo=UTC), int(customer["id"]))

            found.sort(key=sort_key, reverse=direction == "desc")
        return _json(_page(request, found))

    def _get_subscribers(self, request: Request) -> Response:
        ids = _int_list(request.args.get("id:in"), "id:in")
        email = request.args.get("email")
        found = [
            copy.deepcopy(subscriber)
            for subscriber_id, subscriber in sorted(self.state.subscribers.items())
            if (ids is None or subscriber_id in ids)
            and (email is None or str(subscriber.get("email", "")).lower() == email.strip().lower())
        ]
        return _json(_page(request, found))

    def _get_subscriber(self, request: Request, subscriber_id: int) -> Response:
        """`PUT /v3/customers/subscribers/<id>`: `consents` (the subscriptions kept: `marketing_newsletter`,
        `abandoned_cart`), validated; two-way consent withdraws the newsletter here (docs/consent.md)."""
        body = parse_body(request.get_data())
        if not isinstance(body, dict):
            raise ApiError(422, "The request body must be an object")
        consents = body.get("consents")
        allowed = {"marketing_newsletter", "abandoned_cart"}
        if consents is not None and (not isinstance(consents, list) or not set(map(str, consents)) <= allowed):
            raise ApiError(422, f"consents must be a list of {', '.join(sorted(allowed))}")
        with self.state.lock:
            subscriber = self.state.subscribers.get(subscriber_id)
            if subscriber is None:
                raise ApiError(404, "The subscriber was not found")
            if consents is not None:
                subscriber["consents"] = list(consents)
            subscriber["date_modified"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            return _json({"data": copy.deepcopy(subscriber), "meta": {}})

    def _product_view(self, product: JsonDict, includes: set[str]) -> JsonDict:
        body = copy.deepcopy(product)
        for sub_resource in ("variants", "images"):
            if sub_resource not in includes:
                body.pop(sub_resource, None)
        return body

    def _get_products(self, request: Request) -> Response:
        ids = _int_list(request.args.get("id:in"), "id:in")
        includes = _includes(request)
        found = [
            self._product_view(product, includes)
            for product_id, product in sorted(self.state.products.items())
            if ids is None or product_id in ids
        ]
        return _json(_page(request, found))

    def _get_product(self, request: Request, product_id: int) -> Response:
        product = self.state.products.get(product_id)
        if product is None:
            raise ApiError(404, "The requested product was not found")
        return _json({"data": self._product_view(product, _includes(request)), "meta": {}})

    def _get_catalog_summary(self, request: Request) -> Response:
        products = list(self.state.products.values())
        variants = sum(len(product.get("variants") or []) or 1 for product in products)
        stock = sum(int(product.get("inventory_level") or 0) for product in products)
        return _json({"data": {"inventory_count": stock, "variant_count": variants}, "meta": {}})

    # ----- webhook management (`/v3/hooks`, see hooks.py); `_dispatch` calls `_get_<endpoint>` for every method

    def _get_hooks(self, request: Request) -> Response:
        try:
            if request.method == "POST":
                return _json({"data": self.hook_registry.create(parse_body(request.get_data())), "meta": {}})
            return _json(self.hook_registry.list(request.args))
        except HookError as error:
            raise ApiError(error.status, error.title) from error

    def _get_hook(self, request: Request, hook_id: int) -> Response:
        try:
            if request.method == "PUT":
                hook = self.hook_registry.update(hook_id, parse_body(request.get_data()))
            elif request.method == "DELETE":
                hook = self.hook_registry.delete(hook_id)
            else:
                hook = self.hook_registry.get(hook_id)
        except HookError as error:
            raise ApiError(error.status, error.title) from error
        return _json({"data": hook, "meta": {}})

    # ----- orders (orders.py): v3 refunds here, the v2 reads in `_dispatch_v2` -------------------------------

    def _get_order_refunds(self, request: Request, order_id: int) -> Response:
        try:
            return _json(self.order_book.refunds(order_id))
        except OrderError as error:
            raise ApiError(error.status, error.message) from error

    # ----- coupon promotions (promotions.py) -------------------------------------------------------------------

    def _get_promotions(self, request: Request) -> Response:
        return _json(self.promotion_shelf.list_promotions(request.args))

    def _get_promotion_codes(self, request: Request, promotion_id: int) -> Response:
        try:
            return _json(self.promotion_shelf.list_codes(promotion_id, request.args))
        except PromotionError as error:
            raise ApiError(error.status, error.message) from error

    def _dispatch_v2(self, request: Request, path: str) -> Response:
        """The v2 order reads: bare JSON, 204 for an empty list, `[{status, message}]` errors."""
        try:
            endpoint, args = self._v2_routes.bind("api.bigcommerce.com").match(path, method=request.method)
        except HTTPException as error:
            status = error.code or 404
            message = "Method Not Allowed" if status == 405 else "The requested resource was not found."
            raise V2ApiError(status, message) from error
        if endpoint == "coupons":
            try:
                coupons = self.promotion_shelf.list_coupons(request.args)
            except PromotionError as error:
                raise V2ApiError(error.status, error.message) from error
            return _json(coupons) if coupons is not None else Response(status=204)
        try:
            if endpoint == "order":
                return _json(self.order_book.order(args["order_id"]))
            if endpoint == "count":
                return _json(self.order_book.count(request.args))
            if endpoint == "orders":
                items = self.order_book.list_orders(request.args)
            else:
                items = self.order_book.page(args["kind"], args["order_id"], request.args)
        except OrderError as error:
            raise V2ApiError(error.status, error.message) from error
        return _json(items) if items is not None else Response(status=204)
