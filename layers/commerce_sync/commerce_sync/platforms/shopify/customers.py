"""A Shopify customer's email marketing consent, written through the Admin REST API (two-way consent,
docs/consent.md): `PUT /admin/api/<version>/customers/<id>.json` with `email_marketing_consent`
{state, opt_in_level, consent_updated_at} (the address, version and token from shopify.api)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

import requests
from pydantic import BaseModel, ConfigDict, field_serializer

from commerce_sync.aws.store_registry import Store
from commerce_sync.platforms.http import PlatformAuthError, fetch_json
from commerce_sync.platforms.secret_push import send_json
from commerce_sync.platforms.shopify.api import access_token, api_root, auth_headers


class ShopifyEmailMarketingConsent(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    state: Literal["subscribed", "unsubscribed", "not_subscribed"]
    opt_in_level: Literal["single_opt_in", "confirmed_opt_in", "unknown"] = "single_opt_in"
    consent_updated_at: datetime

    @field_serializer("consent_updated_at")
    def _iso(self, value: datetime) -> str:
        return value.isoformat()


class ShopifyCustomerConsent(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: int
    email_marketing_consent: ShopifyEmailMarketingConsent


def customer_ids_of(store: Store, credentials: Mapping[str, Any], email: str, session: requests.Session) -> list[str]:
    """The shop's customers with that address (`GET customers/search.json?query=email:"ADDRESS"`)."""
    token = access_token(credentials)
    if token is None:
        raise PlatformAuthError(401, "the store's credentials hold no Shopify access token")
    params = {"query": f'email:"{email}"', "fields": "id,email"}
    body, _ = fetch_json(session, f"{api_root(store)}/customers/search.json", params, auth_headers(token))
    found = body.get("customers") if isinstance(body, dict) else None
    return [str(item["id"]) for item in found or [] if isinstance(item, dict) and item.get("id") is not None]


def set_email_consent(
    store: Store,
    credentials: Mapping[str, Any],
    customer_id: str,
    subscribed: bool,
    changed_at: datetime,
    session: requests.Session,
) -> None:
    """Raises PlatformApiError (status 404: no such customer) as send_json does."""
    token = access_token(credentials)
    if token is None:
        raise PlatformAuthError(401, "the store's credentials hold no Shopify access token")
    consent = ShopifyEmailMarketingConsent(
        state="subscribed" if subscribed else "unsubscribed", consent_updated_at=changed_at
    )
    body = {"customer": ShopifyCustomerConsent(id=int(customer_id), email_marketing_consent=consent).model_dump()}
    send_json(session, "PUT", f"{api_root(store)}/customers/{int(customer_id)}.json", body, auth_headers(token))
