"""commerce_sync.canonical.money: Decimal amounts quantised (half-up) to the currency's ISO 4217 minor unit."""

from __future__ import annotations

from decimal import Decimal

import pytest
from commerce_sync.canonical.money import minor_units, quantize


@pytest.mark.parametrize(
    ("currency", "expected"),
    [("USD", 2), ("EUR", 2), ("JPY", 0), ("KRW", 0), ("KWD", 3), ("BHD", 3), ("CLF", 4), ("jpy", 0), ("kwd", 3)],
)
def test_minor_units(currency: str, expected: int) -> None:
    assert minor_units(currency) == expected


def test_unknown_currency_defaults_to_two_minor_units() -> None:
    assert minor_units("XYZ") == 2


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        # USD: two decimals
        ("19.99", "USD", "19.99"),
        ("19.994", "USD", "19.99"),
        ("19.995", "USD", "20.00"),
        ("0.005", "USD", "0.01"),
        ("0.125", "USD", "0.13"),
        ("7", "USD", "7.00"),
        (7, "USD", "7.00"),
        (Decimal("1E+2"), "USD", "100.00"),
        # JPY: no decimals, half-up (not banker's rounding)
        ("1500", "JPY", "1500"),
        ("1500.4", "JPY", "1500"),
        ("1500.5", "JPY", "1501"),
        ("0.5", "JPY", "1"),
        ("2.5", "JPY", "3"),
        # KWD: three decimals
        ("1.2345", "KWD", "1.235"),
        ("1.2344", "KWD", "1.234"),
        ("12", "KWD", "12.000"),
        ("0.0005", "KWD", "0.001"),
    ],
)
def test_quantize_rounds_half_up_to_the_minor_unit(amount: str | int | Decimal, currency: str, expected: str) -> None:
    result = quantize(amount, currency)
    assert isinstance(result, Decimal)
    # str() compares the exponent too: "7.00" is not "7", "1500" is not "1500.0"
    assert str(result) == expected
    assert result.as_tuple().exponent == -minor_units(currency)


@pytest.mark.parametrize(
    ("noisy", "currency", "expected"),
    [
        ("59.2999999999999971578", "USD", "59.30"),
        ("59.2999999999999971578", "KWD", "59.300"),
        ("59.2999999999999971578", "JPY", "59"),
        ("19.989999999999998", "USD", "19.99"),
        ("0.30000000000000004", "USD", "0.30"),
    ],
)
def test_float_noise_strings_become_the_intended_amount(noisy: str, currency: str, expected: str) -> None:
    assert str(quantize(noisy, currency)) == expected


@pytest.mark.parametrize(
    ("value", "expected"), [(59.3, "59.30"), (19.99, "19.99"), (0.1 + 0.2, "0.30"), (1.005, "1.01")]
)
def test_floats_are_read_through_their_shortest_repr(value: float, expected: str) -> None:
    # 1.005 is 1.00499999999999989... in binary; reading str(1.005) gives the amount the sender meant.
    assert str(quantize(value, "USD")) == expected


def test_decimal_input_is_used_exactly() -> None:
    assert quantize(Decimal("19.985"), "USD") == Decimal("19.99")
    assert quantize(Decimal("19.9849999"), "USD") == Decimal("19.98")


def test_currency_code_is_case_insensitive() -> None:
    assert str(quantize("1.5", "jpy")) == "2"
    assert str(quantize("1.2345", "kwd")) == "1.235"


@pytest.mark.parametrize(
    "garbage",
    [
        "NaN",
        "nan",
        "sNaN",
        "inf",
        "-Infinity",
        float("nan"),
        float("inf"),
        float("-inf"),
        Decimal("NaN"),
        Decimal("Infinity"),
        "",
        "abc",
        "19,99",
        "$5.00",
        "5 EUR",
        None,
    ],
)
def test_rejects_what_is_not_a_finite_amount(garbage: object) -> None:
    with pytest.raises(ValueError, match="not a monetary amount"):
        quantize(garbage, "USD")  # type: ignore[arg-type]


def test_out_of_range_amount_is_rejected_with_value_error() -> None:
    with pytest.raises(ValueError):
        quantize("1e30", "USD")
