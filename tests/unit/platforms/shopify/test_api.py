"""The Shopify API module's one rule for a store's Admin API address and version: every accepted form of
`platform_api_url` leads to the same Admin API root, and anything else is refused with the forms it takes."""

from __future__ import annotations

import pytest
from commerce_sync.aws.store_registry import Store
from commerce_sync.platforms.connection import ApiAddress, PlatformApiUrlError
from commerce_sync.platforms.shopify.api import API_VERSION, api_root, parse_url, parse_version

from tests.harness import platform_store

SHOP = "https://my-shop.myshopify.com"


def store(url: str | None = None, version: str | None = None) -> Store:
    return platform_store("shopify", "my-shop.myshopify.com", url, version)


@pytest.mark.parametrize(
    "url", [SHOP, f"{SHOP}/", f"{SHOP}/admin", f"{SHOP}/admin/", f"{SHOP}/admin/api", f"{SHOP}/admin/api/{API_VERSION}"]
)
def test_every_accepted_form_gives_the_same_admin_api_root(url: str) -> None:
    assert api_root(store(url)) == f"{SHOP}/admin/api/{API_VERSION}"
    assert parse_url(url).url == SHOP


def test_without_a_url_the_shop_domain_is_the_address() -> None:
    assert api_root(store()) == f"{SHOP}/admin/api/{API_VERSION}"


def test_the_version_a_url_names_is_used_and_the_store_setting_names_one_too() -> None:
    assert parse_url(f"{SHOP}/admin/api/2024-10/") == ApiAddress(SHOP, "2024-10")
    assert api_root(store(f"{SHOP}/admin/api/2024-10")) == f"{SHOP}/admin/api/2024-10"
    assert api_root(store(SHOP, "2025-04")) == f"{SHOP}/admin/api/2025-04"
    assert api_root(store(None, "2025-04")) == f"{SHOP}/admin/api/2025-04"


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("my-shop.myshopify.com", "not an http(s) URL"),
        ("ftp://my-shop.myshopify.com", "not an http(s) URL"),
        (f"{SHOP}/admin/api/2025-01/products.json", "'/admin/api/2025-01/products.json' is not one of Shopify's"),
        (f"{SHOP}/shop", "'/shop' is not one of Shopify's"),
        (f"{SHOP}/admin/api/2025-1", "'2025-1' is not a Shopify API version"),
        ("https://user:shpat_secret@my-shop.myshopify.com", "holds a user name or password"),
        (f"{SHOP}/admin?access_token=shpat_secret", "query string"),
    ],
)
def test_a_url_that_cannot_be_understood_is_refused_with_the_accepted_forms(url: str, words: str) -> None:
    with pytest.raises(PlatformApiUrlError) as refused:
        parse_url(url)
    assert words in str(refused.value)
    assert "shpat_secret" not in str(refused.value)
    if "http(s)" in words or "one of Shopify's" in words:
        assert f"{SHOP}/admin/api/{API_VERSION}" in str(refused.value)


@pytest.mark.parametrize("version", ["2025", "2025-13", "25-01", "latest", "2025-01-01"])
def test_a_version_must_be_yyyy_mm(version: str) -> None:
    with pytest.raises(PlatformApiUrlError, match="the form is YYYY-MM"):
        parse_version(version)
    assert parse_version(" 2025-07 ") == "2025-07"
