"""commerce_sync.canonical.model (the model every adapter produces) and the canonical-format adapter."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from commerce_sync.aws.store_registry import Store
from commerce_sync.canonical.errors import BadRequest
from commerce_sync.canonical.model import (
    DATA_MODELS,
    CanonicalEvent,
    CanonicalModel,
    Cart,
    CartRemoval,
    ConsentState,
    Customer,
    DeletedEntity,
    EventType,
    MarketingConsent,
    Order,
    Product,
    ProductVariant,
    PromotionRemoval,
    make_event,
)
from commerce_sync.platforms.adapter import WebhookRequest
from commerce_sync.platforms.canonical.webhooks import STORE_HEADER, CanonicalAdapter
from commerce_sync.platforms.signatures import SignatureError, sign_standard_webhook
from pydantic import ValidationError


def line(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "id": "line-1",
        "product_id": "prod-1",
        "variant_id": "var-1",
        "product_title": "Trail Running Socks",
        "quantity": 2,
        "price": "19.99",
    }
    values.update(overrides)
    return values


def cart_data(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "id": "cart-1",
        "customer": {"id": "cust-1", "email": "jane@example.com"},
        "currency_code": "USD",
        "lines": [line()],
        "order_total": "39.98",
    }
    values.update(overrides)
    return values


# ---- e-mail ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("jane@example.com", "jane@example.com"),
        ("Jane.Doe@Example.COM", "jane.doe@example.com"),
        ("  JANE@EXAMPLE.COM\n", "jane@example.com"),
        ("\tx+tag@Sub.Example.co.uk ", "x+tag@sub.example.co.uk"),
    ],
)
def test_email_is_stripped_and_lower_cased(raw: str, expected: str) -> None:
    assert Customer(email=raw).email == expected


@pytest.mark.parametrize(
    "invalid",
    [
        "",
        "   ",
        "jane",
        "jane@",
        "@example.com",
        "jane@example",
        "jane doe@example.com",
        "jane@exa mple.com",
        "a@@b.com",
    ],
)
def test_invalid_email_is_rejected(invalid: str) -> None:
    with pytest.raises(ValidationError, match="email"):
        Customer(email=invalid)


def test_customer_without_email_is_allowed_and_consent_defaults_to_unknown() -> None:
    customer = Customer(id="42")
    assert customer.email is None
    assert customer.consent.state is ConsentState.UNKNOWN


def test_models_are_frozen() -> None:
    customer = Customer(id="42", email="a@b.co")
    with pytest.raises(ValidationError):
        customer.email = "other@b.co"  # type: ignore[misc]


# ---- money ----------------------------------------------------------------------------------------


def test_cart_money_is_quantised_to_the_currency() -> None:
    cart = Cart.model_validate(
        cart_data(
            currency_code="usd",
            order_total="63.569999999999",
            tax_total="3.6",
            lines=[line(price="19.989999999999998", discount="0.005")],
        )
    )
    assert cart.currency_code == "USD"
    assert str(cart.order_total) == "63.57"
    assert str(cart.tax_total) == "3.60"
    assert str(cart.lines[0].price) == "19.99"
    assert str(cart.lines[0].discount) == "0.01"


def test_jpy_cart_lines_become_integers() -> None:
    cart = Cart.model_validate(
        cart_data(currency_code="JPY", order_total="3000.4", lines=[line(price="1500.00"), line(id="l2", price="99.5")])
    )
    assert [item.price for item in cart.lines] == [Decimal(1500), Decimal(100)]
    assert all(item.price.as_tuple().exponent == 0 for item in cart.lines)
    assert cart.order_total == Decimal(3000)
    assert cart.order_total.as_tuple().exponent == 0


def test_kwd_cart_keeps_three_decimals() -> None:
    cart = Cart.model_validate(cart_data(currency_code="KWD", order_total="1.2345", lines=[line(price="0.1")]))
    assert str(cart.order_total) == "1.235"
    assert str(cart.lines[0].price) == "0.100"


def test_cart_money_as_float_is_quantised_without_noise() -> None:
    cart = Cart.model_validate(cart_data(order_total=59.3, lines=[line(price=0.1 + 0.2)]))
    assert str(cart.order_total) == "59.30"
    assert str(cart.lines[0].price) == "0.30"


def test_order_money_is_quantised_to_the_currency() -> None:
    order = Order.model_validate(
        {
            "id": "order-1",
            "customer": {"email": "jane@example.com"},
            "currency_code": "JPY",
            "lines": [line(price="1999.5", discount="0.4")],
            "order_total": "4000.5",
            "tax_total": "100.2",
            "shipping_total": "500.49",
            "discount_total": "0.5",
            "refunds": [{"id": "r1", "amount": "10.5"}],
        }
    )
    assert order.order_total == Decimal(4001)
    assert order.tax_total == Decimal(100)
    assert order.shipping_total == Decimal(500)
    assert order.discount_total == Decimal(1)
    assert order.refunds[0].amount == Decimal(11)
    assert order.lines[0].price == Decimal(2000)
    assert order.lines[0].discount == Decimal(0)
    assert all(
        value.as_tuple().exponent == 0
        for value in (order.order_total, order.tax_total, order.shipping_total, order.lines[0].price)
    )


def test_order_needs_at_least_one_line() -> None:
    with pytest.raises(ValidationError, match="lines"):
        Order.model_validate(
            {"id": "o", "customer": {"id": "c"}, "currency_code": "USD", "lines": [], "order_total": "0"}
        )


@pytest.mark.parametrize(
    "bad",
    [
        {"order_total": "-0.01"},
        {"order_total": "NaN"},
        {"order_total": "Infinity"},
        {"order_total": "abc"},
        {"lines": [line(price="-1")]},
        {"lines": [line(quantity=-1)]},
        {"currency_code": "US"},
        {"currency_code": "U$D"},
        {"id": "   "},
    ],
)
def test_cart_rejects_invalid_values(bad: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        Cart.model_validate(cart_data(**bad))


def test_cart_with_out_of_range_total_is_a_validation_error() -> None:
    with pytest.raises(ValidationError):
        Cart.model_validate(cart_data(order_total="1e30"))


# ---- timestamps -----------------------------------------------------------------------------------


def test_naive_timestamps_become_utc() -> None:
    naive = datetime(2025, 3, 14, 9, 18, 2)
    cart = Cart.model_validate(cart_data(created_at=naive, updated_at="2025-03-14T09:18:02"))
    for value in (cart.created_at, cart.updated_at):
        assert value is not None
        assert value.tzinfo is not None
        assert value.utcoffset() == timedelta(0)
        assert value.replace(tzinfo=None) == naive
    consent = MarketingConsent(state=ConsentState.GRANTED, updated_at=naive)
    assert consent.updated_at == naive.replace(tzinfo=UTC)


def test_aware_timestamps_keep_their_instant() -> None:
    eastern = timezone(timedelta(hours=-4))
    cart = Cart.model_validate(cart_data(updated_at="2025-03-14T09:18:02-04:00"))
    assert cart.updated_at == datetime(2025, 3, 14, 9, 18, 2, tzinfo=eastern)
    assert cart.updated_at == datetime(2025, 3, 14, 13, 18, 2, tzinfo=UTC)


# ---- products -------------------------------------------------------------------------------------


def test_product_needs_a_variant_and_a_title() -> None:
    with pytest.raises(ValidationError, match="variants"):
        Product(id="p", title="T", variants=())
    with pytest.raises(ValidationError, match="title"):
        Product(id="p", title="", variants=(ProductVariant(id="v", title="V"),))


# ---- the event envelope ---------------------------------------------------------------------------


def make_cart_event(**overrides: Any) -> CanonicalEvent:
    cart = Cart.model_validate(cart_data())
    values: dict[str, Any] = {
        "event_type": EventType.CART_UPDATED,
        "event_id": "evt-1",
        "store_id": "canon-1",
        "platform": "canonical",
        "entity": cart,
        "entity_id": cart.id,
        "entity_version": "2025-03-14T13:18:02.000000Z",
        "occurred_at": datetime(2025, 3, 14, 13, 18, 2, tzinfo=UTC),
    }
    values.update(overrides)
    return make_event(**values)


def test_event_requires_non_empty_data() -> None:
    event = make_cart_event()
    raw = event.model_dump(mode="json")
    raw["data"] = {}
    with pytest.raises(ValidationError, match="data must describe the entity"):
        CanonicalEvent.model_validate(raw)


def test_event_round_trips_through_json() -> None:
    event = make_cart_event()
    text = event.model_dump_json()
    again = CanonicalEvent.model_validate_json(text)
    assert again == event
    assert again.model_dump_json() == text
    assert again.cart() == Cart.model_validate(cart_data())


def test_event_data_is_json_with_money_as_strings() -> None:
    event = make_cart_event()
    assert event.schema_version == "1"
    assert event.data["order_total"] == "39.98"
    assert event.data["lines"][0]["price"] == "19.99"
    # None fields are not carried
    assert "tax_total" not in event.data
    json.dumps(event.data)  # plain JSON, no Decimal or datetime left


def test_event_occurred_at_defaults_to_now_in_utc() -> None:
    before = datetime.now(UTC)
    event = make_cart_event(occurred_at=None)
    assert before <= event.occurred_at <= datetime.now(UTC)


def test_event_rejects_unknown_schema_version_and_type() -> None:
    raw = make_cart_event().model_dump(mode="json")
    with pytest.raises(ValidationError, match="schema_version"):
        CanonicalEvent.model_validate({**raw, "schema_version": "2"})
    with pytest.raises(ValidationError, match="type"):
        CanonicalEvent.model_validate({**raw, "type": "cart.exploded"})


def test_a_sequence_orders_changes_that_share_a_version_and_leaves_versions_without_one_as_they_compare() -> None:
    raw = make_cart_event().model_dump(mode="json")
    second = "2025-03-14T13:18:02.000000Z"
    bare = CanonicalEvent.model_validate({**raw, "entity_version": second})
    first_of_it = CanonicalEvent.model_validate({**raw, "entity_version": second, "sequence": 1})
    tenth_of_it = CanonicalEvent.model_validate({**raw, "entity_version": second, "sequence": 10})
    next_second = CanonicalEvent.model_validate({**raw, "entity_version": "2025-03-14T13:18:03.000000Z"})

    assert first_of_it.entity_version == f"{second}#000000000001" and first_of_it.sequence is None
    versions = [e.entity_version for e in (bare, first_of_it, tenth_of_it, next_second)]
    assert versions == sorted(versions) and len(set(versions)) == 4
    # Read again (from the bus, a claim check, a dead letter), the folded version stays as it is.
    again = CanonicalEvent.model_validate_json(tenth_of_it.model_dump_json())
    assert again.entity_version == tenth_of_it.entity_version
    # Zero-padded counters keep their order too, a prefix of another counter included.
    assert CanonicalEvent.model_validate({**raw, "entity_version": "12", "sequence": 5}).entity_version < "123"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"sequence": -1}, "sequence"),
        ({"sequence": 10**12}, "sequence"),
        ({"entity_version": "v" * 243, "sequence": 1}, "sequence"),
    ],
)
def test_a_sequence_out_of_range_or_without_room_in_the_version_is_refused(changes: dict[str, Any], field: str) -> None:
    raw = make_cart_event().model_dump(mode="json")
    with pytest.raises(ValidationError) as refused:
        CanonicalEvent.model_validate({**raw, **changes})
    assert refused.value.errors()[0]["loc"] == (field,)


def test_data_models_cover_every_event_type() -> None:
    assert set(DATA_MODELS) == set(EventType)
    for event_type, model in DATA_MODELS.items():
        assert issubclass(model, CanonicalModel)
        if event_type.value.endswith(".deleted"):
            # Every removal names the entity; a cart removal also says why (conversion guards late carts), a
            # promotion's may name only some of its codes.
            assert "id" in model.model_fields
            special = {EventType.CART_DELETED: CartRemoval, EventType.PROMOTION_DELETED: PromotionRemoval}
            assert model is special.get(event_type, DeletedEntity)


def test_event_accessors_give_the_typed_entity() -> None:
    deleted = make_cart_event(event_type=EventType.CART_DELETED, entity=DeletedEntity(id="cart-1"))
    assert deleted.deleted() == DeletedEntity(id="cart-1")
    customer = make_cart_event(event_type=EventType.CUSTOMER_UPDATED, entity=Customer(id="c", email="A@B.co"))
    assert customer.customer().email == "a@b.co"


# ---- the canonical adapter ------------------------------------------------------------------------


def canonical_request(body: dict[str, Any] | bytes, headers: dict[str, str] | None = None) -> WebhookRequest:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return WebhookRequest(platform="canonical", headers=headers or {STORE_HEADER: "canon-1"}, body=raw)


def raw_cart_event(store_id: str = "canon-1", data: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "schema_version": "1",
        "event_id": "evt-1",
        "type": "cart.updated",
        "store_id": store_id,
        "platform": "canonical",
        "occurred_at": "2025-03-14T13:18:02Z",
        "entity_id": "cart-1",
        "entity_version": "1",
        "data": data if data is not None else cart_data(),
    }


def test_canonical_adapter_rejects_an_event_for_another_store(canonical_store: Store) -> None:
    with pytest.raises(BadRequest) as caught:
        CanonicalAdapter().normalise(canonical_request(raw_cart_event(store_id="someone-else")), canonical_store)
    assert caught.value.field == "store_id"


def test_canonical_adapter_normalises_the_data(canonical_store: Store) -> None:
    data = cart_data(
        customer={"id": "cust-1", "email": "  Jane.Doe@Example.COM "},
        lines=[line(price="19.989999999999998")],
        order_total="39.979999",
        tax_total=None,
    )
    result = CanonicalAdapter().normalise(canonical_request(raw_cart_event(data=data)), canonical_store)
    assert result.ignored_reason is None
    [event] = result.events
    assert event.type is EventType.CART_UPDATED
    assert event.store_id == "canon-1"
    assert event.data["customer"]["email"] == "jane.doe@example.com"
    assert event.data["lines"][0]["price"] == "19.99"
    assert event.data["order_total"] == "39.98"
    assert "tax_total" not in event.data
    assert event.cart().customer.email == "jane.doe@example.com"


def test_canonical_adapter_names_the_invalid_data_field(canonical_store: Store) -> None:
    data = cart_data()
    del data["currency_code"]
    with pytest.raises(BadRequest) as caught:
        CanonicalAdapter().normalise(canonical_request(raw_cart_event(data=data)), canonical_store)
    assert caught.value.field == "currency_code"


def test_canonical_adapter_rejects_an_unknown_type(canonical_store: Store) -> None:
    with pytest.raises(BadRequest) as caught:
        CanonicalAdapter().normalise(canonical_request({**raw_cart_event(), "type": "cart.exploded"}), canonical_store)
    assert caught.value.field == "type"


def test_canonical_adapter_rejects_malformed_json(canonical_store: Store) -> None:
    with pytest.raises(BadRequest, match="not valid JSON"):
        CanonicalAdapter().normalise(canonical_request(b'{"type": "cart.updated",'), canonical_store)


def test_canonical_adapter_rejects_an_out_of_range_amount(canonical_store: Store) -> None:
    with pytest.raises(BadRequest):
        CanonicalAdapter().normalise(
            canonical_request(raw_cart_event(data=cart_data(order_total="1e30"))), canonical_store
        )


def test_canonical_adapter_store_identity_and_verify() -> None:
    body = json.dumps(raw_cart_event()).encode()
    now = int(time.time())
    headers = {
        "Commerce-Sync-Store": "canon-1",
        "Webhook-Id": "msg_1",
        "Webhook-Timestamp": str(now),
        "Webhook-Signature": sign_standard_webhook("right", "msg_1", now, body),
    }
    request = WebhookRequest(platform="canonical", headers=headers, body=body)
    adapter = CanonicalAdapter()
    assert adapter.store_identity(request) == "canon-1"
    assert adapter.verify(request, ["old", "right"]) == 1
    with pytest.raises(SignatureError):
        adapter.verify(request, ["wrong"])
    with pytest.raises(BadRequest):
        adapter.store_identity(WebhookRequest(platform="canonical", headers={}, body=body))


def test_consent_from_several_places_is_granted_by_any_and_never_taken_back_by_a_no() -> None:
    granted = MarketingConsent(state=ConsentState.GRANTED, source="checkout")
    denied = MarketingConsent(state=ConsentState.DENIED, source="newsletter")

    assert MarketingConsent.from_any(denied, granted) == granted
    assert MarketingConsent.from_any(granted, denied) == granted
    assert MarketingConsent.from_any(MarketingConsent(), denied) == denied
    assert MarketingConsent.from_any(MarketingConsent(), MarketingConsent()) == MarketingConsent()
    assert MarketingConsent.from_any() == MarketingConsent()
