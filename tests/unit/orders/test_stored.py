"""An applied order as the sync state keeps it: compressed, read back whole, and an item written before (a plain JSON
string) still read."""

from __future__ import annotations

import json

from boto3.dynamodb.types import Binary
from commerce_sync.canonical.model import MarketingConsent, Order
from commerce_sync.orders.stored import order_json, packed, stored_order
from commerce_sync.platforms.shopify.orders import ShopifyOrder, order_to_order

from tests.paths import EVENTS


def sample_order() -> Order:
    body = json.loads((EVENTS / "shopify_order_body.json").read_text())
    return order_to_order(ShopifyOrder.model_validate(body), MarketingConsent())


def test_an_order_is_kept_compressed_and_read_back_whole() -> None:
    order = sample_order()
    value = packed(order)
    assert len(value) * 2 < len(order.model_dump_json().encode()), "DynamoDB bills the item's kilobytes"
    assert stored_order({"order": value}) == order
    # As boto3's resource hands a binary attribute back.
    assert stored_order({"order": Binary(value)}) == order


def test_an_order_written_before_as_plain_json_is_read_and_an_item_without_one_has_none() -> None:
    order = sample_order()
    assert stored_order({"order": order.model_dump_json()}) == order
    assert order_json(order.model_dump_json()) == order.model_dump_json()
    assert stored_order({"applied_version": "v"}) is None
