"""The WooCommerce adapter on the realistic samples in events/ (woocommerce_customer_created.json,
woocommerce_customer_deleted.json, woocommerce_ping.txt)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from commerce_sync.aws.store_registry import Store, platform_identity
from commerce_sync.canonical.errors import BadRequest
from commerce_sync.canonical.model import ConsentState, Customer, EventType
from commerce_sync.platforms.adapter import Normalised, WebhookRequest
from commerce_sync.platforms.registry import adapters
from commerce_sync.platforms.signatures import SignatureError, sign_base64_hmac
from commerce_sync.platforms.woocommerce.webhooks import DEFAULT_CONSENT_META_KEYS, WooCommerceAdapter, site_identity

from tests.paths import EVENTS

SECRET = "wc-webhook-secret-Qk3v"
SITE = "https://shop.example.com/"
DELIVERY_ID = "5d41402abc4b2a76b9719d911017c592"
CUSTOMER_VERSION = "2025-03-14T13:18:02.000000Z"


@pytest.fixture
def woo_store() -> Store:
    return Store(
        store_id="woo-shop",
        platform="woocommerce",
        identity=SITE,
        name="Café Ŝtelo",
        list_id="a1b2c3d4e5",
        currency_code="CAD",
        secret_id="commerce-sync/stores/woo-shop",
    )


@pytest.fixture
def customer_payload() -> dict[str, Any]:
    return json.loads((EVENTS / "woocommerce_customer_created.json").read_text(encoding="utf-8"))


def woo_request(
    body: dict[str, Any] | bytes,
    topic: str = "customer.created",
    secret: str | None = SECRET,
    **headers: str,
) -> WebhookRequest:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    resource, _, event = topic.partition(".")
    all_headers = {
        "Content-Type": "application/json",
        "X-WC-Webhook-Source": SITE,
        "X-WC-Webhook-Topic": topic,
        "X-WC-Webhook-Resource": resource,
        "X-WC-Webhook-Event": event,
        "X-WC-Webhook-ID": "17",
        "X-WC-Webhook-Delivery-ID": DELIVERY_ID,
    }
    if secret is not None:
        all_headers["X-WC-Webhook-Signature"] = sign_base64_hmac(secret, raw)
    all_headers.update(headers)
    return WebhookRequest(platform="woocommerce", headers=all_headers, body=raw)


def normalise(body: dict[str, Any] | bytes, store: Store, adapter: WooCommerceAdapter | None = None, **kw: Any):  # type: ignore[no-untyped-def]
    return (adapter or WooCommerceAdapter()).normalise(woo_request(body, **kw), store)


def only_customer(result: Normalised) -> Customer:
    assert result.ignored_reason is None
    [event] = result.events
    return event.customer()


def with_meta(payload: dict[str, Any], *entries: tuple[str, Any]) -> dict[str, Any]:
    payload["meta_data"] = [{"id": 900 + n, "key": key, "value": value} for n, (key, value) in enumerate(entries)]
    return payload


# ---- registration --------------------------------------------------------------------------------


def test_the_adapter_is_registered_under_its_platform_name() -> None:
    assert isinstance(adapters()["woocommerce"], WooCommerceAdapter)
    assert WooCommerceAdapter.name == "woocommerce"


# ---- the creation ping ---------------------------------------------------------------------------


def ping_request(body: bytes, **headers: str) -> WebhookRequest:
    return WebhookRequest(platform="woocommerce", headers=headers, body=body)


def test_the_sample_ping_is_a_ping() -> None:
    body = (EVENTS / "woocommerce_ping.txt").read_bytes()
    assert WooCommerceAdapter().is_ping(
        ping_request(body, **{"Content-Type": "application/x-www-form-urlencoded; charset=UTF-8"})
    )


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"content-type": "application/x-www-form-urlencoded"},
        {"user-agent": "WooCommerce/9.7.1 Hookshot (WordPress/6.7.2)"},
        {"X-WC-Webhook-Signature": ""},
    ],
)
def test_an_unsigned_webhook_id_form_body_is_a_ping_whatever_else_is_sent(headers: dict[str, str]) -> None:
    assert WooCommerceAdapter().is_ping(ping_request(b"webhook_id=4021", **headers))


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"webhook_id=",
        b"webhook_id=abc",
        b"webhook_id=17&topic=customer.created",
        b"id=17",
        b'{"webhook_id": 17}',
        b'{"id": 58}',
    ],
)
def test_other_unsigned_bodies_are_not_pings(body: bytes) -> None:
    assert not WooCommerceAdapter().is_ping(ping_request(body, **{"Content-Type": "application/x-www-form-urlencoded"}))


def test_a_signed_form_body_is_not_a_ping() -> None:
    request = woo_request(b"webhook_id=17", secret=SECRET, **{"Content-Type": "application/x-www-form-urlencoded"})
    assert not WooCommerceAdapter().is_ping(request)


def test_a_signed_ping_shaped_body_is_refused_as_unusable_not_ignored(woo_store: Store) -> None:
    with pytest.raises(BadRequest, match="JSON"):
        normalise(b"webhook_id=17", woo_store)


def test_a_real_delivery_is_not_a_ping(customer_payload: dict[str, Any]) -> None:
    assert not WooCommerceAdapter().is_ping(woo_request(customer_payload))
    assert not WooCommerceAdapter().is_ping(woo_request(customer_payload, secret=None))


# ---- which store ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "source",
    [
        "https://shop.example.com/",
        "https://shop.example.com",
        "HTTPS://Shop.Example.com//",
        " https://shop.example.com/ ",
    ],
)
def test_the_site_url_names_the_store_like_the_registry_does(source: str) -> None:
    identity = WooCommerceAdapter().store_identity(woo_request(b"{}", **{"X-WC-Webhook-Source": source}))
    assert identity == "https://shop.example.com"
    # What the registry looks up for this delivery is what it stored for the registered site URL.
    assert platform_identity("woocommerce", identity) == platform_identity("woocommerce", "https://shop.example.com/")


def test_scheme_and_subfolder_are_part_of_the_identity() -> None:
    assert site_identity("https://example.com/shop/") == "https://example.com/shop"
    assert site_identity("http://shop.example.com/") != site_identity("https://shop.example.com/")


def test_header_names_are_case_insensitive() -> None:
    request = WebhookRequest(platform="woocommerce", headers={"x-wc-webhook-source": SITE}, body=b"{}")
    assert WooCommerceAdapter().store_identity(request) == "https://shop.example.com"


@pytest.mark.parametrize("value", [None, ""])
def test_a_delivery_without_its_source_is_a_bad_request(value: str | None) -> None:
    request = woo_request(b"{}")
    headers = {k: v for k, v in request.headers.items() if k != "X-WC-Webhook-Source"}
    if value is not None:
        headers["X-WC-Webhook-Source"] = value
    with pytest.raises(BadRequest, match="X-WC-Webhook-Source"):
        WooCommerceAdapter().store_identity(WebhookRequest("woocommerce", headers, request.body))


# ---- signatures ----------------------------------------------------------------------------------


def test_the_right_signature_names_the_secret_that_signed(customer_payload: dict[str, Any]) -> None:
    request = woo_request(customer_payload)
    assert WooCommerceAdapter().verify(request, [SECRET]) == 0
    assert WooCommerceAdapter().verify(request, ["rotated-in", SECRET]) == 1


def test_a_body_encoded_as_php_sends_it_verifies_over_the_exact_bytes(customer_payload: dict[str, Any]) -> None:
    # wp_json_encode escapes slashes and non-ASCII; the signature is over those bytes, never re-serialised.
    raw = json.dumps(customer_payload, separators=(",", ":")).replace("/", "\\/").encode()
    request = woo_request(raw)
    assert WooCommerceAdapter().verify(request, [SECRET]) == 0
    customer = only_customer(WooCommerceAdapter().normalise(request, _store()))
    assert customer.first_name == "Zoë"


def _store() -> Store:
    return Store(
        store_id="woo-shop",
        platform="woocommerce",
        identity=SITE,
        name="Woo",
        list_id="l",
        currency_code="CAD",
        secret_id="s",
    )


def test_a_wrong_signature_is_refused(customer_payload: dict[str, Any]) -> None:
    with pytest.raises(SignatureError, match="does not match"):
        WooCommerceAdapter().verify(woo_request(customer_payload, secret="not-the-secret"), [SECRET])


def test_a_tampered_body_is_refused(customer_payload: dict[str, Any]) -> None:
    request = woo_request(customer_payload)
    tampered = WebhookRequest("woocommerce", request.headers, request.body.replace(b"58", b"59", 1))
    with pytest.raises(SignatureError):
        WooCommerceAdapter().verify(tampered, [SECRET])


def test_a_missing_signature_is_refused(customer_payload: dict[str, Any]) -> None:
    with pytest.raises(SignatureError, match="missing"):
        WooCommerceAdapter().verify(woo_request(customer_payload, secret=None), [SECRET])


def test_a_signature_that_is_not_base64_is_refused(customer_payload: dict[str, Any]) -> None:
    request = woo_request(customer_payload, **{"X-WC-Webhook-Signature": "not base64!"})
    with pytest.raises(SignatureError):
        WooCommerceAdapter().verify(request, [SECRET])


# ---- customer.created / customer.updated ---------------------------------------------------------


@pytest.mark.parametrize("topic", ["customer.created", "customer.updated"])
def test_customer_topics_become_one_customer_updated_event(
    topic: str, customer_payload: dict[str, Any], woo_store: Store
) -> None:
    result = normalise(customer_payload, woo_store, topic=topic)
    assert result.ignored_reason is None
    [event] = result.events
    assert event.type is EventType.CUSTOMER_UPDATED
    assert event.store_id == "woo-shop"
    assert event.platform == "woocommerce"
    assert event.entity_id == "58"
    assert event.entity_version == CUSTOMER_VERSION
    assert event.occurred_at == datetime(2025, 3, 14, 13, 18, 2, tzinfo=UTC)
    assert event.event_id == f"woocommerce:customer:58:{CUSTOMER_VERSION}"


def test_the_sample_customer_maps_to_the_canonical_customer(customer_payload: dict[str, Any], woo_store: Store) -> None:
    customer = only_customer(normalise(customer_payload, woo_store))
    assert customer.id == "58"
    assert customer.email == "zoe.belanger@example.com"
    assert customer.first_name == "Zoë"
    assert customer.last_name == "Bélanger-Nguyễn"
    assert customer.company == "Café Ŝtelo inc."
    assert customer.consent.state is ConsentState.GRANTED
    assert customer.consent.source == "woocommerce:mailchimp_woocommerce_is_subscribed"
    address = customer.address
    assert address is not None
    assert address.name == "Zoë Bélanger-Nguyễn"
    assert address.address1 == "1234 Rue Saint-Denis"
    assert address.address2 == "App. 5"
    assert address.city == "Montréal"
    assert address.province == "QC"
    assert address.province_code == "QC"
    assert address.postal_code == "H2X 3K2"
    assert address.country_code == "CA"
    assert address.phone == "+1 514-555-0147"


def test_duplicates_of_one_save_share_the_event_id(customer_payload: dict[str, Any], woo_store: Store) -> None:
    first = normalise(customer_payload, woo_store, topic="customer.created")
    second = normalise(customer_payload, woo_store, topic="customer.updated", **{"X-WC-Webhook-Delivery-ID": "other"})
    assert first.events[0].event_id == second.events[0].event_id


def test_a_later_modification_is_a_newer_version(customer_payload: dict[str, Any], woo_store: Store) -> None:
    first = normalise(customer_payload, woo_store).events[0]
    customer_payload["date_modified_gmt"] = "2025-03-14T13:20:00"
    second = normalise(customer_payload, woo_store, topic="customer.updated").events[0]
    assert second.entity_version > first.entity_version
    assert second.event_id != first.event_id


def test_without_a_modification_date_the_creation_date_versions_the_customer(
    customer_payload: dict[str, Any], woo_store: Store
) -> None:
    customer_payload["date_modified_gmt"] = None
    customer_payload["date_created_gmt"] = "2025-03-01T08:00:00"
    [event] = normalise(customer_payload, woo_store).events
    assert event.entity_version == "2025-03-01T08:00:00.000000Z"


def test_without_any_date_the_delivery_id_names_the_event(customer_payload: dict[str, Any], woo_store: Store) -> None:
    customer_payload["date_modified_gmt"] = ""
    customer_payload["date_created_gmt"] = None
    [event] = normalise(customer_payload, woo_store).events
    assert event.event_id == f"woocommerce:{DELIVERY_ID}"
    assert event.entity_version.endswith("Z") and len(event.entity_version) == len(CUSTOMER_VERSION)


@pytest.mark.parametrize("email", ["  JANE.Doe@EXAMPLE.org ", "jane.doe@example.org"])
def test_emails_are_trimmed_and_lower_cased(email: str, customer_payload: dict[str, Any], woo_store: Store) -> None:
    customer_payload["email"] = email
    assert only_customer(normalise(customer_payload, woo_store)).email == "jane.doe@example.org"


def test_blank_fields_become_absent_not_empty(customer_payload: dict[str, Any], woo_store: Store) -> None:
    customer_payload["first_name"] = customer_payload["last_name"] = ""
    customer_payload["billing"] = dict.fromkeys(customer_payload["billing"], "")
    customer = only_customer(normalise(customer_payload, woo_store))
    assert customer.first_name is None and customer.last_name is None
    assert customer.company is None
    assert customer.address is None
    assert customer.email == "zoe.belanger@example.com"


def test_missing_names_fall_back_to_the_billing_names(customer_payload: dict[str, Any], woo_store: Store) -> None:
    customer_payload["first_name"] = customer_payload["last_name"] = ""
    customer = only_customer(normalise(customer_payload, woo_store))
    assert (customer.first_name, customer.last_name) == ("Zoë", "Bélanger-Nguyễn")


def test_a_customer_without_email_uses_the_billing_email(customer_payload: dict[str, Any], woo_store: Store) -> None:
    customer_payload["email"] = ""
    customer_payload["billing"]["email"] = "Billing@Example.com"
    assert only_customer(normalise(customer_payload, woo_store)).email == "billing@example.com"


def test_a_free_text_state_is_a_province_without_a_code(customer_payload: dict[str, Any], woo_store: Store) -> None:
    customer_payload["billing"].update(state="County Kerry", country="IE")
    address = only_customer(normalise(customer_payload, woo_store)).address
    assert address is not None
    assert (address.province, address.province_code, address.country_code) == ("County Kerry", None, "IE")


# ---- consent from meta_data ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "state"),
    [
        ("1", ConsentState.GRANTED),
        ("yes", ConsentState.GRANTED),
        ("true", ConsentState.GRANTED),
        ("TRUE", ConsentState.GRANTED),
        (True, ConsentState.GRANTED),
        (1, ConsentState.GRANTED),
        ("0", ConsentState.DENIED),
        ("no", ConsentState.DENIED),
        ("false", ConsentState.DENIED),
        (False, ConsentState.DENIED),
        (0, ConsentState.DENIED),
        ("", ConsentState.UNKNOWN),
        ("archived", ConsentState.UNKNOWN),
        (None, ConsentState.UNKNOWN),
        (["1"], ConsentState.UNKNOWN),
    ],
)
def test_consent_values(value: Any, state: ConsentState, customer_payload: dict[str, Any], woo_store: Store) -> None:
    with_meta(customer_payload, ("mailchimp_woocommerce_is_subscribed", value))
    assert only_customer(normalise(customer_payload, woo_store)).consent.state is state


def test_the_protected_meta_key_is_read_too(customer_payload: dict[str, Any], woo_store: Store) -> None:
    with_meta(customer_payload, ("_mailchimp_woocommerce_is_subscribed", "no"))
    consent = only_customer(normalise(customer_payload, woo_store)).consent
    assert consent.state is ConsentState.DENIED
    assert consent.source == "woocommerce:_mailchimp_woocommerce_is_subscribed"


def test_the_first_key_with_a_known_value_decides(customer_payload: dict[str, Any], woo_store: Store) -> None:
    with_meta(
        customer_payload,
        ("_mailchimp_woocommerce_is_subscribed", "1"),
        ("mailchimp_woocommerce_is_subscribed", "0"),
    )
    assert only_customer(normalise(customer_payload, woo_store)).consent.state is ConsentState.DENIED
    with_meta(
        customer_payload,
        ("mailchimp_woocommerce_is_subscribed", ""),
        ("_mailchimp_woocommerce_is_subscribed", "1"),
    )
    assert only_customer(normalise(customer_payload, woo_store)).consent.state is ConsentState.GRANTED


def test_no_consent_meta_is_unknown(customer_payload: dict[str, Any], woo_store: Store) -> None:
    with_meta(customer_payload, ("wc_last_active", "1741910400"))
    consent = only_customer(normalise(customer_payload, woo_store)).consent
    assert consent.state is ConsentState.UNKNOWN
    assert consent.source is None


def test_the_consent_keys_are_configurable(customer_payload: dict[str, Any], woo_store: Store) -> None:
    with_meta(customer_payload, ("mailchimp_woocommerce_is_subscribed", "1"), ("newsletter_optin", "yes"))
    adapter = WooCommerceAdapter(consent_meta_keys=["newsletter_optin"])
    consent = only_customer(normalise(customer_payload, woo_store, adapter=adapter)).consent
    assert consent.state is ConsentState.GRANTED
    assert consent.source == "woocommerce:newsletter_optin"
    with_meta(customer_payload, ("mailchimp_woocommerce_is_subscribed", "1"))
    assert only_customer(normalise(customer_payload, woo_store, adapter=adapter)).consent.state is ConsentState.UNKNOWN


def test_the_consent_keys_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert WooCommerceAdapter().consent_meta_keys == DEFAULT_CONSENT_META_KEYS
    monkeypatch.setenv("WOOCOMMERCE_CONSENT_META_KEYS", " newsletter_optin , _klaviyo_optin ,")
    assert WooCommerceAdapter().consent_meta_keys == ("newsletter_optin", "_klaviyo_optin")
    monkeypatch.setenv("WOOCOMMERCE_CONSENT_META_KEYS", "")
    assert WooCommerceAdapter().consent_meta_keys == ()


# ---- customer.deleted ----------------------------------------------------------------------------


def test_customer_deleted_sample_becomes_customer_deleted(woo_store: Store) -> None:
    body = (EVENTS / "woocommerce_customer_deleted.json").read_bytes()
    before = datetime.now(UTC)
    [event] = normalise(body, woo_store, topic="customer.deleted").events
    assert event.type is EventType.CUSTOMER_DELETED
    assert event.deleted().id == "58"
    assert event.entity_id == "58"
    assert event.event_id == f"woocommerce:{DELIVERY_ID}"
    assert event.occurred_at >= before
    assert event.entity_version > CUSTOMER_VERSION


def test_customer_deleted_without_a_delivery_id_is_named_by_id_and_time(woo_store: Store) -> None:
    [event] = normalise({"id": 58}, woo_store, topic="customer.deleted", **{"X-WC-Webhook-Delivery-ID": ""}).events
    assert event.event_id == f"woocommerce:customer-deleted:58:{event.entity_version}"


@pytest.mark.parametrize("body", [{}, {"id": ""}, {"id": None}, []])
def test_customer_deleted_without_an_id_is_a_bad_request(body: Any, woo_store: Store) -> None:
    with pytest.raises(BadRequest) as caught:
        normalise(body, woo_store, topic="customer.deleted")
    assert caught.value.field in {"id", "body"}


# ---- other topics --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "topic",
    ["action.woocommerce_add_to_cart", "customer.restored", "subscription.updated"],
)
def test_other_topics_are_ignored(topic: str, woo_store: Store) -> None:
    result = normalise({"id": 7, "code": "spring25"}, woo_store, topic=topic)
    assert result.events == ()
    assert result.ignored_reason is not None and topic in result.ignored_reason


def test_an_ignored_topic_is_not_parsed(woo_store: Store) -> None:
    assert normalise(b"not json", woo_store, topic="subscription.updated").ignored_reason


def test_a_delivery_without_a_topic_is_a_bad_request(customer_payload: dict[str, Any], woo_store: Store) -> None:
    with pytest.raises(BadRequest, match="X-WC-Webhook-Topic"):
        normalise(customer_payload, woo_store, **{"X-WC-Webhook-Topic": ""})


# ---- unusable payloads ---------------------------------------------------------------------------


def test_malformed_json_is_a_bad_request(woo_store: Store) -> None:
    with pytest.raises(BadRequest, match="JSON"):
        normalise(b'{"id": 58,', woo_store)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"id": None}, "id"),
        ({"id": 0}, "id"),
        ({"id": "fifty-eight"}, "id"),
        ({"date_modified_gmt": "last tuesday"}, "date_modified_gmt"),
        ({"email": "not-an-address"}, "email"),
        ({"billing": "somewhere"}, "billing"),
        ({"meta_data": [{"id": 1, "value": "1"}]}, "meta_data.0.key"),
    ],
)
def test_unusable_customers_are_bad_requests_naming_the_field(
    change: dict[str, Any], field: str, customer_payload: dict[str, Any], woo_store: Store
) -> None:
    customer_payload.update(change)
    with pytest.raises(BadRequest) as caught:
        normalise(customer_payload, woo_store)
    assert caught.value.field == field
    assert field in str(caught.value)


def test_a_body_that_is_not_an_object_is_a_bad_request(woo_store: Store) -> None:
    with pytest.raises(BadRequest):
        normalise(b"[1, 2]", woo_store)
