"""Plain functions from a canonical promotion and its codes to Mailchimp's promo rule and promo code bodies.

Mailchimp's rules (shared/mailchimp/NOTES.md §5, and docs/promotions.md for the choices made here):
- a rule needs a `description` (at most 255 characters); a promotion without one gets a plain one said from
  its amount and target ("15% off the order"). The `title` (at most 100 bytes of UTF-8) is the promotion's
  title, else the same words. Longer texts are cut at a character boundary and end with "…".
- `percentage` amounts are fractions from 0 to 1; `fixed` ones are money, quantised to the promotion's
  currency (else the store's). Free shipping is `fixed` on `shipping` with amount 0.
- `enabled` is false for a promotion the platform disabled **and for one whose end has passed**: an expired
  rule stays in Mailchimp, disabled, with its dates, so a later extension on the platform enables it again.
  Its codes are not rewritten for it: a disabled rule is what stops Mailchimp offering them, and a rule of
  100,000 codes that expires costs one write, not 100,001.
- times are ISO 8601 in UTC.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from decimal import Decimal

from commerce_sync.canonical.model import Promotion, PromotionCode
from commerce_sync.canonical.money import quantize
from commerce_sync.mailchimp.models import (
    PROMO_DESCRIPTION_MAX,
    PROMO_TITLE_MAX_BYTES,
    McPromoCode,
    McPromoRule,
)

ELLIPSIS = "…"
# A percentage is sent to 1/100 of a percent: 12.5 % is 0.125, a third is 0.3333.
PERCENTAGE_STEP = Decimal("0.0001")


def fit_characters(text: str, limit: int) -> str:
    """`text` if it has at most `limit` characters, else its start and an ellipsis, `limit` in all."""
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + ELLIPSIS


def fit_bytes(text: str, limit: int) -> str:
    """`text` if its UTF-8 takes at most `limit` bytes, else its start (whole characters) and an ellipsis."""
    text = text.strip()
    if len(text.encode("utf-8")) <= limit:
        return text
    budget = limit - len(ELLIPSIS.encode("utf-8"))
    cut = text.encode("utf-8")[:budget].decode("utf-8", errors="ignore")
    return cut.rstrip() + ELLIPSIS


def _percent(amount: Decimal) -> str:
    return f"{(amount * 100).normalize():f}%"


def describe(promotion: Promotion, currency_code: str) -> str:
    """The promotion in plain words, from its type, amount and target."""
    if promotion.type == "percentage":
        value = _percent(promotion.amount)
    else:
        value = f"{quantize(promotion.amount, currency_code)} {currency_code}"
    if promotion.target == "shipping":
        if promotion.type == "fixed" and promotion.amount == 0:
            return "Free shipping"
        return f"{value} off shipping"
    if promotion.target == "total":
        return f"{value} off the order"
    return f"{value} off each eligible item" if promotion.type == "fixed" else f"{value} off eligible items"


def expired(promotion: Promotion, now: datetime) -> bool:
    return promotion.ends_at is not None and promotion.ends_at <= now


def _time(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat(timespec="seconds") if value is not None else None


def to_mailchimp_promo_rule(promotion: Promotion, store_currency: str, now: datetime | None = None) -> McPromoRule:
    currency = promotion.currency_code or store_currency
    words = describe(promotion, currency)
    if promotion.type == "percentage":
        amount = promotion.amount.quantize(PERCENTAGE_STEP)
    else:
        amount = quantize(promotion.amount, currency)
    return McPromoRule(
        id=promotion.id,
        title=fit_bytes(promotion.title or words, PROMO_TITLE_MAX_BYTES),
        description=fit_characters(promotion.description or words, PROMO_DESCRIPTION_MAX),
        amount=amount,
        type=promotion.type,
        target=promotion.target,
        starts_at=_time(promotion.starts_at),
        ends_at=_time(promotion.ends_at),
        enabled=promotion.enabled and not expired(promotion, now or datetime.now(UTC)),
        created_at_foreign=_time(promotion.created_at),
        updated_at_foreign=_time(promotion.updated_at),
    )


def to_mailchimp_promo_code(code: PromotionCode) -> McPromoCode:
    return McPromoCode(
        id=code.id,
        code=code.code,
        redemption_url=code.redemption_url,
        usage_count=code.usage_count,
        enabled=code.enabled,
        created_at_foreign=_time(code.created_at),
        updated_at_foreign=_time(code.updated_at),
    )


def promo_content_hash(body: McPromoRule | McPromoCode) -> str:
    """A stable digest of exactly what would be sent: equal digests mean the write can be skipped, and a change
    of this mapping changes them too, so the next sync re-sends what it affects."""
    canonical = json.dumps(body.body(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:32]
