"""Every accepted form of a store's platform API URL makes the same requests, over HTTP against the
platforms' stand-ins: the credential check `add-store` makes and a catalog page the sync reads go through
the platform's API module alike (platforms/<name>/api.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from commerce_sync.aws.store_registry import Store
from commerce_sync.platforms.connection import CHECK_HTTP_POLICY
from commerce_sync.platforms.http import platform_session
from commerce_sync.platforms.registry import connection_for, source_for
from commerce_sync.platforms.shopify.api import API_VERSION

from emulators.bigcommerce import BigCommerceEmulator
from emulators.bigcommerce.catalog_fixtures import put_catalog
from emulators.bigcommerce.catalog_fixtures import sample_catalog as bigcommerce_catalog
from emulators.shopify import ShopifyEmulator
from emulators.shopify.fixtures import sample_catalog as shopify_catalog
from emulators.woocommerce import WooCommerceEmulator
from emulators.woocommerce.fixtures import sample_catalog as woocommerce_catalog
from tests.harness import platform_store

Requests = list[tuple[str, str, tuple[tuple[str, str], ...], int]]


def requests_made(emulator: Any, store: Store, credentials: dict[str, str]) -> Requests:
    """What the credential check and the first catalog page send, as the stand-in recorded them."""
    emulator.clear_requests()
    connection = connection_for(store.platform)
    assert connection is not None
    connection.check(store, credentials, platform_session(CHECK_HTTP_POLICY))
    page = source_for(store, credentials).page(None)
    assert page.products, "the catalog was read"
    return [(r["method"], r["path"], tuple(sorted(r["query"].items())), r["status"]) for r in emulator.requests]


def same_for_every_form(
    emulator: Any, build: Callable[[str], Store], forms: list[str], creds: dict[str, str]
) -> Requests:
    seen = {form: requests_made(emulator, build(form), creds) for form in forms}
    first = seen[forms[0]]
    assert all(status == 200 for *_, status in first)
    assert {form: made for form, made in seen.items() if made != first} == {}
    return first


def test_shopify_shop_address_admin_and_versioned_admin_api_root() -> None:
    with ShopifyEmulator("forms.myshopify.com", "shpat_forms") as shopify:
        for product in shopify_catalog():
            shopify.put_product(product)
        root = shopify.base_url
        forms = [
            root,
            f"{root}/",
            f"{root}/admin",
            f"{root}/admin/api/{API_VERSION}",
            f"{root}/admin/api/{API_VERSION}/",
        ]
        made = same_for_every_form(
            shopify,
            lambda url: platform_store("shopify", "forms.myshopify.com", url),
            forms,
            {"access_token": "shpat_forms"},
        )
        assert [path for _, path, _, _ in made] == [
            f"/admin/api/{API_VERSION}/shop.json",
            f"/admin/api/{API_VERSION}/products.json",
        ]

        # A version named in the URL, or set on the store, is the one spoken.
        named = requests_made(
            shopify, platform_store("shopify", "x", f"{root}/admin/api/2024-10"), {"access_token": "shpat_forms"}
        )
        chosen = requests_made(
            shopify, platform_store("shopify", "x", root, "2024-10"), {"access_token": "shpat_forms"}
        )
        assert [path for _, path, _, _ in named] == [path for _, path, _, _ in chosen]
        assert [path for _, path, _, _ in named] == ["/admin/api/2024-10/shop.json", "/admin/api/2024-10/products.json"]


def test_woocommerce_site_address_and_rest_root() -> None:
    with WooCommerceEmulator("ck_forms", "cs_forms") as woocommerce:
        for product, variations in woocommerce_catalog():
            woocommerce.put_product(product, variations=variations)
        site = woocommerce.base_url
        forms = [site, f"{site}/", f"{site}/wp-json/wc/v3", f"{site}/wp-json/wc/v3/"]
        made = same_for_every_form(
            woocommerce,
            lambda url: platform_store("woocommerce", "https://shop.example.com", url),
            forms,
            {"consumer_key": "ck_forms", "consumer_secret": "cs_forms"},
        )
        assert made[0][:2] == ("GET", "/wp-json/wc/v3/products")


def test_bigcommerce_store_root_with_or_without_its_api_version() -> None:
    with BigCommerceEmulator("forms123", "bc-forms") as bigcommerce:
        put_catalog(bigcommerce, bigcommerce_catalog())
        root = bigcommerce.base_url
        forms = [root, f"{root}/", f"{root}/v3", f"{root}/v3/", f"{root}/v2"]
        made = same_for_every_form(
            bigcommerce, lambda url: platform_store("bigcommerce", "forms123", url), forms, {"access_token": "bc-forms"}
        )
        assert [path for _, path, _, _ in made] == [
            "/stores/forms123/v3/catalog/summary",
            "/stores/forms123/v3/catalog/products",
        ]
