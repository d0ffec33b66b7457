"""Money as Decimal quantised to the currency's minor unit (ISO 4217), so no float noise reaches Mailchimp."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

# ISO 4217 currencies whose minor unit is not 2 digits. Everything else uses 2.
_ZERO_DECIMAL = [
    "BIF",
    "CLP",
    "DJF",
    "GNF",
    "ISK",
    "JPY",
    "KMF",
    "KRW",
    "PYG",
    "RWF",
    "UGX",
    "UYI",
    "VND",
    "VUV",
    "XAF",
    "XOF",
    "XPF",
]
_THREE_DECIMAL = ["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"]
_MINOR_UNITS: dict[str, int] = {
    **dict.fromkeys(_ZERO_DECIMAL, 0),
    **dict.fromkeys(_THREE_DECIMAL, 3),
    "CLF": 4,
    "UYW": 4,
}


def minor_units(currency_code: str) -> int:
    return _MINOR_UNITS.get(currency_code.upper(), 2)


def quantize(amount: Decimal | str | int | float, currency_code: str) -> Decimal:
    """Round half-up to the currency's precision; strings from platforms ("19.99") are read exactly."""
    try:
        value = amount if isinstance(amount, Decimal) else Decimal(str(amount))
    except InvalidOperation as error:
        raise ValueError(f"not a monetary amount: {amount!r}") from error
    if not value.is_finite():
        raise ValueError(f"not a monetary amount: {amount!r}")
    exponent = Decimal(1).scaleb(-minor_units(currency_code))
    try:
        return value.quantize(exponent, rounding=ROUND_HALF_UP)
    except InvalidOperation as error:
        raise ValueError(f"amount out of range: {amount!r}") from error
