"""commerce_sync.mailchimp.mapping: canonical entities to Mailchimp request bodies (NOTES.md §5, §12)."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
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
from commerce_sync.canonical.money import minor_units
from commerce_sync.mailchimp.ids import MAX_MAILCHIMP_ID
from commerce_sync.mailchimp.mapping import (
    UnmappableError,
    customer_id,
    product_from_line,
    subscriber_hash,
    to_mailchimp_cart,
    to_mailchimp_customer,
    to_mailchimp_line,
    to_mailchimp_product,
)
from commerce_sync.mailchimp.models import McCart, McProduct
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st


def md5(text: str) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def make_line(**overrides: Any) -> Line:
    values: dict[str, Any] = {
        "id": "line-1",
        "product_id": "8821334556733",
        "variant_id": "46011223344573",
        "product_title": "Trail Running Socks",
        "variant_title": "M / Blue",
        "sku": "SOCK-TRL-M-BLU",
        "quantity": 2,
        "price": "19.99",
    }
    values.update(overrides)
    return Line.model_validate(values)


def make_cart(**overrides: Any) -> Cart:
    values: dict[str, Any] = {
        "id": "b7f0d3c2a9e84e1f8c6d5a4b3e2f1a0c",
        "customer": Customer(
            id="7712345678909", email="Jane.Doe@Example.COM", consent=MarketingConsent(state=ConsentState.GRANTED)
        ),
        "currency_code": "USD",
        "lines": (
            make_line(),
            make_line(id="line-2", product_id="8821334622269", variant_id="46011223410109", quantity=1),
        ),
        "order_total": "63.57",
        "tax_total": "3.60",
    }
    values.update(overrides)
    return Cart.model_validate(values)


# ---- customer ids ---------------------------------------------------------------------------------


def test_a_customer_is_keyed_by_the_md5_of_its_lower_cased_email() -> None:
    """As Mailchimp for WooCommerce keys them: an address is a customer, whatever platform account holds it."""
    registered = customer_id(Customer(id="7712345678909", email="Jane.Doe@Example.COM"))
    guest = customer_id(Customer(email="  jane.doe@EXAMPLE.com "))
    assert registered == guest == md5("jane.doe@example.com")
    assert "jane" not in registered
    assert len(registered) <= MAX_MAILCHIMP_ID


def test_a_new_address_is_a_new_mailchimp_customer() -> None:
    before = customer_id(Customer(id="7712345678909", email="jane@example.com"))
    after = customer_id(Customer(id="7712345678909", email="jane.doe@example.net"))
    assert before != after


def test_a_shopper_without_email_has_no_mailchimp_customer_id() -> None:
    with pytest.raises(UnmappableError):
        customer_id(Customer(id="7712345678909"))
    with pytest.raises(UnmappableError):
        customer_id(Customer())
    assert issubclass(UnmappableError, ValueError)


def test_subscriber_hash_is_md5_of_the_stripped_lower_cased_email() -> None:
    assert subscriber_hash(" Jane.Doe@Example.COM ") == md5("jane.doe@example.com")
    assert subscriber_hash("urist.mcvankab@freddiesjokes.com") == "62eeb292278cc15f5817cb78f7790b08"


# ---- customers ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "opted_in"),
    [(ConsentState.GRANTED, True), (ConsentState.DENIED, False), (ConsentState.UNKNOWN, False)],
)
def test_opt_in_status_is_true_only_with_granted_consent(state: ConsentState, opted_in: bool) -> None:
    customer = Customer(id="c1", email="a@b.co", consent=MarketingConsent(state=state))
    body = to_mailchimp_customer(customer).body()
    assert body["opt_in_status"] is opted_in


def test_customer_body() -> None:
    customer = Customer(
        id="c1",
        email="Jane@Example.com",
        first_name="Jane",
        company=None,
        address=Address(
            name="Jane Doe", company="Acme", phone="+1 555", address1="42 Harbour Street", country_code="US"
        ),
    )
    body = to_mailchimp_customer(customer).body()
    assert body == {
        "id": md5("jane@example.com"),
        "email_address": "jane@example.com",
        "opt_in_status": False,
        "first_name": "Jane",
        # name, company and phone are order-address fields, not customer-address ones
        "address": {"address1": "42 Harbour Street", "country_code": "US"},
    }


def test_address_with_only_order_fields_is_omitted() -> None:
    body = to_mailchimp_customer(Customer(id="c1", email="a@b.co", address=Address(name="Jane"))).body()
    assert "address" not in body


def test_customer_without_email_is_unmappable() -> None:
    with pytest.raises(UnmappableError, match="email"):
        to_mailchimp_customer(Customer(id="c1"))
    with pytest.raises(UnmappableError):
        to_mailchimp_cart(make_cart(customer=Customer(id="c1")))


# ---- carts ----------------------------------------------------------------------------------------


def test_cart_body_has_money_as_exact_json_numbers() -> None:
    body = to_mailchimp_cart(make_cart()).body()
    wire = json.loads(json.dumps(body))
    for value in (wire["order_total"], wire["tax_total"], *(item["price"] for item in wire["lines"])):
        assert isinstance(value, float | int)
        assert not isinstance(value, bool)
    assert wire["order_total"] == 63.57
    assert wire["tax_total"] == 3.6
    assert [item["price"] for item in wire["lines"]] == [19.99, 19.99]
    text = json.dumps(body)
    assert '"price": 19.99' in text
    assert '"order_total": 63.57' in text
    assert '"19.99"' not in text  # never a string
    assert "19.98999" not in text  # never float noise


def test_cart_body_from_noisy_amounts_is_exact() -> None:
    cart = make_cart(order_total="59.2999999999999971578", lines=(make_line(price=19.989999999999998),))
    text = json.dumps(to_mailchimp_cart(cart).body())
    assert '"order_total": 59.3' in text
    assert '"price": 19.99' in text


def test_cart_body_maps_lines() -> None:
    body = to_mailchimp_cart(make_cart()).body()
    assert body["lines"] == [
        {
            "id": "line-1",
            "product_id": "8821334556733",
            "product_variant_id": "46011223344573",
            "quantity": 2,
            "price": 19.99,
        },
        {
            "id": "line-2",
            "product_id": "8821334622269",
            "product_variant_id": "46011223410109",
            "quantity": 1,
            "price": 19.99,
        },
    ]


def test_cart_body_omits_none_fields() -> None:
    body = to_mailchimp_cart(make_cart(tax_total=None)).body()
    assert set(body) == {"id", "customer", "currency_code", "order_total", "lines"}
    assert "null" not in json.dumps(body)
    assert body["customer"] == {
        "id": md5("jane.doe@example.com"),
        "email_address": "jane.doe@example.com",
        "opt_in_status": True,
    }


def test_cart_body_carries_campaign_and_checkout_url() -> None:
    body = to_mailchimp_cart(make_cart(campaign_id="3f8a1b2c4d", checkout_url="https://shop/recover")).body()
    assert body["campaign_id"] == "3f8a1b2c4d"
    assert body["checkout_url"] == "https://shop/recover"


def test_line_discount_is_sent_only_when_non_zero() -> None:
    assert "discount" not in to_mailchimp_line(make_line()).body()
    assert to_mailchimp_line(make_line(discount="2.5")).body()["discount"] == 2.5


def test_jpy_cart_body_has_whole_amounts() -> None:
    cart = make_cart(currency_code="JPY", order_total="3000.4", lines=(make_line(price="1500.4"),), tax_total=None)
    body = to_mailchimp_cart(cart).body()
    assert body["currency_code"] == "JPY"
    assert body["order_total"] == 3000
    assert body["lines"][0]["price"] == 1500
    assert float(body["lines"][0]["price"]).is_integer()


def test_empty_cart_maps_to_an_empty_lines_array() -> None:
    body = to_mailchimp_cart(make_cart(lines=(), order_total="0")).body()
    assert body["lines"] == []
    assert body["order_total"] == 0


def test_patch_body_has_neither_the_id_nor_the_customer() -> None:
    """Mailchimp never moves a cart to another customer; the customer's details go by PUT /customers."""
    cart = to_mailchimp_cart(make_cart(campaign_id="3f8a1b2c4d"))
    full = cart.body()
    patch = cart.patch_body()
    assert "id" not in patch
    assert "customer" not in patch
    assert {key: value for key, value in full.items() if key not in {"id", "customer"}} == patch
    # patch_body does not change the model or what body() gives
    assert cart.body() == full


