"""Fixtures for the unit tests of the shared layer: no network, no AWS, only in-process objects."""

from __future__ import annotations

import json
from typing import Any

import pytest
from commerce_sync.aws.store_registry import Store

from tests.paths import PROJECT

ROOT = PROJECT
SHOPIFY_CHECKOUT_BODY = ROOT / "events" / "shopify_checkout_update_body.json"


@pytest.fixture
def shopify_store() -> Store:
    return Store(
        store_id="demo-shop",
        platform="shopify",
        identity="demo-shop.myshopify.com",
        name="Demo Outfitters",
        list_id="a1b2c3d4e5",
        currency_code="USD",
        secret_id="commerce-sync/stores/demo-shop",
    )


@pytest.fixture
def canonical_store() -> Store:
    return Store(
        store_id="canon-1",
        platform="canonical",
        identity="canon-1",
        name="Canonical Store",
        list_id="a1b2c3d4e5",
        currency_code="EUR",
        secret_id="commerce-sync/stores/canon-1",
    )


@pytest.fixture
def checkout_payload() -> dict[str, Any]:
    """A fresh copy of the realistic Shopify checkouts/update body (tests may change it freely)."""
    return json.loads(SHOPIFY_CHECKOUT_BODY.read_text(encoding="utf-8"))
