"""The BigCommerce emulator over real HTTP, and the platform HTTP session (commerce_sync.platforms.http) against it:
authentication, the shapes of answers and errors, paging, minted redirect URLs, fault injection, and
the session's retries, waits and timeouts."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from commerce_sync.platforms.http import (
    HttpPolicy,
    PlatformApiError,
    PlatformAuthError,
    PlatformNotFound,
    get_json,
    platform_session,
)

from emulators.bigcommerce import BigCommerceEmulator

EVENTS = Path(__file__).resolve().parents[2] / "events"
STORE_HASH = "k7x2m9q4ab"
TOKEN = "emulator-token-3Fq"
TIMEOUT = (3.05, 10)
FAST = HttpPolicy(connect_timeout=1.0, read_timeout=2.0, retries=3, backoff_factor=0.01, backoff_max=0.05, max_wait=1)


@pytest.fixture
def emulator() -> Iterator[BigCommerceEmulator]:
    with BigCommerceEmulator(STORE_HASH, TOKEN) as running:
        yield running


def cart_sample() -> dict[str, Any]:
    cart = json.loads((EVENTS / "bigcommerce_cart.json").read_text(encoding="utf-8"))["data"]
    del cart["redirect_urls"]
    return cart


def get(emulator: BigCommerceEmulator, path: str, token: str | None = TOKEN, **params: Any) -> requests.Response:
    headers = {"X-Auth-Token": token} if token else {}
    return requests.get(f"{emulator.base_url}{path}", headers=headers, params=params, timeout=TIMEOUT)


# ----- the emulator ----------------------------------------------------------------------------------------


def test_base_url_names_the_store_like_the_real_api(emulator: BigCommerceEmulator) -> None:
    assert emulator.base_url == f"http://127.0.0.1:{emulator.port}/stores/{STORE_HASH}"


@pytest.mark.parametrize("token", [None, "not-the-token"])
def test_requests_without_a_valid_auth_token_get_a_401_error_document(
    emulator: BigCommerceEmulator, token: str | None
) -> None:
    emulator.put_cart(cart_sample())

    response = get(emulator, f"/v3/carts/{cart_sample()['id']}", token=token)

    assert response.status_code == 401
    body = response.json()
    assert body["status"] == 401 and body["title"].startswith("Unauthorized")
    assert body["type"].startswith("https://developer.bigcommerce.com/")


def test_a_cart_is_served_as_put_with_fresh_redirect_urls_only_when_included(emulator: BigCommerceEmulator) -> None:
    stored = emulator.put_cart(cart_sample())

    plain = get(emulator, f"/v3/carts/{stored['id']}")
    first = get(emulator, f"/v3/carts/{stored['id']}", include="redirect_urls").json()["data"]
    second = get(emulator, f"/v3/carts/{stored['id']}", include="redirect_urls,promotions.banners").json()["data"]

    assert plain.status_code == 200
    assert plain.json()["data"] == stored
    assert "redirect_urls" not in plain.json()["data"]
    assert set(first["redirect_urls"]) == {"cart_url", "checkout_url", "embedded_checkout_url"}
    assert "action=loadInCheckout" in first["redirect_urls"]["checkout_url"]
    # Redirect URLs are single-use on BigCommerce: each request mints new ones; the latest is kept.
    assert first["redirect_urls"]["checkout_url"] != second["redirect_urls"]["checkout_url"]
    assert emulator.last_redirect_urls(stored["id"]) == second["redirect_urls"]


def test_put_cart_fills_id_and_times_and_delete_cart_makes_it_404(emulator: BigCommerceEmulator) -> None:
    stored = emulator.put_cart({"cart_amount": 0, "line_items": {}})

    assert stored["id"] and stored["created_time"] == stored["updated_time"]
    emulator.delete_cart(stored["id"])
    gone = get(emulator, f"/v3/carts/{stored['id']}")
    assert gone.status_code == 404
    assert gone.json() == {
        "status": 404,
        "title": "Cart not found",
        "type": "https://developer.bigcommerce.com/api-docs/getting-started/api-status-codes",
        "errors": {},
    }


def test_another_store_hash_and_unknown_routes_are_404(emulator: BigCommerceEmulator) -> None:
    other = requests.get(
        f"{emulator.root_url}/stores/someoneelse/v3/carts/x", headers={"X-Auth-Token": TOKEN}, timeout=TIMEOUT
    )
    assert other.status_code == 404
    assert get(emulator, "/v3/orders").status_code == 404
    assert (
        requests.post(f"{emulator.base_url}/v3/customers", headers={"X-Auth-Token": TOKEN}, timeout=TIMEOUT).status_code
        == 405
    )


def test_customers_are_filtered_by_id_and_email_and_paged(emulator: BigCommerceEmulator) -> None:
    for customer_id in range(1, 6):
        emulator.put_customer({"id": customer_id, "email": f"Shopper{customer_id}@Example.com", "first_name": "Zoë"})

    by_id = get(emulator, "/v3/customers", **{"id:in": "2,4,9"}).json()
    by_email = get(emulator, "/v3/customers", **{"email:in": "shopper3@example.com"}).json()
    page = get(emulator, "/v3/customers", page=2, limit=2).json()

    assert [c["id"] for c in by_id["data"]] == [2, 4]
    assert by_id["meta"]["pagination"]["total"] == 2
    assert [c["id"] for c in by_email["data"]] == [3]
    assert by_email["data"][0]["first_name"] == "Zoë"
    assert [c["id"] for c in page["data"]] == [3, 4]
    assert page["meta"]["pagination"] == {
        "total": 5,
        "count": 2,
        "per_page": 2,
        "current_page": 2,
        "total_pages": 3,
        "links": {"current": "?page=2&limit=2", "previous": "?page=1&limit=2", "next": "?page=3&limit=2"},
    }
    assert get(emulator, "/v3/customers", **{"id:in": "two"}).status_code == 422


def test_subscribers_are_found_by_email_with_their_consents(emulator: BigCommerceEmulator) -> None:
    emulator.put_subscriber({"email": "Zoe@Example.com", "consents": ["marketing_newsletter"]})
    emulator.put_subscriber({"email": "other@example.com", "consents": []})

    found = get(emulator, "/v3/customers/subscribers", email="zoe@example.com").json()["data"]

    assert [(s["id"], s["email"], s["consents"], s["source"]) for s in found] == [
        (1, "Zoe@Example.com", ["marketing_newsletter"], "storefront")
    ]
    assert get(emulator, "/v3/customers/subscribers", email="nobody@example.com").json()["data"] == []


def test_products_are_paged_with_variants_and_images_only_when_included(emulator: BigCommerceEmulator) -> None:
    for product_id in (101, 102, 103):
        emulator.put_product(
            {
                "id": product_id,
                "name": f"Produit {product_id}",
                "variants": [{"id": product_id * 10, "sku": f"SKU-{product_id}"}],
                "images": [{"id": 1, "url_standard": "https://cdn.example/p.jpg"}],
            }
        )

    bare = get(emulator, "/v3/catalog/products", limit=2).json()
    full = get(emulator, "/v3/catalog/products", page=2, limit=2, include="variants,images").json()
    one = get(emulator, "/v3/catalog/products/102", include="variants").json()["data"]

    assert [p["id"] for p in bare["data"]] == [101, 102]
    assert all("variants" not in p and "images" not in p for p in bare["data"])
    assert [p["id"] for p in full["data"]] == [103]
    assert full["data"][0]["variants"][0]["sku"] == "SKU-103" and full["data"][0]["images"]
    assert full["meta"]["pagination"]["total_pages"] == 2
    assert "variants" in one and "images" not in one
    assert get(emulator, "/v3/catalog/products/999").status_code == 404


def test_every_answer_carries_the_rate_limit_headers(emulator: BigCommerceEmulator) -> None:
    response = get(emulator, "/v3/customers")

    for header in (
        "X-Rate-Limit-Requests-Quota",
        "X-Rate-Limit-Requests-Left",
        "X-Rate-Limit-Time-Window-Ms",
        "X-Rate-Limit-Time-Reset-Ms",
    ):
        assert response.headers[header].isdigit()


def test_faults_throttle_with_the_reset_header_and_fail_and_are_recorded(emulator: BigCommerceEmulator) -> None:
    emulator.set_faults(rate_429=1.0, reset_ms=1234)
    throttled = get(emulator, "/v3/customers")
    emulator.set_faults(rate_500=1.0)
    failed = get(emulator, "/v3/customers")
    emulator.set_faults()
    fine = get(emulator, "/v3/customers", token=None)

    assert throttled.status_code == 429
    assert throttled.headers["X-Rate-Limit-Time-Reset-Ms"] == "1234"
    assert throttled.headers["X-Rate-Limit-Requests-Left"] == "0"
    assert throttled.json()["status"] == 429
    assert failed.status_code == 500
    assert fine.status_code == 401
    assert [(r["status"], r["fault"]) for r in emulator.requests] == [(429, 429), (500, 500), (401, None)]
    assert all(TOKEN not in json.dumps(r) for r in emulator.requests)


def test_fault_draws_follow_the_seed(emulator: BigCommerceEmulator) -> None:
    def statuses() -> list[int]:
        return [get(emulator, "/v3/customers").status_code for _ in range(12)]

    emulator.set_faults(rate_429=0.3, rate_500=0.3, seed=11)
    first = statuses()
    emulator.set_faults(rate_429=0.3, rate_500=0.3, seed=11)

    assert statuses() == first
    assert {429, 500, 200} <= set(first)


def test_reset_clears_data_requests_and_faults(emulator: BigCommerceEmulator) -> None:
    emulator.put_cart(cart_sample())
    emulator.set_faults(rate_500=1.0)
    get(emulator, "/v3/customers")

    emulator.reset()

    assert emulator.requests == [] and emulator.faults.rate_500 == 0
    assert get(emulator, f"/v3/carts/{cart_sample()['id']}").status_code == 404


# ----- commerce_sync.platforms.http against it -----------------------------------------------------------


def session() -> requests.Session:
    return platform_session(FAST, headers={"X-Auth-Token": TOKEN})


def test_get_json_returns_the_document(emulator: BigCommerceEmulator) -> None:
    emulator.put_customer({"id": 7, "email": "a@example.com"})

    answer = get_json(session(), f"{emulator.base_url}/v3/customers", params={"id:in": "7"})

    assert answer["data"][0]["id"] == 7


def test_a_throttled_get_waits_the_reset_time_and_then_succeeds(emulator: BigCommerceEmulator) -> None:
    emulator.put_customer({"id": 7, "email": "a@example.com"})
    emulator.set_faults(rate_429=0.6, reset_ms=150, seed=1)
    started = time.monotonic()

    answer = get_json(session(), f"{emulator.base_url}/v3/customers")

    throttles = sum(1 for r in emulator.requests if r["status"] == 429)
    assert answer["data"][0]["id"] == 7
    assert throttles >= 1
    # The backoff alone would be a few milliseconds: the reset header set the wait.
    assert time.monotonic() - started >= 0.15 * throttles


def test_server_errors_are_retried_with_backoff(emulator: BigCommerceEmulator) -> None:
    emulator.set_faults(rate_500=0.5, seed=1)

    get_json(session(), f"{emulator.base_url}/v3/customers")

    assert [r["status"] for r in emulator.requests][-1] == 200
    assert 500 in {r["status"] for r in emulator.requests}


def test_retries_end_in_a_typed_retryable_error(emulator: BigCommerceEmulator) -> None:
    emulator.set_faults(rate_500=1.0)

    with pytest.raises(PlatformApiError) as failed:
        get_json(session(), f"{emulator.base_url}/v3/customers", params={"email:in": "secret.person@example.com"})

    assert failed.value.status == 500 and failed.value.retryable
    assert len(emulator.requests) == 1 + FAST.retries
    # The message names the path, never the query (an e-mail address) nor the token.
    assert "/v3/customers" in str(failed.value)
    assert "secret.person" not in str(failed.value) and TOKEN not in str(failed.value)


def test_a_throttle_longer_than_max_wait_is_given_up_at_once(emulator: BigCommerceEmulator) -> None:
    emulator.set_faults(rate_429=1.0, reset_ms=5_000)
    started = time.monotonic()

    with pytest.raises(PlatformApiError) as throttled:
        get_json(session(), f"{emulator.base_url}/v3/customers")

    assert throttled.value.status == 429 and throttled.value.retryable
    assert time.monotonic() - started < 1.0
    assert len(emulator.requests) == 1


def test_the_reset_header_of_a_500_is_not_a_wait(emulator: BigCommerceEmulator) -> None:
    # Every answer carries X-Rate-Limit-Time-Reset-Ms (15 s here); only a 429's means "wait".
    emulator.set_faults(rate_500=1.0)
    started = time.monotonic()

    with pytest.raises(PlatformApiError):
        get_json(session(), f"{emulator.base_url}/v3/customers")

    assert len(emulator.requests) == 1 + FAST.retries
    assert time.monotonic() - started < 1.0


def test_only_get_is_retried(emulator: BigCommerceEmulator) -> None:
    emulator.set_faults(rate_500=1.0)

    response = session().post(f"{emulator.base_url}/v3/customers", json=[{"email": "a@example.com"}])

    assert response.status_code == 500
    assert len(emulator.requests) == 1


def test_a_read_timeout_is_retried_then_reported_as_no_answer(emulator: BigCommerceEmulator) -> None:
    emulator.set_faults(latency_ms=400)
    slow = platform_session(
        HttpPolicy(connect_timeout=1.0, read_timeout=0.1, retries=1, backoff_factor=0.01), {"X-Auth-Token": TOKEN}
    )

    with pytest.raises(PlatformApiError) as failed:
        get_json(slow, f"{emulator.base_url}/v3/customers")

    assert failed.value.status == 0 and failed.value.retryable
    assert "timed out" in str(failed.value)
    time.sleep(0.5)  # let the emulator finish answering the abandoned requests
    assert len(emulator.requests) == 2


def test_not_found_and_refused_credentials_are_typed(emulator: BigCommerceEmulator) -> None:
    with pytest.raises(PlatformNotFound) as missing:
        get_json(session(), f"{emulator.base_url}/v3/carts/nope")
    with pytest.raises(PlatformAuthError) as refused:
        get_json(platform_session(FAST, {"X-Auth-Token": "wrong"}), f"{emulator.base_url}/v3/carts/nope")

    assert missing.value.status == 404 and "Cart not found" in str(missing.value)
    assert not missing.value.retryable
    assert refused.value.status == 401 and not refused.value.retryable


def test_a_connection_refused_is_a_retryable_error_with_status_0() -> None:
    with BigCommerceEmulator(STORE_HASH, TOKEN) as stopped_soon:
        url = f"{stopped_soon.base_url}/v3/customers"
    fast = platform_session(HttpPolicy(connect_timeout=0.5, read_timeout=0.5, retries=1, backoff_factor=0.01))

    with pytest.raises(PlatformApiError) as failed:
        get_json(fast, url)

    assert failed.value.status == 0 and failed.value.retryable


def test_fractional_retry_after_is_understood() -> None:
    # Shopify answers 429 with "Retry-After: 2.0"; urllib3 alone reads only whole seconds or a date.
    from commerce_sync.platforms.http import PlatformRetry

    assert PlatformRetry(total=1).parse_retry_after("2.0") == 2.0
    assert PlatformRetry(total=1).parse_retry_after("3") == 3.0