# ---- products -------------------------------------------------------------------------------------


def test_product_from_line_has_one_variant() -> None:
    product = product_from_line(make_line(url="https://shop/p/socks", image_url="https://cdn/socks.jpg"))
    body = product.body()
    assert body["id"] == "8821334556733"
    assert body["title"] == "Trail Running Socks"
    assert len(body["variants"]) >= 1
    assert body["variants"][0] == {
        "id": "46011223344573",
        "title": "M / Blue",
        "sku": "SOCK-TRL-M-BLU",
        "price": 19.99,
        "url": "https://shop/p/socks",
        "image_url": "https://cdn/socks.jpg",
    }
    assert McProduct.model_validate(body).body() == body


def test_product_from_line_variant_title_falls_back_to_product_title() -> None:
    body = product_from_line(make_line(variant_title=None)).body()
    assert body["variants"][0]["title"] == "Trail Running Socks"


@pytest.mark.parametrize("title", ["", "   "])
def test_product_from_line_handles_a_blank_title(title: str) -> None:
    line = make_line(product_title=title, variant_title=None)
    product = product_from_line(line)
    assert product.title
    assert product.variants[0].title


def test_product_body() -> None:
    product = Product(
        id="p1",
        title="Merino Beanie",
        image_url="https://cdn/beanie.jpg",
        images=(ProductImage(id="img1", url="https://cdn/beanie.jpg", variant_ids=("v1",)),),
        variants=(
            ProductVariant(id="v1", title="Charcoal", price="19.99", inventory_quantity=4),
            ProductVariant(id="v2", title="Red", image_url="https://cdn/red.jpg"),
        ),
        published_at=datetime(2025, 3, 14, 13, 0),
    )
    body = to_mailchimp_product(product).body()
    assert body["published_at_foreign"] == datetime(2025, 3, 14, 13, 0, tzinfo=UTC).isoformat()
    assert body["images"] == [{"id": "img1", "url": "https://cdn/beanie.jpg", "variant_ids": ["v1"]}]
    assert body["variants"] == [
        {
            "id": "v1",
            "title": "Charcoal",
            "price": 19.99,
            "inventory_quantity": 4,
            "image_url": "https://cdn/beanie.jpg",
        },
        {"id": "v2", "title": "Red", "image_url": "https://cdn/red.jpg"},
    ]


