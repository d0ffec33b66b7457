"""`WooCommerceEmulator`: the WooCommerce REST API (wc/v3) product reads for one site, on 127.0.0.1.

emu = WooCommerceEmulator(consumer_key="ck_test", consumer_secret="cs_test").start()
emu.base_url                          # "http://127.0.0.1:PORT": the site URL (the store's platform_api_url)
emu.put_product({...}, variations=[...])
emu.delete_product(301)               # gone for good (trash: put it with "status": "trash")
emu.set_faults(rate_429=0.2, retry_after=0.05, seed=7); emu.fail_when(...); emu.requests

Routes, under `/wp-json/wc/v3/`, authenticated with the REST key pair (HTTP Basic, or the
`consumer_key`/`consumer_secret` query parameters):
  GET products                       `page`, `per_page` (≤ 100, default 10), `orderby` (id), `order`
                                     (asc|desc), `include` (ids), `status` (default `any`: everything but
                                     the trash); `X-WP-Total`, `X-WP-TotalPages` and a `Link` header
  GET products/<id>                  404 `woocommerce_rest_product_invalid_id` when unknown
  GET products/<id>/variations       `page`, `per_page`; same headers
Errors are WordPress REST documents `{code, message, data: {status}}`.
"""

from __future__ import annotations

import base64
import copy
import math

from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from emulators.shopify.platform import JsonDict, PlatformEmulator, json_response

MAX_PER_PAGE = 100
DEFAULT_PER_PAGE = 10
VARIATIONS = "_variations"


class WooCommerceEmulator(PlatformEmulator):
    name = "woocommerce"

    def __init__(self, consumer_key: str, consumer_secret: str, host: str = "127.0.0.1", port: int = 0):
        super().__init__(host, port)
        self.key_pairs = {(consumer_key, consumer_secret)}
        self._routes = Map(
            [
                Rule("/wp-json/wc/v3/products", endpoint="products"),
                Rule("/wp-json/wc/v3/products/<int:product_id>", endpoint="product"),
                Rule("/wp-json/wc/v3/products/<int:product_id>/variations", endpoint="variations"),
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
        try:
            endpoint, args = self._routes.bind("woocommerce").match(request.path, method=request.method)
        except HTTPException as error:
            return self.error(error.code or 404, "No route was found matching the URL and request method.")
        return getattr(self, f"_{endpoint}")(request, **args)

    @staticmethod
    def _paging(request: Request) -> tuple[int, int] | Response:
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
        return page, per_page

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
