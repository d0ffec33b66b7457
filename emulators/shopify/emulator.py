"""`ShopifyEmulator`: the Admin REST API's product reads for one shop, on 127.0.0.1.

emu = ShopifyEmulator("demo.myshopify.com", access_token="shpat_test").start()
emu.base_url                          # "http://127.0.0.1:PORT": the store's platform_api_url
emu.put_product({...})                # REST product JSON (events/shopify_product_update_body.json)
emu.delete_product(632910392)
emu.products.generate(100_000, generated_product)   # a large catalog computed on demand
emu.set_faults(rate_429=0.2, retry_after=0.05, latency_ms=0, seed=7)
emu.fail_when(lambda path, query: 500 if query.get("page_info") else None)
emu.requests                          # [{method, path, query, status, fault, at}]

Routes, under `/admin/api/<version>/` (any version), `X-Shopify-Access-Token` required:
  GET products.json          `limit` (≤ 250, default 50), first request filters `ids`, `since_id`, `status`;
                             cursor pagination: a `Link` header with rel="next"/"previous" `page_info`
                             (a request with `page_info` may carry only `limit` and `fields`, else 400)
  GET products/<id>.json     `{"product": {...}}`, 404 when unknown
  GET products/count.json    `{"count": n}`
  GET shop.json              `{"shop": {...}}`: the shop's settings (what a credential check reads)
  GET orders.json            first request: `status` (any, open, closed, cancelled; default open), `updated_at_min`,
                             `updated_at_max`, `order` (only `updated_at asc`), `limit`; then `page_info` as above.
                             Sorted by updated_at, then id (emulators/shopify/history.py)
  GET orders/count.json      `{"count": n}` with the same filters
  GET orders/<id>.json       `{"order": {...}}`, 404 when unknown
  GET customers.json         `updated_at_min`, `updated_at_max`, `limit`, then `page_info`; sorted as orders
  GET customers/count.json   `{"count": n}`
  GET customers/<id>.json    `{"customer": {...}}`, 404 when unknown
  GET customers/search.json  `query=email:ADDRESS` only: `{"customers": [...]}` with that address
  PUT customers/<id>.json    its `email_marketing_consent` (validated; 422 with Shopify's errors); a changed consent
                             delivers `customers/update` to the subscriptions of that topic (customer_consent.py)
  GET price_rules.json       `limit` (≤ 250, default 50), then `page_info` as products; rules in id order
  GET price_rules/<id>.json  `{"price_rule": {...}}`, 404 when unknown
  GET price_rules/<id>/discount_codes.json   the rule's codes, `limit` and `page_info` the same way
emu.put_price_rule({...}, codes=[...]); emu.delete_price_rule(id); emu.put_discount_code(rule_id, {...})
emu.delete_discount_code(id); emu.discounts.generate(...)     # emulators/shopify/discounts.py
emu.put_order({...}); emu.put_customer({...})   # REST JSON (history_order / history_customer in history.py)

Webhook subscriptions (emulators/shopify/webhooks.py): each app (access token) lists and changes only its own.
  GET webhooks.json          `limit` (≤ 250, default 50), `since_id`, `topic`, `address`; then `page_info` as above
  GET webhooks/count.json    `{"count": n}`, `topic`, `address`
  GET webhooks/<id>.json     `{"webhook": {...}}`, 404 when unknown or another app's
  POST webhooks.json         `{"webhook": {"topic", "address", "format"}}`: 201, or 422 with Shopify's errors
  DELETE webhooks/<id>.json  `{}`
emu.add_webhook("orders/create", "https://…/webhooks/shopify")   # as the app (the first token) made it
emu.add_webhook("orders/create", url, made_in_admin=True)          # the shop admin's: no app lists it
emu.remove_webhook(id)                                             # as Shopify removes one whose deliveries fail
emu.webhook_subscriptions()                                        # every one, the admin's too
emu.webhooks.allowed_topics.discard("carts/create")                # an app without that topic's access scope
Every answer carries `X-Shopify-Shop-Api-Call-Limit`; a throttled one is 429 with `Retry-After`.
Products are returned in id order, as Shopify pages them.
"""

from __future__ import annotations

import base64
import copy
import json
from typing import Any

