"""A customer's email marketing consent as Shopify's Admin REST API changes it, and the `customers/update`
webhook Shopify then delivers (for two-way consent's tests, docs/consent.md).

`PUT customers/<id>.json` with `{"customer": {"id", "email_marketing_consent": {state, opt_in_level,
consent_updated_at}}}`:
- 404 when the customer is unknown; 400 without a `customer` object;
- 422 `{"errors": {"email_marketing_consent": [...]}}` when `state` is not one of subscribed, unsubscribed,
  not_subscribed, pending; `opt_in_level` not one of single_opt_in, confirmed_opt_in, unknown; or
  `consent_updated_at` missing, not a time, or in the future (Shopify: "can't be in the future");
- else the customer's consent (and `accepts_marketing`, which Shopify keeps in step) and `updated_at` change, and
  answered 200 `{"customer": {...}}`. A change of the consent fires `customers/update` to every subscription of
  that topic at an http(s) address, signed as Shopify signs (base64 HMAC-SHA256 of the body with
  `webhook_signing_secret`), from a background thread; deliveries are recorded (status 0: no answer).
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import requests

JsonDict = dict[str, Any]
STATES = ("subscribed", "unsubscribed", "not_subscribed", "pending")
OPT_IN_LEVELS = ("single_opt_in", "confirmed_opt_in", "unknown")
CLOCK_SKEW = timedelta(minutes=1)


def consent_errors(consent: Any) -> list[str]:
    if not isinstance(consent, dict):
        return ["must be an object"]
    errors = []
    if consent.get("state") not in STATES:
        errors.append(f"state is invalid: expected one of {', '.join(STATES)}")
    if "opt_in_level" in consent and consent["opt_in_level"] not in OPT_IN_LEVELS:
        errors.append(f"opt_in_level is invalid: expected one of {', '.join(OPT_IN_LEVELS)}")
    raw = consent.get("consent_updated_at")
    try:
        moment = datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
    except ValueError:
        errors.append("consent_updated_at is invalid")
    else:
        if moment.tzinfo is None:
            errors.append("consent_updated_at needs a time zone")
        elif moment > datetime.now(UTC) + CLOCK_SKEW:
            errors.append("consent_updated_at can't be in the future")
    return errors


class CustomerWebhooks:
    """What the emulator delivers: `customers/update`, signed with `signing_secret`, recorded in `deliveries`."""

    def __init__(self) -> None:
        self.signing_secret: str | None = None
        self.deliveries: list[JsonDict] = []
        self.changed = threading.Condition()

    def deliver(self, shop_domain: str, addresses: list[str], topic: str, payload: JsonDict) -> None:
        body = json.dumps(payload).encode()
        secret = self.signing_secret or ""
        signature = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()
        headers = {
            "Content-Type": "application/json",
            "X-Shopify-Topic": topic,
            "X-Shopify-Shop-Domain": shop_domain,
            "X-Shopify-Hmac-Sha256": signature,
            "X-Shopify-Event-Id": str(uuid.uuid4()),
            "X-Shopify-Webhook-Id": str(uuid.uuid4()),
            "X-Shopify-Triggered-At": datetime.now(UTC).isoformat(),
            "X-Shopify-API-Version": "2026-10",
        }
        for address in addresses:
            threading.Thread(target=self._post, args=(address, topic, body, headers), daemon=True).start()

    def _post(self, address: str, topic: str, body: bytes, headers: dict[str, str]) -> None:
        try:
            status = requests.post(address, data=body, headers=headers, timeout=10).status_code
        except requests.RequestException:
            status = 0
        with self.changed:
            self.deliveries.append({"topic": topic, "address": address, "status": status, "body": json.loads(body)})
            self.changed.notify_all()

    def wait_for(self, count: int, timeout: float = 10.0) -> list[JsonDict]:
        with self.changed:
            if not self.changed.wait_for(lambda: len(self.deliveries) >= count, timeout):
                raise TimeoutError(f"{len(self.deliveries)} customer webhook deliveries, not {count}")
            return copy.deepcopy(self.deliveries)

    def clear(self) -> None:
        with self.changed:
            self.deliveries.clear()
