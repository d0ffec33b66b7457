"""`WooCommerceEmulator`: the WooCommerce REST API (wc/v3) reads for one site, on 127.0.0.1: products and
variations (the catalog sync), orders and customers (the history readers, see history.py).

emu = WooCommerceEmulator(consumer_key="ck_test", consumer_secret="cs_test").start()
emu.base_url                          # "http://127.0.0.1:PORT": the site URL (the store's platform_api_url)
emu.put_product({...}, variations=[...])
emu.delete_product(301)               # gone for good (trash: put it with "status": "trash")
emu.put_order({...}); emu.put_customer({...})   # wc/v3 bodies; ids and dates default (history.py)
emu.delete_order(727); emu.delete_customer(58)
emu.put_coupon({...}); emu.delete_coupon(719)   # wc/v3 coupons (trash: put it with "status": "trash")
emu.set_faults(rate_429=0.2, retry_after=0.05, seed=7); emu.fail_when(...); emu.requests
emu.webhooks.add_webhook(topic, delivery_url, secret); emu.webhooks.set_status(id, "disabled")
                                      # the site's webhooks resource (emulators/woocommerce_hooks), on the same
                                      # address: one store's reconciliation reads its history and checks its hooks

Routes, under `/wp-json/wc/v3/`, authenticated with the REST key pair (HTTP Basic, or the
`consumer_key`/`consumer_secret` query parameters):
  GET products                       `page`, `per_page` (≤ 100, default 10), `orderby` (id), `order`
                                     (asc|desc), `include` (ids), `status` (default `any`: everything but
                                     the trash); `X-WP-Total`, `X-WP-TotalPages` and a `Link` header
  GET products/<id>                  404 `woocommerce_rest_product_invalid_id` when unknown
  GET products/<id>/variations       `page`, `per_page`; same headers
  GET orders, orders/<id>            date filters, `orderby`, `order`, `status` (history.py); same headers
  GET customers, customers/<id>      `orderby`, `order`, `role`, `email` (history.py); same headers
  GET coupons, coupons/<id>          `page`, `per_page`, `orderby` (id), `order`, `include`, `status` (as
                                     products: `any` leaves the trash out); same headers
  webhooks, webhooks/<id>            served by the webhooks emulator's app (`emu.webhooks`, its own state)
Errors are WordPress REST documents `{code, message, data: {status}}`.
"""

from __future__ import annotations

import base64
import copy
import math

from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from emulators.shopify.platform import JsonDict, PlatformEmulator, ProductStore, json_response, now_iso
from emulators.woocommerce_hooks import WooCommerceHooksEmulator

from .history import HistoryBook, HistoryError, now_gmt

MAX_PER_PAGE = 100
DEFAULT_PER_PAGE = 10
VARIATIONS = "_variations"


