"""Contract: the bodies the mapping produces validate against Mailchimp's 3.0.90 schemas.

The schemas come from the emulator's bundled copy, emulators/mailchimp/spec/ecommerce-subset.json, whose
root `x-request-body-schemas` maps "METHOD path" to the `$ref` of the operation's request body. Bodies are
validated with a Draft 4 validator of their own resolving `$ref`s over the whole document, as the emulator
does. That copy is a byte-for-byte copy of ../shared/mailchimp/ecommerce-subset.json (beside the project;
see the copy's PROVENANCE.md): the last test checks so, and is the only one skipped when the shared folder
is absent.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from commerce_sync.aws.store_registry import Store
from commerce_sync.canonical.model import (
    Address,
    Cart,
    ConsentState,
    Customer,
    Line,
    MarketingConsent,
    Product,
    ProductImage,
    ProductVariant,
)
from commerce_sync.mailchimp.mapping import (
    product_from_line,
    to_mailchimp_cart,
    to_mailchimp_customer,
    to_mailchimp_product,
)
from commerce_sync.mailchimp.models import McStore, McStoreUpdate
from jsonschema import Draft4Validator
from referencing import Registry
from referencing.jsonschema import DRAFT4

from tests.paths import PROJECT, SHARED

pytestmark = pytest.mark.spec

SHARED_SPEC = SHARED / "mailchimp" / "ecommerce-subset.json"
EMULATOR_SPEC = PROJECT / "emulators" / "mailchimp" / "spec" / "ecommerce-subset.json"
SPEC_URI = "urn:mailchimp:ecommerce-subset"

PUT_CUSTOMER = "PUT /ecommerce/stores/{store_id}/customers/{customer_id}"
POST_CART = "POST /ecommerce/stores/{store_id}/carts"
PATCH_CART = "PATCH /ecommerce/stores/{store_id}/carts/{cart_id}"
PUT_PRODUCT = "PUT /ecommerce/stores/{store_id}/products/{product_id}"
POST_STORE = "POST /ecommerce/stores"
PATCH_STORE = "PATCH /ecommerce/stores/{store_id}"


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return json.loads(EMULATOR_SPEC.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def validator_for(spec: dict[str, Any]) -> Callable[[str], Draft4Validator]:
    registry = Registry().with_resource(SPEC_URI, DRAFT4.create_resource(spec))
    request_bodies: dict[str, str] = spec["x-request-body-schemas"]

    def make(operation: str) -> Draft4Validator:
        assert operation in request_bodies, f"{operation} is not in x-request-body-schemas"
        return Draft4Validator({"$ref": SPEC_URI + request_bodies[operation]}, registry=registry)

    return make


def assert_valid(validator: Draft4Validator, body: dict[str, Any]) -> None:
    wire = json.loads(json.dumps(body))  # what actually goes over HTTP
    errors = [
        f"{'.'.join(map(str, error.absolute_path)) or '<body>'}: {error.message}"
        for error in validator.iter_errors(wire)
    ]
    assert errors == [], errors


# ---- bodies ---------------------------------------------------------------------------------------


def line(index: int, price: str, **overrides: Any) -> Line:
    values: dict[str, Any] = {
        "id": f"line-{index}",
        "product_id": f"prod-{index}",
        "variant_id": f"var-{index}",
        "product_title": "Chaussettes de randonnée 🧦",
        "variant_title": "M / Bleu",
        "sku": f"SKU-{index}",
        "quantity": index + 1,
        "price": price,
    }
    values.update(overrides)
    return Line.model_validate(values)


REGISTERED = Customer(
    id="7712345678909",
    email="Jane.Doe@Example.COM",
    first_name="Jane",
    last_name="Doe",
    company="Demo Outfitters",
    address=Address(name="Jane Doe", address1="42 Harbour Street", city="Portland", postal_code="04101"),
    consent=MarketingConsent(state=ConsentState.GRANTED),
)
GUEST = Customer(email="guest@example.org")
LONG_ID = Customer(id="gid:shopify:Customer:" + "9" * 60, email="long@example.org")

CARTS = {
    "usd": Cart(
        id="b7f0d3c2a9e84e1f8c6d5a4b3e2f1a0c",
        customer=REGISTERED,
        currency_code="USD",
        lines=(line(0, "19.99", discount="1.50"), line(1, "59.2999999999999971578")),
        order_total="138.57",
        tax_total="3.60",
        checkout_url="https://demo-shop.myshopify.com/checkouts/ac/b7f0/recover",
        campaign_id="3f8a1b2c4d",
    ),
    "jpy-guest": Cart(
        id="jp-1",
        customer=GUEST,
        currency_code="jpy",
        lines=(line(0, "1500"), line(1, "0")),
        order_total="1500.4",
    ),
    "kwd-long-id": Cart(
        id="kw-1", customer=LONG_ID, currency_code="KWD", lines=(line(0, "1.2345"),), order_total="1.2345"
    ),
    "empty": Cart(id="empty-1", customer=GUEST, currency_code="EUR", lines=(), order_total="0"),
}

PRODUCTS = {
    "full": to_mailchimp_product(
        Product(
            id="8821334556733",
            title="Trail Running Socks",
            handle="trail-running-socks",
            url="https://demo-shop.example/products/trail-running-socks",
            description="<p>Socks</p>",
            type="Socks",
            vendor="Demo Outfitters",
            image_url="https://cdn.example/socks.jpg",
            images=(ProductImage(id="img-1", url="https://cdn.example/socks.jpg", variant_ids=("46011223344573",)),),
            variants=(
                ProductVariant(
                    id="46011223344573", title="M / Blue", sku="SOCK-M", price="19.99", inventory_quantity=7
                ),
                ProductVariant(id="46011223344574", title="L / Blue", backorders="no", visibility="visible"),
            ),
            published_at="2025-03-01T10:00:00-05:00",
        )
    ).body(),
    "minimal": to_mailchimp_product(
        Product(id="p-min", title="Minimal", variants=(ProductVariant(id="v-min", title="Default"),))
    ).body(),
    "from-line": product_from_line(line(0, "19.99", url="https://shop/p", image_url="https://cdn/p.jpg")).body(),
    "from-line-no-variant-title": product_from_line(line(1, "5", variant_title=None)).body(),
}


@pytest.mark.parametrize("customer", [REGISTERED, GUEST, LONG_ID], ids=["registered", "guest", "long-id"])
def test_customer_put_body(validator_for: Callable[[str], Draft4Validator], customer: Customer) -> None:
    assert_valid(validator_for(PUT_CUSTOMER), to_mailchimp_customer(customer).body())


@pytest.mark.parametrize("name", CARTS)
def test_cart_post_body(validator_for: Callable[[str], Draft4Validator], name: str) -> None:
    assert_valid(validator_for(POST_CART), to_mailchimp_cart(CARTS[name]).body())


@pytest.mark.parametrize("name", CARTS)
def test_cart_patch_body(validator_for: Callable[[str], Draft4Validator], name: str) -> None:
    assert_valid(validator_for(PATCH_CART), to_mailchimp_cart(CARTS[name]).patch_body())


@pytest.mark.parametrize("name", PRODUCTS)
def test_product_put_body(validator_for: Callable[[str], Draft4Validator], name: str) -> None:
    assert_valid(validator_for(PUT_PRODUCT), PRODUCTS[name])


def test_store_post_body(validator_for: Callable[[str], Draft4Validator], shopify_store: Store) -> None:
    # built as operator_cli.stores.add_store builds it from a registered store
    body = McStore(
        id=shopify_store.store_id,
        list_id=shopify_store.list_id,
        name=shopify_store.name,
        currency_code=shopify_store.currency_code,
        platform=shopify_store.platform,
        domain="demo-shop.example",
        email_address="shop@demo-shop.example",
        is_syncing=False,
    ).body()
    assert_valid(validator_for(POST_STORE), body)
    minimal = McStore(id="s1", list_id="l1", name="Shop", currency_code="EUR").body()
    assert_valid(validator_for(POST_STORE), minimal)


def test_store_patch_body(validator_for: Callable[[str], Draft4Validator]) -> None:
    # what `add-store` sends for a registered store's changed fields
    changes = McStoreUpdate(name="Shop EU", currency_code="EUR", platform="woocommerce", domain="shop.example").body()
    assert_valid(validator_for(PATCH_STORE), changes)
    assert_valid(validator_for(PATCH_STORE), McStoreUpdate(name="Shop").body())


# ---- the validator itself catches what it should (so the tests above can fail) ---------------------


@pytest.mark.parametrize(
    ("operation", "body"),
    [
        (PUT_CUSTOMER, {"id": "x" * 51, "opt_in_status": True}),
        (PUT_CUSTOMER, {"id": "c1"}),
        (POST_CART, {"id": "c", "customer": {"id": "c1"}, "currency_code": "USD", "order_total": "19.99", "lines": []}),
        (POST_CART, {"id": "c", "customer": {"id": "c1"}, "currency_code": "USD", "order_total": 1}),
        (PATCH_CART, {"order_total": 1, "lines": [{"quantity": "2"}]}),
        (PUT_PRODUCT, {"id": "p", "title": "T", "variants": [{"title": "no id"}]}),
        (POST_STORE, {"id": "s", "name": "n", "currency_code": "USD"}),
    ],
    ids=["long-customer-id", "no-opt-in", "string-money", "no-lines", "string-quantity", "variant-no-id", "no-list"],
)
def test_schema_rejects_invalid_bodies(
    validator_for: Callable[[str], Draft4Validator], operation: str, body: dict[str, Any]
) -> None:
    assert not validator_for(operation).is_valid(body)


# ---- the emulator's bundled copy ------------------------------------------------------------------


def test_emulator_copy_is_byte_identical_to_the_shared_spec() -> None:
    if not SHARED_SPEC.is_file():
        pytest.skip(f"Mailchimp spec subset not found at {SHARED_SPEC} (the shared research folder is absent)")
    assert EMULATOR_SPEC.read_bytes() == SHARED_SPEC.read_bytes(), (
        f"{EMULATOR_SPEC.relative_to(PROJECT)} differs from {SHARED_SPEC}; copy it again and update PROVENANCE.md"
    )