from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from .customer_consent import CustomerWebhooks, consent_errors
from .discounts import DiscountBook
from .history import RESOURCES, HistoryStore, parse_time
from .platform import JsonDict, PlatformEmulator, json_response, now_iso
from .webhooks import WebhookSubscriptions

MAX_LIMIT = 250
DEFAULT_LIMIT = 50
BUCKET_SIZE = 40
INVALID_TOKEN = "[API] Invalid API key or access token (unrecognized login or wrong password)"


def _encode(cursor: JsonDict) -> str:
    return base64.urlsafe_b64encode(json.dumps(cursor, separators=(",", ":")).encode()).decode().rstrip("=")


def _decode(page_info: str) -> JsonDict:
    padded = page_info + "=" * (-len(page_info) % 4)
    return json.loads(base64.urlsafe_b64decode(padded.encode()))


class ShopifyEmulator(PlatformEmulator):
    name = "shopify"

    def __init__(self, shop_domain: str, access_token: str | list[str], host: str = "127.0.0.1", port: int = 0):
        super().__init__(host, port)
        self.shop_domain = shop_domain
        tokens = [access_token] if isinstance(access_token, str) else list(access_token)
        self.access_tokens = set(tokens)
        # Whose subscriptions `add_webhook` makes unless told: the app of the first token given.
        self.app_token = tokens[0] if tokens else None
        self.webhooks = WebhookSubscriptions()
        # Serve pages of at most this many products (orders, customers, webhook subscriptions) whatever `limit` asks:
        # a test of paging gets many pages from a few items without reaching into the code under test (which may
        # run in another process).
        self.page_size_cap: int | None = None
        self.history = {resource: HistoryStore() for resource in RESOURCES}
        self.discounts = DiscountBook()
        # What a customer's consent change delivers (customer_consent.py); set `customer_webhooks.signing_secret`
        # to the store's webhook secret for the deliveries to pass the receiver's signature check.
        self.customer_webhooks = CustomerWebhooks()
        self._routes = Map(
            [
                Rule(
                    "/admin/api/<version>/<any(orders, customers):resource>.json", endpoint="history", methods=["GET"]
                ),
                Rule(
                    "/admin/api/<version>/<any(orders, customers):resource>/count.json",
                    endpoint="history_count",
                    methods=["GET"],
                ),
                Rule("/admin/api/<version>/orders/<int:order_id>.json", endpoint="history_order", methods=["GET"]),
                Rule("/admin/api/<version>/customers/search.json", endpoint="customer_search", methods=["GET"]),
                Rule("/admin/api/<version>/customers/<int:customer_id>.json", endpoint="customer", methods=["GET"]),
                Rule(
                    "/admin/api/<version>/customers/<int:customer_id>.json",
                    endpoint="customer_update",
                    methods=["PUT"],
                ),
                Rule("/admin/api/<version>/products.json", endpoint="products", methods=["GET"]),
                Rule("/admin/api/<version>/products/count.json", endpoint="count", methods=["GET"]),
                Rule("/admin/api/<version>/products/<int:product_id>.json", endpoint="product", methods=["GET"]),
                Rule("/admin/api/<version>/shop.json", endpoint="shop", methods=["GET"]),
                Rule("/admin/api/<version>/webhooks.json", endpoint="webhooks", methods=["GET"]),
                Rule("/admin/api/<version>/webhooks.json", endpoint="webhook_create", methods=["POST"]),
                Rule("/admin/api/<version>/webhooks/count.json", endpoint="webhook_count", methods=["GET"]),
                Rule("/admin/api/<version>/webhooks/<int:webhook_id>.json", endpoint="webhook", methods=["GET"]),
                Rule(
                    "/admin/api/<version>/webhooks/<int:webhook_id>.json",
                    endpoint="webhook_delete",
                    methods=["DELETE"],
                ),
                Rule("/admin/api/<version>/price_rules.json", endpoint="price_rules", methods=["GET"]),
                Rule("/admin/api/<version>/price_rules/<int:rule_id>.json", endpoint="price_rule", methods=["GET"]),
                Rule(
                    "/admin/api/<version>/price_rules/<int:rule_id>/discount_codes.json",
                    endpoint="discount_codes",
                    methods=["GET"],
                ),
            ]
        )

    @property
    def base_url(self) -> str:
        """A store's `platform_api_url` (Shopify's is `https://{shop}.myshopify.com`)."""
        return self.root_url

    def put_product(self, product: JsonDict) -> JsonDict:
        """Adds or replaces a product (REST JSON; `id` required). `variants` and `images` default to []."""
        stored = dict(product)
        stored.setdefault("variants", [])
        stored.setdefault("images", [])
        return self.products.put(stored)

    def delete_product(self, product_id: int) -> None:
        self.products.delete(product_id)

    def put_order(self, order: JsonDict) -> JsonDict:
        return self.history["orders"].put(order)

    def put_customer(self, customer: JsonDict) -> JsonDict:
        return self.history["customers"].put(customer)

    def add_webhook(
        self, topic: str, address: str, made_in_admin: bool = False, access_token: str | None = None
    ) -> JsonDict:
        """A subscription as the app of `access_token` (default: the first token) made it through the API, or, with
        `made_in_admin`, as the merchant made it in the shop's admin (no app lists it). No check of its fields."""
        owner = None if made_in_admin else access_token or self.app_token
        return self.webhooks.add(topic, address, owner, "2026-10")

    def remove_webhook(self, webhook_id: int | str) -> bool:
        """As Shopify removes a subscription whose deliveries kept failing through its retries."""
        return self.webhooks.delete(int(webhook_id))

    def webhook(self, webhook_id: int | str) -> JsonDict | None:
        return self.webhooks.get(int(webhook_id))

    def webhook_subscriptions(self, access_token: str | None = None) -> list[JsonDict]:
        """The subscriptions of the app of `access_token`; without one, every subscription, the admin's too."""
        return self.webhooks.of(access_token)

    def put_price_rule(self, rule: JsonDict, codes: list[JsonDict] | None = None) -> JsonDict:
        """Adds or replaces a price rule (REST JSON, `id` required) and, when given, adds its codes."""
        stored = self.discounts.put_rule(rule)
        for code in codes or []:
            self.discounts.put_code(stored["id"], code)
        return stored

    def delete_price_rule(self, rule_id: int) -> None:
        self.discounts.delete_rule(rule_id)

    def put_discount_code(self, rule_id: int, code: JsonDict) -> JsonDict:
        return self.discounts.put_code(rule_id, code)

    def delete_discount_code(self, code_id: int) -> None:
        self.discounts.delete_code(code_id)

    def reset(self) -> None:
        super().reset()
        for store in self.history.values():
            store.clear()
        self.webhooks.clear()
        self.discounts.clear()
        self.customer_webhooks.clear()

    def error(self, status: int, message: str, headers: dict[str, str] | None = None) -> Response:
        response = json_response({"errors": message}, status, headers)
        response.headers["X-Shopify-Shop-Api-Call-Limit"] = f"{BUCKET_SIZE if status == 429 else 1}/{BUCKET_SIZE}"
        return response

    def dispatch(self, request: Request) -> Response:
        if request.headers.get("X-Shopify-Access-Token") not in self.access_tokens:
            return self.error(401, INVALID_TOKEN)
        try:
            endpoint, args = self._routes.bind("shopify").match(request.path, method=request.method)
        except MethodNotAllowed:
            return self.error(405, "Method Not Allowed")
        except NotFound:
            return self.error(404, "Not Found")
        response = getattr(self, f"_{endpoint}")(request, **args)
        response.headers["X-Shopify-Shop-Api-Call-Limit"] = f"1/{BUCKET_SIZE}"
        return response

    # ----- routes -------------------------------------------------------------------------------------

    def _product(self, request: Request, version: str, product_id: int) -> Response:
        product = self.products.get(product_id)
        if product is None:
            return self.error(404, "Not Found")
        return json_response({"product": product})

    def _history_order(self, request: Request, version: str, order_id: int) -> Response:
        order = self.history["orders"].get(order_id)
        if order is None:
            return self.error(404, "Not Found")
        return json_response({"order": order})

    def _customer_search(self, request: Request, version: str) -> Response:
        """`query=email:ADDRESS` (quotes allowed) only: the customers with that address, any case."""
        query = request.args.get("query", "").strip()
        field, _, value = query.partition(":")
        if field != "email" or not value.strip().strip('"'):
            return self.error(400, "query: the emulator searches by email:ADDRESS only")
        wanted = value.strip().strip('"').lower()
        store = self.history["customers"]
        with store.lock:
            found = [copy.deepcopy(c) for c in store._items.values() if str(c.get("email", "")).lower() == wanted]
        return json_response({"customers": found})

    def _customer(self, request: Request, version: str, customer_id: int) -> Response:
        customer = self.history["customers"].get(customer_id)
        if customer is None:
            return self.error(404, "Not Found")
        return json_response({"customer": customer})

    def _customer_update(self, request: Request, version: str, customer_id: int) -> Response:
        """Only the email marketing consent is changed here (customer_consent.py)."""
        body = request.get_json(silent=True)
        given = body.get("customer") if isinstance(body, dict) else None
        if not isinstance(given, dict):
            return self.error(400, "customer: Required parameter missing or invalid")
        customer = self.history["customers"].get(customer_id)
        if customer is None:
            return self.error(404, "Not Found")
        if "email_marketing_consent" in given:
            problems = consent_errors(given["email_marketing_consent"])
            if problems:
                return json_response({"errors": {"email_marketing_consent": problems}}, 422)
        before = customer.get("email_marketing_consent") or {}
        consent = given.get("email_marketing_consent")
        if isinstance(consent, dict):
            customer["email_marketing_consent"] = {**before, **consent}
            customer["accepts_marketing"] = consent["state"] == "subscribed"
        customer["updated_at"] = now_iso()
        stored = self.history["customers"].put(customer)
        if isinstance(consent, dict) and before.get("state") != consent["state"]:
            addresses = [
                hook["address"]
                for hook in self.webhooks.of(None)
                if hook["topic"] == "customers/update" and str(hook["address"]).startswith(("http://", "https://"))
            ]
            self.customer_webhooks.deliver(self.shop_domain, addresses, "customers/update", stored)
        return json_response({"customer": stored})

    def _shop(self, request: Request, version: str) -> Response:
        name = self.shop_domain.split(".")[0]
        return json_response(
            {
                "shop": {
                    "id": 548380009,
                    "name": name,
                    "domain": self.shop_domain,
                    "myshopify_domain": self.shop_domain,
                    "currency": "USD",
                    "plan_name": "basic",
                }
            }
        )

    def _count(self, request: Request, version: str) -> Response:
        return json_response({"count": len(self.products.ids())})

    def _products(self, request: Request, version: str) -> Response:
        args = request.args
        try:
            limit = int(args.get("limit", DEFAULT_LIMIT))
        except ValueError:
            return self.error(400, "limit must be an integer")
        if not 1 <= limit <= MAX_LIMIT:
            return self.error(400, f"limit must be between 1 and {MAX_LIMIT}")
        limit = min(limit, self.page_size_cap or limit)
        if "page_info" in args:
            extra = set(args) - {"page_info", "limit", "fields"}
            if extra:
                return self.error(400, f"page_info cannot be combined with: {', '.join(sorted(extra))}")
            try:
                cursor = _decode(args["page_info"])
            except ValueError:
                return self.error(400, "page_info - Invalid value.")
        else:
            cursor = {
                "after": int(args.get("since_id", 0) or 0),
                "ids": [int(i) for i in args.get("ids", "").split(",") if i.strip()] or None,
                "status": [s.strip() for s in args.get("status", "").split(",") if s.strip()] or None,
            }
        page = self.products.after(int(cursor["after"]), limit + 1, keep=self._filter(cursor))
        more, page = len(page) > limit, page[:limit]
        links = []
        if page and more:
            links.append(self._link(version, limit, {**cursor, "after": page[-1]["id"]}, "next"))
        if page and int(cursor["after"]) > 0:
            links.append(self._link(version, limit, {**cursor, "after": 0}, "previous"))
        headers = {"Link": ", ".join(links)} if links else {}
        return json_response({"products": page}, headers=headers)

    # ----- price rules and discount codes (discounts.py) -------------------------------------------------

    def _keyset(self, request: Request) -> tuple[int, int] | Response:
        """(limit, last id) of a keyset-paged list: `limit`, then `page_info` alone, as products."""
        try:
            limit = int(request.args.get("limit", DEFAULT_LIMIT))
        except ValueError:
            return self.error(400, "limit must be an integer")
        if not 1 <= limit <= MAX_LIMIT:
            return self.error(400, f"limit must be between 1 and {MAX_LIMIT}")
        limit = min(limit, self.page_size_cap or limit)
        if "page_info" not in request.args:
            return limit, 0
        if set(request.args) - {"page_info", "limit", "fields"}:
            return self.error(400, "page_info cannot be combined with other parameters")
        try:
            return limit, int(_decode(request.args["page_info"])["after"])
        except (ValueError, KeyError, TypeError):
            return self.error(400, "page_info - Invalid value.")

    def _keyset_page(self, request: Request, key: str, items: list[JsonDict], limit: int) -> Response:
        more, page = len(items) > limit, items[:limit]
        headers = {}
        if page and more:
            url = f"{self.base_url}{request.path}?limit={limit}&page_info={_encode({'after': page[-1]['id']})}"
            headers["Link"] = f'<{url}>; rel="next"'
        return json_response({key: page}, headers=headers)

    def _price_rules(self, request: Request, version: str) -> Response:
        paging = self._keyset(request)
        if isinstance(paging, Response):
            return paging
        limit, after = paging
        return self._keyset_page(request, "price_rules", self.discounts.rules_after(after, limit + 1), limit)

    def _price_rule(self, request: Request, version: str, rule_id: int) -> Response:
        rule = self.discounts.rule(rule_id)
        if rule is None:
            return self.error(404, "Not Found")
        return json_response({"price_rule": rule})

    def _discount_codes(self, request: Request, version: str, rule_id: int) -> Response:
        if self.discounts.rule(rule_id) is None:
            return self.error(404, "Not Found")
        paging = self._keyset(request)
        if isinstance(paging, Response):
            return paging
        limit, after = paging
        codes = self.discounts.codes_after(rule_id, after, limit + 1)
        return self._keyset_page(request, "discount_codes", codes, limit)

    @staticmethod
    def _filter(cursor: JsonDict) -> Any:
        ids = set(cursor.get("ids") or [])
        statuses = set(cursor.get("status") or [])

        def keep(product: JsonDict) -> bool:
            if ids and int(product["id"]) not in ids:
                return False
            return not statuses or product.get("status", "active") in statuses

        return keep if ids or statuses else None

    def _link(self, version: str, limit: int, cursor: JsonDict, rel: str) -> str:
        url = f"{self.base_url}/admin/api/{version}/products.json?limit={limit}&page_info={_encode(cursor)}"
        return f'<{url}>; rel="{rel}"'

    # ----- order and customer history -----------------------------------------------------------------

    @staticmethod
    def _history_filters(request: Request, resource: str) -> JsonDict | Response:
        args = request.args
        filters: JsonDict = {}
        for name in ("updated_at_min", "updated_at_max"):
            if args.get(name):
                try:
                    filters[name] = parse_time(args[name]).isoformat()
                except ValueError:
                    return json_response({"errors": {name: ["is invalid"]}}, 400)
        if resource == "orders":
            status = args.get("status", "open")
            if status not in ("any", "open", "closed", "cancelled"):
                return json_response({"errors": {"status": ["is invalid"]}}, 400)
            filters["status"] = status
            if args.get("order", "updated_at asc") != "updated_at asc":
                return json_response({"errors": {"order": ["the emulator sorts by updated_at asc only"]}}, 400)
        return filters

    def _window(self, filters: JsonDict) -> tuple[Any, Any]:
        since = parse_time(filters["updated_at_min"]) if filters.get("updated_at_min") else None
        until = parse_time(filters["updated_at_max"]) if filters.get("updated_at_max") else None
        return since, until

    @staticmethod
    def _status_keep(filters: JsonDict) -> Any:
        status = filters.get("status", "any")
        if status == "any":
            return None
        if status == "cancelled":
            return lambda order: bool(order.get("cancelled_at"))
        if status == "closed":
            return lambda order: bool(order.get("closed_at"))
        return lambda order: not order.get("closed_at") and not order.get("cancelled_at")

    def _history(self, request: Request, version: str, resource: str) -> Response:
        args = request.args
        try:
            limit = int(args.get("limit", DEFAULT_LIMIT))
        except ValueError:
            return self.error(400, "limit must be an integer")
        if not 1 <= limit <= MAX_LIMIT:
            return self.error(400, f"limit must be between 1 and {MAX_LIMIT}")
        limit = min(limit, self.page_size_cap or limit)
        if "page_info" in args:
            extra = set(args) - {"page_info", "limit", "fields"}
            if extra:
                return self.error(400, f"page_info cannot be combined with: {', '.join(sorted(extra))}")
            try:
                cursor = _decode(args["page_info"])
            except ValueError:
                return self.error(400, "page_info - Invalid value.")
        else:
            filters = self._history_filters(request, resource)
            if isinstance(filters, Response):
                return filters
            cursor = {"filters": filters, "after": None}
        since, until = self._window(cursor["filters"])
        keep = self._status_keep(cursor["filters"])
        store = self.history[resource]
        after = tuple(cursor["after"]) if cursor.get("after") else None
        found: list[JsonDict] = []
        more = True
        # Status filters drop items after paging the index, so read on until the page is full or the end.
        while len(found) < limit and more:
            items, more = store.page(since, until, after, limit - len(found))  # type: ignore[arg-type]
            if not items:
                more = False
                break
            last = items[-1]
            after = (parse_time(str(last["updated_at"])).timestamp(), int(last["id"]))
            found.extend(item for item in items if keep is None or keep(item))
        headers = {}
        if more and after is not None:
            url = (
                f"{self.base_url}/admin/api/{version}/{resource}.json?limit={limit}"
                f"&page_info={_encode({'filters': cursor['filters'], 'after': list(after)})}"
            )
            headers["Link"] = f'<{url}>; rel="next"'
        return json_response({resource: found}, headers=headers)

    def _history_count(self, request: Request, version: str, resource: str) -> Response:
        filters = self._history_filters(request, resource)
        if isinstance(filters, Response):
            return filters
        since, until = self._window(filters)
        keep = self._status_keep(filters)
        store = self.history[resource]
        if keep is None:
            return json_response({"count": store.count(since, until)})
        items, _ = store.page(since, until, None, 10**9)
        return json_response({"count": sum(1 for item in items if keep(item))})

    # ----- webhook subscriptions ----------------------------------------------------------------------

    @staticmethod
    def _token(request: Request) -> str:
        return str(request.headers.get("X-Shopify-Access-Token"))

    def _webhooks(self, request: Request, version: str) -> Response:
        args = request.args
        try:
            limit = int(args.get("limit", DEFAULT_LIMIT))
        except ValueError:
            return self.error(400, "limit must be an integer")
        if not 1 <= limit <= MAX_LIMIT:
            return self.error(400, f"limit must be between 1 and {MAX_LIMIT}")
        limit = min(limit, self.page_size_cap or limit)
        if "page_info" in args:
            extra = set(args) - {"page_info", "limit", "fields"}
            if extra:
                return self.error(400, f"page_info cannot be combined with: {', '.join(sorted(extra))}")
            try:
                cursor = _decode(args["page_info"])
            except ValueError:
                return self.error(400, "page_info - Invalid value.")
        else:
            cursor = {
                "after": int(args.get("since_id", 0) or 0),
                "topic": args.get("topic") or None,
                "address": args.get("address") or None,
            }
        listed = [
            item
            for item in self.webhooks.of(self._token(request))
            if item["id"] > int(cursor["after"])
            and cursor.get("topic") in (None, item["topic"])
            and cursor.get("address") in (None, item["address"])
        ]
        page, more = listed[:limit], len(listed) > limit
        headers = {}
        if more:
            url = (
                f"{self.base_url}/admin/api/{version}/webhooks.json?limit={limit}"
                f"&page_info={_encode({**cursor, 'after': page[-1]['id']})}"
            )
            headers["Link"] = f'<{url}>; rel="next"'
        return json_response({"webhooks": page}, headers=headers)

    def _webhook_count(self, request: Request, version: str) -> Response:
        topic, address = request.args.get("topic"), request.args.get("address")
        listed = self.webhooks.of(self._token(request))
        count = sum(1 for item in listed if topic in (None, item["topic"]) and address in (None, item["address"]))
        return json_response({"count": count})

    def _webhook(self, request: Request, version: str, webhook_id: int) -> Response:
        found = self.webhooks.get(webhook_id, self._token(request))
        return json_response({"webhook": found}) if found else self.error(404, "Not Found")

    def _webhook_create(self, request: Request, version: str) -> Response:
        status, body = self.webhooks.create(request.get_json(silent=True), self._token(request), version)
        return json_response(body, status)

    def _webhook_delete(self, request: Request, version: str, webhook_id: int) -> Response:
        deleted = self.webhooks.delete(webhook_id, self._token(request))
        return json_response({}) if deleted else self.error(404, "Not Found")
