"""API2Cart's pieces without HTTP: the order status table, the signature reading (computed here independently, in
PHP's json_encode form), the API address forms, the envelope's errors and the abandoned checkout's cart."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

import pytest
from commerce_sync.canonical.model import FinancialStatus
from commerce_sync.platforms.api2cart.api import (
    Api2CartNotFound,
    Api2CartRefused,
    Api2CartUnsupported,
    _result,
    parse_url,
)
from commerce_sync.platforms.api2cart.customers import abandoned_basket, to_cart
from commerce_sync.platforms.api2cart.models import A2cAbandoned, A2cBasket
from commerce_sync.platforms.connection import PlatformApiUrlError
from commerce_sync.platforms.order_statuses import UnknownStatus, api2cart_status
from commerce_sync.platforms.signatures import SignatureError, sign_api2cart, verify_api2cart

KEY = "a2c-unit-api-key"


@pytest.mark.parametrize(
    ("status_id", "name", "financial", "shipped"),
    [
        ("pending", "Pending", FinancialStatus.PENDING, False),
        ("processing", "Processing", FinancialStatus.PAID, False),
        ("complete", "Complete", FinancialStatus.PAID, True),
        ("closed", "Closed", FinancialStatus.REFUNDED, False),
        ("canceled", "Canceled", FinancialStatus.CANCELLED, False),
        ("2", "Payment accepted", FinancialStatus.PAID, False),
        ("4", "Shipped", FinancialStatus.PAID, True),
        ("12", "On backorder (not paid)", FinancialStatus.PENDING, False),
        ("9", "On backorder (paid)", FinancialStatus.PAID, False),
        ("8", "Payment error", FinancialStatus.CANCELLED, False),
        ("7", "Refunded", FinancialStatus.REFUNDED, False),
        ("15", "Partially Refunded", FinancialStatus.PAID, False),
        ("5", "Complete", FinancialStatus.PAID, True),
    ],
)
def test_each_cart_status_lands_on_a_notification_value(
    status_id: str, name: str, financial: FinancialStatus, shipped: bool
) -> None:
    mapped = api2cart_status(status_id, name)
    assert (mapped.financial, mapped.shipped) == (financial, shipped)


def test_a_status_nothing_places_is_refused_by_name() -> None:
    with pytest.raises(UnknownStatus, match=r"'21'.*'Quote sent'"):
        api2cart_status("21", "Quote sent")


def headers(at: int) -> dict[str, str]:
    return {
        "X-Webhook-Entity": "order",
        "X-Webhook-Action": "update",
        "X-Webhook-Store-Id": "1",
        "X-Webhook-Timestamp": str(at),
    }


def test_the_signature_covers_body_and_headers_as_php_encodes_them() -> None:
    at = int(time.time())
    payload = {"id": "7", "url": "https://shop.example/p/7", "name": "Zoé"}
    signed = (
        '{"request_body":{"id":"7","url":"https:\\/\\/shop.example\\/p\\/7","name":"Zo\\u00e9"},'
        f'"request_headers":{{"X-Webhook-Action":"update","X-Webhook-Entity":"order","X-Webhook-Store-Id":"1",'
        f'"X-Webhook-Timestamp":"{at}"}}}}'
    )
    expected = base64.b64encode(hmac.new(KEY.encode(), signed.encode(), hashlib.sha256).digest()).decode()
    assert sign_api2cart(KEY, payload, headers(at)) == expected
    verify_api2cart(KEY, payload, headers(at), expected)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"key": "another-key"}, "does not match"),
        ({"payload": {"id": "8"}}, "does not match"),
        ({"headers": {"X-Webhook-Action": "add"}}, "does not match"),
        ({"signature": None}, "missing"),
        ({"signature": "not base64!"}, "not base64"),
        ({"age": 301}, "outside the allowed window"),
        ({"age": -301}, "outside the allowed window"),
        ({"headers": {"X-Webhook-Timestamp": "soon"}}, "not a Unix time"),
    ],
)
def test_anything_else_is_refused(change: dict[str, object], reason: str) -> None:
    at = int(time.time()) - int(change.get("age", 0))  # type: ignore[call-overload]
    payload = {"id": "7"}
    signature = sign_api2cart(KEY, payload, headers(at))
    given_headers = {**headers(at), **change.get("headers", {})}  # type: ignore[dict-item]
    with pytest.raises(SignatureError, match=reason):
        verify_api2cart(
            str(change.get("key", KEY)),
            change.get("payload", payload),
            given_headers,
            change.get("signature", signature),  # type: ignore[arg-type]
        )


def test_api_addresses() -> None:
    assert parse_url("https://api.api2cart.com/v1.1/").url == "https://api.api2cart.com/v1.1"
    assert parse_url("http://127.0.0.1:8501").url == "http://127.0.0.1:8501/v1.1"
    with pytest.raises(PlatformApiUrlError):
        parse_url("https://api.api2cart.com/v1.0")
    with pytest.raises(PlatformApiUrlError):
        parse_url("https://api.api2cart.com/v1.1?api_key=secret")


def test_the_envelope() -> None:
    assert _result("order.info", {"return_code": 0, "return_message": "", "result": {"id": "1"}}) == {"id": "1"}
    with pytest.raises(Api2CartNotFound):
        _result("order.info", {"return_code": 4, "return_message": "Order not found"})
    with pytest.raises(Api2CartRefused, match="return_code 2: Incorrect API Key") as refused:
        _result("cart.info", {"return_code": 2, "return_message": "Incorrect API Key"})
    assert refused.value.retryable is False
    with pytest.raises(Api2CartUnsupported):
        _result("order.abandoned.list", {"return_code": 5, "return_message": "Method is not supported by Squarespace"})


def test_an_abandoned_checkout_is_the_same_cart_as_its_basket() -> None:
    """The nightly pull and the basket webhook give Mailchimp the same cart: same id (the basket's), lines,
    total, checkout URL and shopper."""
    at = {"value": "2026-12-01T10:00:00+0000", "format": "Y-m-d\\TH:i:sO"}
    shopper = {"id": "7", "email": "carter@example.com", "first_name": "Carter"}
    basket = A2cBasket.model_validate(
        {
            "id": "b-9",
            "customer": shopper,
            "basket_url": "https://shop.example/cart",
            "created_at": at,
            "modified_at": at,
            "basket_products": [
                {
                    "id": "1",
                    "product_id": "41",
                    "variant_id": "4101",
                    "sku": "MUG",
                    "name": "Mug",
                    "price": 15,
                    "quantity": 2,
                }
            ],
        }
    )
    checkout = A2cAbandoned.model_validate(
        {
            "id": "a-3",
            "basket_id": "b-9",
            "customer": shopper,
            "basket_url": "https://shop.example/cart",
            "created_at": at,
            "modified_at": at,
            "totals": {"total": 30},
            "order_products": [
                {
                    "order_product_id": "1",
                    "product_id": "41",
                    "variant_id": "4101",
                    "model": "MUG",
                    "name": "Mug",
                    "price": 15,
                    "quantity": 2,
                }
            ],
        }
    )

    assert to_cart(abandoned_basket(checkout), "EUR") == to_cart(basket, "EUR")
    without_basket = abandoned_basket(checkout.model_copy(update={"basket_id": None}))
    assert without_basket.id == "a-3", "its own id when API2Cart names no basket"
