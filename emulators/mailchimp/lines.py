"""What carts and orders share: their lines, the campaign check and the customer they embed.

- Every line must name a known product and variant (`catalog.resolve_line`).
- A `campaign_id` must be one of the emulator's known campaigns (an empty string means none).
- A PATCH with `lines` replaces the whole list. A line is matched to an existing one by `id`, or, when sent
  without an id, by `product_variant_id`; a line that matches nothing is new and needs every field of the
  POST line schema (a missing id is generated).
- A PATCH with `customer` cannot change the customer's id or email; other fields update the customer.
"""

from __future__ import annotations

import copy
import secrets
from typing import Any

from .catalog import resolve_line
from .context import Call, Route, lookup
from .customers import check_email_unchanged, customer_view, update_customer
from .paging import page
from .problems import already_exists, bad_request, invalid_field, not_found
from .state import EmulatorState, JsonDict, Store, now_iso
from .validation import SpecValidator

NO_CAMPAIGN = "A campaign with the provided ID does not exist in the account for this list."
_COMPUTED_LINE_FIELDS = ("product_title", "product_variant_title", "image_url")
LINE_FIELDS = ("product_id", "product_variant_id", "quantity", "price", "discount")


def check_campaign(state: EmulatorState, body: JsonDict) -> None:
    campaign_id = body.get("campaign_id")
    if campaign_id and campaign_id not in state.campaigns:
        raise bad_request(NO_CAMPAIGN)


def merge_lines(
    store: Store,
    validator: SpecValidator,
    line_schema: str,
    current: list[JsonDict],
    sent: list[JsonDict],
) -> list[JsonDict]:
    """The new `lines` of a cart/order PATCH (computed without changing anything)."""
    unused = list(current)
    merged: list[JsonDict] = []
    for index, line in enumerate(sent):
        if "id" in line:
            match = next((old for old in unused if old["id"] == line["id"]), None)
        else:
            match = next((old for old in unused if old["product_variant_id"] == line.get("product_variant_id")), None)
        if match is not None:
            unused.remove(match)
            candidate = {**match, **line}
        else:
            candidate = {"id": line.get("id") or secrets.token_hex(8), **line}
            validator.validate_schema(line_schema, candidate, prefix=f"lines.{index}")
        for name in _COMPUTED_LINE_FIELDS:
            candidate.pop(name, None)
        merged.append(resolve_line(store, candidate))
    return merged


def patch_embedded_customer(state: EmulatorState, store: Store, doc: JsonDict, sent: JsonDict | None) -> Any:
    """Checks a PATCH's `customer` object; returns a function that applies it (so checks come first)."""
    if sent is None:
        return lambda: None
    if "id" in sent and sent["id"] != doc["customer"]["id"]:
        raise invalid_field("customer.id", "The customer of an existing cart or order cannot be changed.")
    customer = store.customers.get(doc["customer"]["id"])
    if customer is None:
        return lambda: None
    check_email_unchanged(customer, sent)
    return lambda: update_customer(state, store, customer, {k: v for k, v in sent.items() if k != "id"})


def document_view(store: Store, doc: JsonDict) -> JsonDict:
    """A cart or order with its customer as it is now."""
    view = copy.deepcopy(doc)
    customer = store.customers.get(doc["customer"]["id"])
    if customer is not None:
        view["customer"] = customer_view(store, customer)
    return view


class LineRoutes:
    """The `/lines` routes of carts or orders (`kind` is "carts" or "orders")."""

    def __init__(self, kind: str, thing: str, line_schema: str) -> None:
        self.kind = kind
        self.thing = thing
        self.line_schema = line_schema
        self.parent_arg = "cart_id" if kind == "carts" else "order_id"
        self.collection = f"/ecommerce/stores/{{store_id}}/{kind}/{{{self.parent_arg}}}/lines"
        self.item = self.collection + "/{line_id}"

    def _parent(self, call: Call) -> tuple[Store, JsonDict]:
        store = call.store()
        documents = store.carts if self.kind == "carts" else store.orders
        return store, lookup(documents, call.args[self.parent_arg])

    def _line(self, doc: JsonDict, line_id: str) -> JsonDict:
        line = next((line for line in doc["lines"] if line["id"] == line_id), None)
        if line is None:
            raise not_found()
        return line

    def list_lines(self, call: Call) -> Any:
        store, doc = self._parent(call)
        return page(call.query, "lines", doc["lines"], store_id=store.id, **{self.parent_arg: doc["id"]})

    def get_line(self, call: Call) -> Any:
        return copy.deepcopy(self._line(self._parent(call)[1], call.args["line_id"]))

    def post_line(self, call: Call) -> Any:
        store, doc = self._parent(call)
        if any(line["id"] == call.json["id"] for line in doc["lines"]):
            raise already_exists(self.thing)
        line = resolve_line(store, call.json)
        doc["lines"].append(line)
        doc["updated_at"] = now_iso()
        return copy.deepcopy(line)

    def patch_line(self, call: Call) -> Any:
        store, doc = self._parent(call)
        line = self._line(doc, call.args["line_id"])
        candidate = {**line, **{name: call.json[name] for name in LINE_FIELDS if name in call.json}}
        resolved = resolve_line(store, candidate)
        line.clear()
        line.update(resolved)
        doc["updated_at"] = now_iso()
        return copy.deepcopy(line)

    def delete_line(self, call: Call) -> Any:
        _store, doc = self._parent(call)
        doc["lines"].remove(self._line(doc, call.args["line_id"]))
        doc["updated_at"] = now_iso()
        return None

    def routes(self) -> list[Route]:
        return [
            Route("GET", self.collection, self.list_lines),
            Route("POST", self.collection, self.post_line),
            Route("GET", self.item, self.get_line),
            Route("PATCH", self.item, self.patch_line),
            Route("DELETE", self.item, self.delete_line),
        ]
