"""The Mailchimp client against the emulator over real HTTP: upserts the real API accepts, typed
errors from problem+json, and retries only where a retry can help."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from decimal import Decimal

import pytest
from commerce_sync.mailchimp.client import MailchimpClient, RetryPolicy
from commerce_sync.mailchimp.errors import (
    MailchimpAuthError,
    MailchimpError,
    MailchimpNotFound,
    MailchimpProductMissing,
)
from commerce_sync.mailchimp.models import (
    McCart,
    McCustomer,
    McLine,
    McOrder,
    McProduct,
    McProductVariant,
    McStore,
)

from emulators.mailchimp import MailchimpEmulator
from tests.harness import API_KEY

FAST = RetryPolicy(total=4, backoff_factor=0.01, backoff_jitter=0.0)


@pytest.fixture
def client(mailchimp: MailchimpEmulator) -> MailchimpClient:
    return MailchimpClient(api_key=API_KEY, base_url=mailchimp.base_url, retry=FAST, read_timeout=1.0)


@pytest.fixture
def store_id(client: MailchimpClient) -> Iterator[str]:
    store = McStore(id=f"client-{uuid.uuid4().hex[:8]}", list_id="list-client", name="Client", currency_code="USD")
    client.ensure_store(store)
    yield store.id


def _product(client: MailchimpClient, store_id: str) -> McProduct:
    product = McProduct(id="p1", title="Socks", variants=[McProductVariant(id="v1", title="M", price=Decimal("5"))])
    client.upsert_product(store_id, product)
    return product


def _cart(cart_id: str, total: str = "10.00", quantity: int = 2) -> McCart:
    return McCart(
        id=cart_id,
        customer=McCustomer(id="c1", email_address="c1@example.com", opt_in_status=False),
        currency_code="USD",
        order_total=Decimal(total),
        lines=[McLine(id="l1", product_id="p1", product_variant_id="v1", quantity=quantity, price=Decimal("5"))],
    )


def _writes(mailchimp: MailchimpEmulator, fragment: str) -> list[tuple[str, int]]:
    return [(r["method"], r["status"]) for r in mailchimp.requests if fragment in r["path"] and r["method"] != "GET"]


def test_ping_and_account(client: MailchimpClient) -> None:
    assert client.ping()["health_status"] == "Everything's Chimpy!"
    assert client.account()["account_id"] == "test-account"


def test_wrong_key_is_an_auth_error(mailchimp: MailchimpEmulator) -> None:
    wrong = MailchimpClient(api_key="ffffffffffffffffffffffffffffffff-us6", base_url=mailchimp.base_url, retry=FAST)
    with pytest.raises(MailchimpAuthError) as raised:
        wrong.ping()
    assert raised.value.status == 401
    assert "ffffffff" not in str(raised.value)


def test_ensure_store_refuses_another_audience(client: MailchimpClient, store_id: str) -> None:
    with pytest.raises(ValueError, match="cannot change"):
        client.ensure_store(McStore(id=store_id, list_id="other-list", name="Client", currency_code="USD"))


def test_cart_upsert_posts_then_patches_the_full_lines(
    client: MailchimpClient, store_id: str, mailchimp: MailchimpEmulator
) -> None:
    _product(client, store_id)
    client.upsert_customer(store_id, _cart("x").customer)

    client.upsert_cart(store_id, _cart("cart-1"))
    client.upsert_cart(store_id, _cart("cart-1", total="5.00", quantity=1))

    cart = client.get(f"/ecommerce/stores/{store_id}/carts/cart-1")
    assert cart["order_total"] == 5.0
    assert [line["quantity"] for line in cart["lines"]] == [1]
    assert _writes(mailchimp, f"{store_id}/carts") == [("PATCH", 404), ("POST", 200), ("PATCH", 200)]


def test_cart_line_for_a_missing_product_is_a_typed_error(client: MailchimpClient, store_id: str) -> None:
    with pytest.raises(MailchimpProductMissing):
        client.upsert_cart(store_id, _cart("cart-2"))


def test_deleting_a_cart_twice_is_done_both_times(client: MailchimpClient, store_id: str) -> None:
    _product(client, store_id)
    client.upsert_cart(store_id, _cart("cart-3"))

    assert client.delete_cart(store_id, "cart-3") is True
    assert client.delete_cart(store_id, "cart-3") is False
    with pytest.raises(MailchimpNotFound):
        client.get(f"/ecommerce/stores/{store_id}/carts/cart-3")


def test_order_upsert_never_uses_put(client: MailchimpClient, store_id: str, mailchimp: MailchimpEmulator) -> None:
    _product(client, store_id)
    cart = _cart("o")
    order = McOrder(
        id="order-1",
        customer=cart.customer,
        currency_code="USD",
        order_total=Decimal("10"),
        lines=cart.lines,
        financial_status="pending",
    )

    client.upsert_order(store_id, order)
    client.upsert_order(store_id, order.model_copy(update={"financial_status": "paid"}))

    assert client.get(f"/ecommerce/stores/{store_id}/orders/order-1")["financial_status"] == "paid"
    methods = [method for method, _ in _writes(mailchimp, f"{store_id}/orders")]
    assert "PUT" not in methods
    assert mailchimp.order_status_history(store_id, "order-1")[-1][0] == "paid"


def test_throttling_and_server_errors_are_retried(
    client: MailchimpClient, store_id: str, mailchimp: MailchimpEmulator
) -> None:
    patient = MailchimpClient(
        api_key=API_KEY, base_url=mailchimp.base_url, retry=RetryPolicy(total=12, backoff_factor=0.001)
    )
    mailchimp.set_faults(rate_429=0.3, rate_500=0.1, rate_403_html=0.1, seed=3)
    for _ in range(10):
        assert patient.ping()["health_status"]
    faults = {r["fault"] for r in mailchimp.requests if r["path"].endswith("/ping") and r["fault"]}
    assert faults & {"429", "500", "403_html"}


def test_a_read_timeout_is_retried(client: MailchimpClient, mailchimp: MailchimpEmulator) -> None:
    mailchimp.set_faults(rate_timeout=0.5, timeout_s=1.5, seed=5)
    slowest = 0.0
    for _ in range(10):
        started = time.monotonic()
        assert client.ping()["health_status"]
        slowest = max(slowest, time.monotonic() - started)
        if slowest >= 1.0:
            break
    assert slowest >= 1.0, "a call waited out its read timeout and was then retried"
    # The emulator records a held request only once it answers, after the client gave up on it.
    deadline = time.monotonic() + 5
    while not any(r["fault"] == "timeout" for r in mailchimp.requests):
        assert time.monotonic() < deadline, "no timeout fault was recorded"
        time.sleep(0.1)


def test_when_retries_run_out_the_error_says_so_and_is_retryable(
    client: MailchimpClient, mailchimp: MailchimpEmulator
) -> None:
    mailchimp.set_faults(rate_500=1.0)
    with pytest.raises(MailchimpError) as raised:
        client.ping()
    assert raised.value.retryable
    attempts = [r for r in mailchimp.requests if r["path"].endswith("/ping") and r["fault"] == "500"]
    assert len(attempts) >= FAST.total + 1


def test_a_validation_error_is_not_retried(
    client: MailchimpClient, store_id: str, mailchimp: MailchimpEmulator
) -> None:
    before = len(mailchimp.requests)
    with pytest.raises(MailchimpError) as raised:
        client.request("POST", f"/ecommerce/stores/{store_id}/customers", {"id": "no-email", "opt_in_status": False})
    assert raised.value.status == 400
    assert not raised.value.retryable
    # Only this store's: the emulator is shared with the runner, whose containers may still be at work.
    posts = [r for r in mailchimp.requests[before:] if r["path"].endswith(f"/stores/{store_id}/customers")]
    assert len(posts) == 1
