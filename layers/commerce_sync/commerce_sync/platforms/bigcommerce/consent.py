"""A BigCommerce shopper's marketing consent, written through the Subscribers API (two-way consent,
docs/consent.md): BigCommerce keeps it on the newsletter subscriber of the address (`/v3/customers/subscribers`),
whose `consents` this adapter reads (models.consent_from_subscriber), so withdrawing it is a `PUT
/v3/customers/subscribers/<id>` without `marketing_newsletter` in `consents` (`abandoned_cart` is left as it is).
An address with no subscriber has no consent to withdraw."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import requests
from pydantic import BaseModel, ConfigDict

from commerce_sync.aws.store_registry import Store
from commerce_sync.platforms.bigcommerce.api import BigCommerceApi, access_token, api_root, auth_headers
from commerce_sync.platforms.bigcommerce.models import MARKETING_CONSENT
from commerce_sync.platforms.http import PlatformAuthError
from commerce_sync.platforms.secret_push import send_json


class BcSubscriberConsents(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    consents: list[str]


def set_newsletter_consent(
    store: Store, credentials: Mapping[str, Any], email: str, subscribed: bool, session: requests.Session
) -> bool:
    """True when the subscriber's consents changed. Raises PlatformApiError or StoreApiUnavailable when the store's
    API fails or refuses."""
    token = access_token(credentials)
    if token is None:
        raise PlatformAuthError(401, "the store's credentials hold no BigCommerce access token")
    root = api_root(store)
    subscriber = BigCommerceApi(root, token, session).subscriber(email)
    if subscriber is None or subscriber.get("id") is None:
        return False
    held = [str(consent) for consent in subscriber.get("consents") or []]
    wanted = sorted({*held, MARKETING_CONSENT}) if subscribed else [c for c in held if c != MARKETING_CONSENT]
    if sorted(held) == sorted(wanted):
        return False
    body = BcSubscriberConsents(consents=wanted).model_dump()
    send_json(session, "PUT", f"{root}/v3/customers/subscribers/{int(subscriber['id'])}", body, auth_headers(token))
    return True