class WooCommerceEmulator(PlatformEmulator):
    name = "woocommerce"

    def __init__(self, consumer_key: str, consumer_secret: str, host: str = "127.0.0.1", port: int = 0):
        super().__init__(host, port)
        self.key_pairs = {(consumer_key, consumer_secret)}
        self.history = HistoryBook()
        self.coupons = ProductStore()
        # A site may cap `per_page` below what was asked (a plugin's rest_*_collection_params filter); the pages
        # then say so in X-WP-TotalPages. None: up to MAX_PER_PAGE, as WooCommerce.
        self.per_page_cap: int | None = None
        # Never started on its own: its state and WSGI app, mounted under this site's REST root.
        self.webhooks = WooCommerceHooksEmulator(consumer_key, consumer_secret)
        self._routes = Map(
            [
                Rule("/wp-json/wc/v3/products", endpoint="products"),
                Rule("/wp-json/wc/v3/products/<int:product_id>", endpoint="product"),
                Rule("/wp-json/wc/v3/products/<int:product_id>/variations", endpoint="variations"),
                Rule("/wp-json/wc/v3/orders", endpoint="orders"),
                Rule("/wp-json/wc/v3/orders/<int:resource_id>", endpoint="order"),
                Rule("/wp-json/wc/v3/customers", endpoint="customers"),
                Rule("/wp-json/wc/v3/customers/<int:resource_id>", endpoint="customer"),
                Rule("/wp-json/wc/v3/coupons", endpoint="coupons"),
                Rule("/wp-json/wc/v3/coupons/<int:coupon_id>", endpoint="coupon"),
            ],
            strict_slashes=False,
        )

    @property
    def base_url(self) -> str:
        """The site URL: a store's `platform_api_url` (and, on a real site, its identity)."""
        return self.root_url

    def put_product(self, product: JsonDict, variations: list[JsonDict] | None = None) -> JsonDict:
        """Adds or replaces a product (wc/v3 JSON, `id` required); `variations` are its variations, whose ids
        also fill the product's `variations` field."""
        stored = copy.deepcopy(product)
        stored[VARIATIONS] = copy.deepcopy(variations or [])
        stored["variations"] = [int(v["id"]) for v in stored[VARIATIONS]]
        stored.setdefault("images", [])
        stored.setdefault("status", "publish")
        return self._public(self.products.put(stored))

    def delete_product(self, product_id: int) -> None:
        self.products.delete(product_id)

    def put_order(self, order: JsonDict) -> JsonDict:
        """Adds or replaces an order (the wc/v3 body, as `GET orders/<id>` answers it); `id` defaults to the next
        free one, `status` to processing, the dates to now."""
        return self.history.put_order(order)

    def put_customer(self, customer: JsonDict) -> JsonDict:
        """Adds or replaces a customer (wc/v3); `id` defaults to the next free one, `role` to customer."""
        return self.history.put_customer(customer)

    def delete_order(self, order_id: int) -> None:
        self.history.delete_order(order_id)

    def delete_customer(self, customer_id: int) -> None:
        self.history.delete_customer(customer_id)

    def put_coupon(self, coupon: JsonDict) -> JsonDict:
        """Adds or replaces a coupon (wc/v3 JSON, `id` and `code` required), with WooCommerce's defaults."""
        stamp = now_iso().replace("+00:00", "")
        stored = {
            "amount": "0.00",
            "status": "publish",
            "discount_type": "fixed_cart",
            "description": "",
            "date_created_gmt": stamp,
            "date_modified_gmt": stamp,
            "date_expires": None,
            "date_expires_gmt": None,
            "usage_count": 0,
            "individual_use": False,
            "product_ids": [],
            "excluded_product_ids": [],
            "usage_limit": None,
            "usage_limit_per_user": None,
            "free_shipping": False,
            "product_categories": [],
            "excluded_product_categories": [],
            "minimum_amount": "0.00",
            "maximum_amount": "0.00",
            "email_restrictions": [],
            **coupon,
        }
        return self.coupons.put(stored)

    def delete_coupon(self, coupon_id: int) -> None:
        self.coupons.delete(coupon_id)

    def reset(self) -> None:
        super().reset()
        self.history.clear()
        self.coupons.clear()
        self.webhooks.reset()

    @staticmethod
    def _public(product: JsonDict) -> JsonDict:
        body = dict(product)
        body.pop(VARIATIONS, None)
        return body

    # ----- HTTP -------------------------------------------------------------------------------------

    def error(self, status: int, message: str, headers: dict[str, str] | None = None, code: str = "") -> Response:
        codes = {401: "woocommerce_rest_cannot_view", 404: "rest_no_route", 429: "too_many_requests"}
        body = {
            "code": code or codes.get(status, "internal_server_error"),
            "message": message,
            "data": {"status": status},
        }
        return json_response(body, status, headers)

    def _authenticated(self, request: Request) -> bool:
        key, secret = request.args.get("consumer_key"), request.args.get("consumer_secret")
        header = request.headers.get("Authorization", "")
        if header.lower().startswith("basic "):
            try:
                key, _, secret = base64.b64decode(header[6:]).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                return False
        return (key, secret) in self.key_pairs

    def dispatch(self, request: Request) -> Response:
        if not self._authenticated(request):
            return self.error(401, "Sorry, you cannot list resources.")
        if request.path.rstrip("/").startswith("/wp-json/wc/v3/webhooks"):
            return Response.from_app(self.webhooks.app, request.environ)
        try:
            endpoint, args = self._routes.bind("woocommerce").match(request.path, method=request.method)
        except HTTPException as error:
            return self.error(error.code or 404, "No route was found matching the URL and request method.")
        try:
            return getattr(self, f"_{endpoint}")(request, **args)
        except HistoryError as error:
            return self.error(error.status, error.message, code=error.code)

    def _paging(self, request: Request) -> tuple[int, int] | Response:
        try:
            page = int(request.args.get("page", 1))
            per_page = int(request.args.get("per_page", DEFAULT_PER_PAGE))
        except ValueError:
            return json_response(
                {"code": "rest_invalid_param", "message": "Invalid parameter(s): page", "data": {"status": 400}}, 400
            )
        if not 1 <= per_page <= MAX_PER_PAGE or page < 1:
            return json_response(
                {"code": "rest_invalid_param", "message": "Invalid parameter(s): per_page", "data": {"status": 400}},
                400,
            )
        return page, min(per_page, self.per_page_cap or per_page)

    def _paged(self, request: Request, items: list[JsonDict], page: int, per_page: int) -> Response:
        total = len(items)
        total_pages = math.ceil(total / per_page) if total else 0
        chunk = items[(page - 1) * per_page : page * per_page]
        links = []
        url = f"{self.base_url}{request.path}"
        if page < total_pages:
            links.append(f'<{url}?page={page + 1}&per_page={per_page}>; rel="next"')
        if page > 1:
            links.append(f'<{url}?page={page - 1}&per_page={per_page}>; rel="prev"')
        headers = {"X-WP-Total": str(total), "X-WP-TotalPages": str(total_pages)}
        if links:
            headers["Link"] = ", ".join(links)
        return json_response(chunk, headers=headers)

    def _products(self, request: Request) -> Response:
        paging = self._paging(request)
        if isinstance(paging, Response):
            return paging
        page, per_page = paging
        include = {int(i) for i in request.args.get("include", "").split(",") if i.strip().isdigit()}
        status = request.args.get("status", "any")

        def keep(product: JsonDict) -> bool:
            if include and int(product["id"]) not in include:
                return False
            state = product.get("status", "publish")
            return state != "trash" if status == "any" else state == status

        if request.args.get("order", "asc") not in ("asc", "desc"):
            return self.error(400, "Invalid parameter(s): order", code="rest_invalid_param")
        # The whole filtered list per request: fine for fixture catalogs (the large generated catalog of
        # the benchmark is served by the Shopify emulator, which pages by key).
        items = [self._public(product) for product in self.products.all(keep)]
        if request.args.get("order") == "desc":
            items.reverse()
        return self._paged(request, items, page, per_page)

    def _product(self, request: Request, product_id: int) -> Response:
        product = self.products.get(product_id)
        if product is None:
            return self.error(404, "Invalid ID.", code="woocommerce_rest_product_invalid_id")
        return json_response(self._public(product))

    def _variations(self, request: Request, product_id: int) -> Response:
        product = self.products.get(product_id)
        if product is None:
            return self.error(404, "Invalid ID.", code="woocommerce_rest_product_invalid_id")
        paging = self._paging(request)
        if isinstance(paging, Response):
            return paging
        page, per_page = paging
        return self._paged(request, list(product.get(VARIATIONS, [])), page, per_page)

    # ----- coupons -----------------------------------------------------------------------------------------

    def _coupons(self, request: Request) -> Response:
        paging = self._paging(request)
        if isinstance(paging, Response):
            return paging
        include = {int(i) for i in request.args.get("include", "").split(",") if i.strip().isdigit()}
        status = request.args.get("status", "any")

        def keep(coupon: JsonDict) -> bool:
            if include and int(coupon["id"]) not in include:
                return False
            state = coupon.get("status", "publish")
            return state != "trash" if status == "any" else state == status

        items = list(self.coupons.all(keep))
        if request.args.get("order") == "desc":
            items.reverse()
        return self._paged(request, items, *paging)

    def _coupon(self, request: Request, coupon_id: int) -> Response:
        coupon = self.coupons.get(coupon_id)
        if coupon is None:
            return self.error(404, "Invalid ID.", code="woocommerce_rest_shop_coupon_invalid_id")
        return json_response(coupon)

    # ----- orders and customers (history.py) -------------------------------------------------------------

    def _orders(self, request: Request) -> Response:
        paging = self._paging(request)
        if isinstance(paging, Response):
            return paging
        return self._paged(request, self.history.list_orders(request.args), *paging)

    def _order(self, request: Request, resource_id: int) -> Response:
        return json_response(self.history.order(resource_id))

    def _customers(self, request: Request) -> Response:
        paging = self._paging(request)
        if isinstance(paging, Response):
            return paging
        return self._paged(request, self.history.list_customers(request.args), *paging)

    def _customer(self, request: Request, resource_id: int) -> Response:
        if request.method in ("PUT", "POST", "PATCH"):
            return self._customer_update(request, resource_id)
        return json_response(self.history.customer(resource_id))

    def _customer_update(self, request: Request, resource_id: int) -> Response:
        """`PUT customers/<id>` with `meta_data` [{key, value}] (two-way consent writes its consent meta there): an
        entry of a key the customer has is replaced, a new key added, as WooCommerce's update does; 400
        `rest_invalid_param` for a `meta_data` that is not a list of {key, value}."""
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return self.error(400, "Invalid JSON body.", code="rest_invalid_json")
        meta = body.get("meta_data", [])
        if not isinstance(meta, list) or not all(isinstance(m, dict) and isinstance(m.get("key"), str) for m in meta):
            return self.error(400, "Invalid parameter(s): meta_data", code="rest_invalid_param")
        customer = self.history.customer(resource_id)
        held = list(customer.get("meta_data") or [])
        for entry in meta:
            existing = next((m for m in held if m.get("key") == entry["key"]), None)
            if existing is not None:
                existing["value"] = entry.get("value")
            else:
                held.append({"id": len(held) + 1, "key": entry["key"], "value": entry.get("value")})
        moment = now_gmt()
        customer.update(meta_data=held, date_modified_gmt=moment, date_modified=moment)
        with self.history.lock:
            self.history.customers[int(resource_id)] = customer
        return json_response(customer)
