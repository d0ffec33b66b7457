"""What the edge accepts is what Mailchimp accepts: e-mail addresses, numbers, nesting, versions; and no
accepted address survives log redaction."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from commerce_sync.aws.sync_state import applied_version
from commerce_sync.canonical.emails import email_problem
from commerce_sync.canonical.errors import BadRequest
from commerce_sync.canonical.model import MAILCHIMP_REFUSES, Customer, Line, ProductVariant
from commerce_sync.canonical.redaction import redact_emails
from commerce_sync.canonical.versions import ImpossibleVersion, claimed_time, is_impossible, version_from_timestamp
from commerce_sync.platforms.adapter import check_json_depth, parse_json
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from emulators.mailchimp.validation import looks_like_email

REFUSED = [
    "zoë@example.de",
    "jane@exämple.de",
    '"quoted"@example.com',
    "<script>@example.com",
    "*|FNAME|*@example.com",
    "a" * 65 + "@example.com",
    "a@" + "b" * 250 + ".com",
    "jane@example",
    "jane..doe@example.com",
    ".jane@example.com",
    "jane@-example.com",
    "jane@example.c0m",
]


@pytest.mark.parametrize("address", REFUSED)
def test_addresses_mailchimp_refuses_are_refused_as_such_without_quoting_them(address: str) -> None:
    assert email_problem(address.lower()) is not None
    with pytest.raises(ValidationError) as caught:
        Customer(email=address)
    error = caught.value.errors()[0]
    assert error["type"] == MAILCHIMP_REFUSES
    assert address.lower() not in error["msg"].lower()


@pytest.mark.parametrize("address", ["Jane.Doe@Example.COM", "o'brien+shop@mail.example.co.uk", "x_y-z@a-b.io"])
def test_ordinary_addresses_pass_lower_cased(address: str) -> None:
    assert Customer(email=f"  {address} ").email == address.lower()


ATOM = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789!#$%&'*+/=?^_`{}~-", min_size=1, max_size=10)
LABEL = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?", fullmatch=True)
ADDRESSES = st.builds(
    lambda local, labels, tld: ".".join(local) + "@" + ".".join(labels) + "." + tld,
    st.lists(ATOM, min_size=1, max_size=3),
    st.lists(LABEL, min_size=1, max_size=3),
    st.from_regex(r"[a-z]{2,6}", fullmatch=True),
)


@given(st.one_of(ADDRESSES, st.text(max_size=80)))
def test_every_address_the_edge_accepts_the_mailchimp_emulator_accepts(address: str) -> None:
    if email_problem(address) is None:
        assert looks_like_email(address)


@given(ADDRESSES, st.text(max_size=20), st.text(max_size=20))
def test_no_address_the_edge_accepts_survives_redaction(address: str, before: str, after: str) -> None:
    if email_problem(address) is not None:
        return
    text = f"{before} {address} {after}"
    assert address not in redact_emails(text)


@pytest.mark.parametrize("address", ['"john"@x.com', "<a>@b.com", "d'arcy@example.com", "x@y"])
def test_hostile_forms_are_redacted_too(address: str) -> None:
    assert "@" not in redact_emails(f"refused: {address}, retrying")


def line(**values: object) -> Line:
    return Line.model_validate(
        {"id": "l", "product_id": "p", "variant_id": "v", "product_title": "t", "quantity": 1, "price": "1"} | values
    )


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (
            lambda: Line(id="l", product_id="p", variant_id="v", product_title="t", quantity=2**31, price="1"),
            "quantity",
        ),
        (lambda: Line(id="l", product_id="p", variant_id="v", product_title="t", quantity=1, price="1e25"), "price"),
        (lambda: ProductVariant(id="v", title="t", inventory_quantity=10**30), "inventory_quantity"),
        (lambda: ProductVariant(id="v", title="t", inventory_quantity=-(2**31) - 1), "inventory_quantity"),
    ],
)
def test_numbers_beyond_what_mailchimp_stores_are_refused_as_such(build, field: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValidationError) as caught:
        build()
    error = caught.value.errors()[0]
    assert (error["loc"][-1], error["type"]) == (field, MAILCHIMP_REFUSES)


def test_the_largest_numbers_mailchimp_stores_pass() -> None:
    largest = line(quantity=2**31 - 1, price="999999999999.99")
    assert (largest.quantity, largest.price) == (2**31 - 1, Decimal("999999999999.99"))
    assert ProductVariant(id="v", title="t", inventory_quantity=-5).inventory_quantity == -5


# ---- nesting -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("depth", [1, 7, 32])
def test_real_nesting_passes(depth: int) -> None:
    check_json_depth(b"[" * depth + b'"[[[[{{{"' + b"]" * depth)


@pytest.mark.parametrize("body", [b"[" * 33 + b"]" * 33, b"[" * 1_000_000, b'{"a":' * 40 + b"1" + b"}" * 40])
def test_deep_nesting_is_refused_before_parsing(body: bytes) -> None:
    with pytest.raises(BadRequest, match="nested"):
        check_json_depth(body)


def test_nesting_past_the_parsers_recursion_limit_is_a_bad_request() -> None:
    with pytest.raises(BadRequest, match="nested"):
        parse_json(b"[" * 200_000 + b"]" * 200_000)


# ---- versions ----------------------------------------------------------------------------------------------

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "when",
    [
        NOW + timedelta(hours=25),
        datetime(9999, 12, 31, tzinfo=UTC),
        datetime(1, 1, 1, tzinfo=UTC),
        datetime(999, 1, 1, tzinfo=UTC),
        datetime(1, 1, 1, tzinfo=UTC).replace(tzinfo=UTC) + timedelta(hours=1),
    ],
)
def test_impossible_times_make_no_version(when: datetime) -> None:
    with pytest.raises(ImpossibleVersion):
        version_from_timestamp(when, now=NOW)


def test_a_time_within_the_skew_is_a_fixed_width_version() -> None:
    assert version_from_timestamp(NOW + timedelta(hours=23), now=NOW) == "2026-12-05T11:00:00.000000Z"


@pytest.mark.parametrize(
    ("claimed", "believed"),
    [
        (NOW - timedelta(hours=3), True),
        (NOW - timedelta(days=2), False),
        (NOW + timedelta(minutes=5), False),
        (datetime(9999, 12, 31, tzinfo=UTC), False),
        (None, False),
    ],
)
def test_an_unsigned_time_is_believed_only_within_a_day_before_now(claimed: datetime | None, believed: bool) -> None:
    assert claimed_time(claimed, now=NOW) == (claimed if believed else NOW)


def test_an_impossible_recorded_version_counts_as_none() -> None:
    poisoned = "9999-12-31T23:59:59.000000Z"
    assert is_impossible(poisoned)
    assert applied_version({"applied_version": poisoned}) == ""
    assert applied_version({"applied_version": "2025-03-14T13:18:02.000000Z"}) == "2025-03-14T13:18:02.000000Z"
    assert not is_impossible("9999999999"), "counters are never judged"
