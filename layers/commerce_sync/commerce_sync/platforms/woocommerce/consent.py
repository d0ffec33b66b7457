"""A WooCommerce customer's marketing consent, written through the REST API (two-way consent, docs/consent.md).

WooCommerce core has no marketing-consent field. The documented place for a customer's own data is its meta
(`PUT /wp-json/wc/v3/customers/<id>` with `meta_data` [{key, value}]), and the key written is the first of the
consent keys this adapter reads (models.DEFAULT_CONSENT_META_KEYS, or WOOCOMMERCE_CONSENT_META_KEYS): by default
`mailchimp_woocommerce_is_subscribed`, the one the Mailchimp for WooCommerce plugin keeps the shopper's newsletter
choice in, so the plugin's own sign-up forms and commerce-sync agree, and the next customer webhook reads the
withdrawal back ("0"; "1" when consent is granted)."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

import requests
from pydantic import BaseModel, ConfigDict

from commerce_sync.aws.store_registry import Store
from commerce_sync.platforms.http import PlatformAuthError, fetch_json
from commerce_sync.platforms.secret_push import send_json
from commerce_sync.platforms.woocommerce.api import key_pair, rest_root
from commerce_sync.platforms.woocommerce.models import DEFAULT_CONSENT_META_KEYS, consent_meta_keys_from_environment


class WooMetaEntry(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    key: str
    value: str


class WooCustomerMetaUpdate(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    meta_data: list[WooMetaEntry]


def consent_meta_key() -> str:
    keys = consent_meta_keys_from_environment()
    return keys[0] if keys else DEFAULT_CONSENT_META_KEYS[0]


def _basic(credentials: Mapping[str, Any]) -> tuple[str, str]:
    pair = key_pair(credentials)
    if pair is None:
        raise PlatformAuthError(401, "the store's credentials hold no WooCommerce REST API key pair")
    return pair


def customer_ids_of(store: Store, credentials: Mapping[str, Any], email: str, session: requests.Session) -> list[str]:
    """The site's customers with that address (`GET customers?email=ADDRESS&role=all`)."""
    params = {"email": email, "role": "all", "per_page": 10}
    body, _ = fetch_json(session, f"{rest_root(store)}/customers", params, auth=_basic(credentials))
    return [str(item["id"]) for item in body or [] if isinstance(item, dict) and item.get("id") is not None]


def set_consent_meta(
    store: Store, credentials: Mapping[str, Any], customer_id: str, subscribed: bool, session: requests.Session
) -> None:
    """Raises PlatformApiError (status 404: no such customer) as send_json does."""
    pair = _basic(credentials)
    basic = base64.b64encode(f"{pair[0]}:{pair[1]}".encode()).decode()
    body = WooCustomerMetaUpdate(meta_data=[WooMetaEntry(key=consent_meta_key(), value="1" if subscribed else "0")])
    url = f"{rest_root(store)}/customers/{int(customer_id)}"
    send_json(session, "PUT", url, body.model_dump(), {"Authorization": f"Basic {basic}"})
