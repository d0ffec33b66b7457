"""Shopify's address shape (checkouts, customers, orders) and its canonical form."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from commerce_sync.canonical.model import Address


class ShopifyAddress(BaseModel):
    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True)

    first_name: str | None = None
    last_name: str | None = None
    name: str | None = None
    company: str | None = None
    address1: str | None = None
    address2: str | None = None
    city: str | None = None
    province: str | None = None
    province_code: str | None = None
    zip: str | None = None
    country: str | None = None
    country_code: str | None = None
    phone: str | None = None


def to_canonical_address(address: ShopifyAddress | None) -> Address | None:
    if address is None:
        return None
    name = address.name or " ".join(part for part in (address.first_name, address.last_name) if part) or None
    return Address(
        name=name,
        company=address.company,
        address1=address.address1,
        address2=address.address2,
        city=address.city,
        province=address.province,
        province_code=address.province_code,
        postal_code=address.zip,
        country=address.country,
        country_code=address.country_code,
        phone=address.phone,
    )