def test_product_variant_price_is_quantised_before_sending() -> None:
    product = Product(id="p1", title="T", variants=(ProductVariant(id="v1", title="V", price="19.989999"),))
    text = json.dumps(to_mailchimp_product(product).body())
    assert '"price": 19.99' in text


def test_product_without_images_omits_them() -> None:
    body = to_mailchimp_product(Product(id="p1", title="T", variants=(ProductVariant(id="v", title="V"),))).body()
    assert "images" not in body
    assert "published_at_foreign" not in body


# ---- property tests -------------------------------------------------------------------------------

CURRENCIES = ["USD", "EUR", "JPY", "KWD"]
MAX_PRICE = Decimal(100_000)

# Titles with at least one visible character (blank titles have their own test above).
titles = st.builds(
    lambda head, tail: head + tail,
    st.characters(categories=("L", "N", "S", "P")),
    st.text(max_size=40),
)
atoms = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_+-", min_size=1, max_size=8)
labels = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?", fullmatch=True)
emails = st.builds(
    lambda local, domain, tld: f"{'.'.join(local)}@{domain}.{tld}",
    st.lists(atoms, min_size=1, max_size=3),
    labels,
    st.sampled_from(["com", "de", "co.uk", "JP", "io"]),
)
customers = st.one_of(
    st.builds(
        Customer,
        id=st.text(alphabet="0123456789", min_size=1, max_size=20),
        email=emails,
        consent=st.builds(MarketingConsent, state=st.sampled_from(ConsentState)),
    ),
    st.builds(Customer, email=emails, first_name=st.none() | titles),
    st.builds(Customer, id=st.text(alphabet="abcdef0123456789:", min_size=51, max_size=120), email=emails),
)


def prices(currency: str) -> st.SearchStrategy[Decimal]:
    """Amounts at the currency's precision built from an integer of minor units (zero comes up often)."""
    places = minor_units(currency)
    minor = st.integers(min_value=0, max_value=int(MAX_PRICE.scaleb(places)))
    return minor.map(lambda units: Decimal(units).scaleb(-places))


