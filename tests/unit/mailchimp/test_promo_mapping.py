"""Canonical promotions to Mailchimp promo rules and codes (commerce_sync.mailchimp.promo_mapping), the canonical
model's own rules for them, and every body against the spec subset's POST and PATCH schemas."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from commerce_sync.canonical.model import (
    DATA_MODELS,
    MAILCHIMP_REFUSES,
    CanonicalEvent,
    EventType,
    Promotion,
    PromotionCode,
    PromotionRemoval,
)
from commerce_sync.mailchimp.models import McPromoCode, McPromoRule
from commerce_sync.mailchimp.promo_mapping import (
    describe,
    fit_bytes,
    promo_content_hash,
    to_mailchimp_promo_code,
    to_mailchimp_promo_rule,
)
from jsonschema import Draft4Validator
from pydantic import ValidationError
from referencing import Registry
from referencing.jsonschema import DRAFT4

from tests.paths import PROJECT

SPEC = json.loads((PROJECT / "emulators" / "mailchimp" / "spec" / "ecommerce-subset.json").read_text("utf-8"))
SPEC_URI = "urn:mailchimp:ecommerce-subset"
NOW = datetime(2025, 6, 1, tzinfo=UTC)


def validator(operation: str) -> Draft4Validator:
    registry = Registry().with_resource(SPEC_URI, DRAFT4.create_resource(SPEC))
    return Draft4Validator({"$ref": SPEC_URI + SPEC["x-request-body-schemas"][operation]}, registry=registry)


def problems(operation: str, body: dict[str, Any]) -> list[str]:
    wire = json.loads(json.dumps(body))
    return [error.message for error in validator(operation).iter_errors(wire)]


def promotion(**fields: Any) -> Promotion:
    return Promotion.model_validate({"id": "r1", "type": "percentage", "amount": "0.15", "target": "total", **fields})


CODE = {"id": "c1", "code": "SAVE15", "redemption_url": "https://shop.example.com/discount/SAVE15"}


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        (
            {"type": "percentage", "amount": "0.15", "target": "total"},
            ("percentage", 0.15, "total", "15% off the order"),
        ),
        ({"type": "fixed", "amount": "10", "target": "total"}, ("fixed", 10.0, "total", "10.00 USD off the order")),
        (
            {"type": "fixed", "amount": "2.5", "target": "per_item"},
            ("fixed", 2.5, "per_item", "2.50 USD off each eligible item"),
        ),
        (
            {"type": "percentage", "amount": "0.125", "target": "per_item"},
            ("percentage", 0.125, "per_item", "12.5% off eligible items"),
        ),
        ({"type": "fixed", "amount": "0", "target": "shipping"}, ("fixed", 0.0, "shipping", "Free shipping")),
        (
            {"type": "percentage", "amount": "0.5", "target": "shipping"},
            ("percentage", 0.5, "shipping", "50% off shipping"),
        ),
    ],
)
def test_each_kind_becomes_a_rule_with_a_plain_description(fields: dict[str, Any], expected: tuple[Any, ...]) -> None:
    body = to_mailchimp_promo_rule(promotion(**fields), "USD", NOW).body()

    assert (body["type"], body["amount"], body["target"], body["description"]) == expected
    assert body["title"] == expected[3] and body["enabled"] is True
    assert problems("POST /ecommerce/stores/{store_id}/promo-rules", body) == []


def test_a_fixed_amount_is_money_of_the_promotions_currency_else_the_stores() -> None:
    yen = to_mailchimp_promo_rule(promotion(type="fixed", amount="500.4", currency_code="JPY"), "USD", NOW)
    store_currency = to_mailchimp_promo_rule(promotion(type="fixed", amount="9.999"), "EUR", NOW)

    assert (yen.amount, yen.description) == (Decimal(500), "500 JPY off the order")
    assert store_currency.amount == Decimal("10.00")


def test_dates_go_out_in_utc_and_an_expired_promotion_is_disabled_not_dropped() -> None:
    window = {"starts_at": "2025-05-01T00:00:00+02:00", "ends_at": "2025-05-31T23:59:59Z"}
    rule = to_mailchimp_promo_rule(promotion(**window), "USD", NOW)
    running = to_mailchimp_promo_rule(promotion(**window), "USD", datetime(2025, 5, 10, tzinfo=UTC))
    paused = to_mailchimp_promo_rule(promotion(enabled=False), "USD", NOW)

    assert (rule.starts_at, rule.ends_at, rule.enabled) == (
        "2025-04-30T22:00:00+00:00",
        "2025-05-31T23:59:59+00:00",
        False,
    )
    assert running.enabled is True and paused.enabled is False
    assert promo_content_hash(rule) != promo_content_hash(running)


def test_title_is_cut_to_100_bytes_of_utf8_and_description_to_255_characters() -> None:
    rule = to_mailchimp_promo_rule(promotion(title="Été " * 40, description="x" * 300), "USD", NOW)

    assert rule.title is not None and len(rule.title.encode()) <= 100 and rule.title.endswith("…")
    assert len(rule.description) == 255 and rule.description.endswith("…")
    assert fit_bytes("short", 100) == "short"
    assert problems("PATCH /ecommerce/stores/{store_id}/promo-rules/{promo_rule_id}", rule.patch_body()) == []


def test_a_code_keeps_its_url_usage_and_state() -> None:
    code = PromotionCode.model_validate(
        {**CODE, "usage_count": 3, "enabled": False, "created_at": "2025-01-02T03:04:05Z"}
    )
    body = to_mailchimp_promo_code(code).body()

    assert body == {
        "id": "c1",
        "code": "SAVE15",
        "redemption_url": "https://shop.example.com/discount/SAVE15",
        "usage_count": 3,
        "enabled": False,
        "created_at_foreign": "2025-01-02T03:04:05+00:00",
    }
    assert problems("POST /ecommerce/stores/{store_id}/promo-rules/{promo_rule_id}/promo-codes", body) == []
    patch = to_mailchimp_promo_code(code).patch_body()
    assert "id" not in patch
    assert (
        problems("PATCH /ecommerce/stores/{store_id}/promo-rules/{promo_rule_id}/promo-codes/{promo_code_id}", patch)
        == []
    )


def test_long_ids_are_shortened_as_every_mailchimp_id_is() -> None:
    long_id = "rule-" + "9" * 60
    rule = to_mailchimp_promo_rule(promotion(id=long_id), "USD", NOW)

    assert rule.id.startswith("h-") and len(rule.id) <= 50


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"type": "percentage", "amount": "15"}, "a percentage amount is a fraction"),
        ({"amount": "-1"}, "amount"),
        ({"starts_at": "2025-05-02T00:00:00Z", "ends_at": "2025-05-01T00:00:00Z"}, "ends_at must come after"),
        ({"type": "bogo"}, "type"),
        ({"target": "category"}, "target"),
        ({"codes": [CODE, CODE]}, "each code id may appear once"),
    ],
)
def test_the_canonical_model_refuses_what_mailchimp_cannot_hold(fields: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as raised:
        promotion(**fields)
    assert field in str(raised.value)


def test_a_code_longer_than_mailchimp_stores_is_refused_not_cut() -> None:
    with pytest.raises(ValidationError) as raised:
        PromotionCode.model_validate({**CODE, "code": "X" * 51})

    assert raised.value.errors()[0]["type"] == MAILCHIMP_REFUSES
    with pytest.raises(ValidationError):
        PromotionCode.model_validate({"id": "c1", "code": "C"})  # a redemption URL is required


def test_promotion_events_have_their_models() -> None:
    assert DATA_MODELS[EventType.PROMOTION_UPDATED] is Promotion
    assert DATA_MODELS[EventType.PROMOTION_DELETED] is PromotionRemoval
    event = CanonicalEvent.model_validate(
        {
            "event_id": "e1",
            "type": "promotion.deleted",
            "store_id": "s1",
            "platform": "canonical",
            "occurred_at": "2025-06-01T00:00:00Z",
            "entity_id": "r1",
            "entity_version": "2025-06-01T00:00:00.000000Z",
            "data": {"id": "r1", "code_ids": ["c1", "c2"]},
        }
    )
    assert event.promotion_removal().code_ids == ("c1", "c2")
    assert describe(promotion(type="fixed", amount="5", target="shipping"), "GBP") == "5.00 GBP off shipping"


def test_mailchimp_models_refuse_amounts_out_of_range() -> None:
    with pytest.raises(ValidationError):
        McPromoRule(id="r", description="d", amount=Decimal("1.5"), type="percentage", target="total", enabled=True)
    with pytest.raises(ValidationError):
        McPromoRule(
            id="r", title="t" * 101, description="d", amount=Decimal(1), type="fixed", target="total", enabled=True
        )
    with pytest.raises(ValidationError):
        McPromoCode(id="c", code="C" * 51, redemption_url="https://x", enabled=True)