@st.composite
def carts(draw: st.DrawFn) -> tuple[Cart, bool]:
    currency = draw(st.sampled_from(CURRENCIES))
    # A few unicode titles per cart, shared by its lines: keeps the drawing cheap for 100-line carts.
    names = draw(st.lists(titles, min_size=1, max_size=5))
    size = draw(st.integers(min_value=0, max_value=100))
    rows = draw(
        st.lists(
            st.tuples(
                st.integers(min_value=1, max_value=10**14),
                st.integers(min_value=0, max_value=len(names)),
                st.integers(min_value=0, max_value=1000),
                prices(currency),
            ),
            min_size=size,
            max_size=size,
        )
    )
    lines = [
        Line(
            id=f"line-{index}",
            product_id=str(product),
            variant_id=f"{product}-{title}",
            product_title=names[title % len(names)],
            variant_title=names[title] if title < len(names) else None,
            quantity=quantity,
            price=price,
        )
        for index, (product, title, quantity, price) in enumerate(rows)
    ]
    summed = draw(st.booleans())
    lines_total = sum((item.price * item.quantity for item in lines), Decimal(0))
    order_total = lines_total if summed else draw(prices(currency))
    cart = Cart(
        id=draw(st.text(alphabet="abcdef0123456789", min_size=1, max_size=32)),
        customer=draw(customers),
        currency_code=draw(st.sampled_from([currency, currency.lower()])),
        lines=tuple(lines),
        order_total=order_total,
        tax_total=draw(st.none() | prices(currency)),
        campaign_id=draw(st.none() | st.text(alphabet="0123456789abcdef", min_size=10, max_size=10)),
        checkout_url=draw(st.none() | st.just("https://shop.example/checkout/recover")),
    )
    return cart, summed


def wire_amount(value: Any) -> Decimal:
    assert isinstance(value, int | float) and not isinstance(value, bool), value
    return Decimal(repr(value))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(carts())
def test_every_mapped_cart_is_a_valid_mailchimp_cart(generated: tuple[Cart, bool]) -> None:
    cart, summed = generated
    mapped = to_mailchimp_cart(cart)
    body = mapped.body()
    wire = json.loads(json.dumps(body))
    assert wire == body

    # the body is what the Mailchimp model accepts, and reads back to the same body
    assert McCart.model_validate(wire).body() == body
    patch = mapped.patch_body()
    assert "id" not in patch
    assert "customer" not in patch, "a cart's customer never changes on PATCH"
    assert len(body["customer"]["id"]) <= MAX_MAILCHIMP_ID
    assert body["currency_code"] == cart.currency_code.upper()

    # every amount is a JSON number equal to the quantised canonical amount (no float noise)
    assert wire_amount(wire["order_total"]) == cart.order_total
    assert len(wire["lines"]) == len(cart.lines)
    for item, source in zip(wire["lines"], cart.lines, strict=True):
        assert wire_amount(item["price"]) == source.price
        assert item["product_variant_id"] == source.variant_id
        assert item["quantity"] == source.quantity
    if cart.tax_total is None:
        assert "tax_total" not in wire
    else:
        assert wire_amount(wire["tax_total"]) == cart.tax_total

    if summed:
        lines_total = sum((wire_amount(item["price"]) * item["quantity"] for item in wire["lines"]), Decimal(0))
        one_minor_unit = Decimal(1).scaleb(-minor_units(cart.currency_code))
        assert abs(wire_amount(wire["order_total"]) - lines_total) <= one_minor_unit

    # the fallback product of every line is a valid product with a variant
    for source in cart.lines:
        product = product_from_line(source).body()
        assert McProduct.model_validate(product).body() == product
        assert len(product["variants"]) >= 1


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(CURRENCIES).flatmap(lambda currency: st.tuples(st.just(currency), prices(currency))))
def test_float_prices_map_to_the_exact_decimal(currency_and_price: tuple[str, Decimal]) -> None:
    currency, price = currency_and_price
    # a platform (or a PHP plugin) sending the amount as a binary float
    line = make_line(price=float(price))
    cart = make_cart(currency_code=currency, lines=(line,), order_total=float(price), tax_total=None)
    wire = json.loads(json.dumps(to_mailchimp_cart(cart).body()))
    assert wire_amount(wire["lines"][0]["price"]) == price
    assert wire_amount(wire["order_total"]) == price
