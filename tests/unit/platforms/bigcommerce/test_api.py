"""The BigCommerce API module's one rule for a store's API root: `…/stores/{hash}` with or without `/v3` or
`/v2` (and a trailing slash) leads to the same URLs; a URL naming no store is refused."""

from __future__ import annotations

import pytest
from commerce_sync.aws.store_registry import Store
from commerce_sync.platforms.adapter import StoreApi
from commerce_sync.platforms.bigcommerce.api import api_root, parse_url, store_access
from commerce_sync.platforms.connection import PlatformApiUrlError
from commerce_sync.platforms.http import StoreApiUnavailable

from tests.harness import platform_store

ROOT = "https://api.bigcommerce.com/stores/abc123"


def store(url: str | None) -> Store:
    return platform_store("bigcommerce", "abc123", url)


@pytest.mark.parametrize("url", [None, ROOT, f"{ROOT}/", f"{ROOT}/v3", f"{ROOT}/v3/", f"{ROOT}/v2"])
def test_every_accepted_form_gives_the_same_api_root(url: str | None) -> None:
    assert api_root(store(url)) == ROOT
    assert api_root(store(None), url) == ROOT  # a webhook's StoreApi.base_url follows the same rule


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("https://api.bigcommerce.com/v3", "names no store"),
        (f"{ROOT}/v3/catalog/products", "names no store"),
        ("api.bigcommerce.com/stores/abc123", "not an http(s) URL"),
    ],
)
def test_a_url_that_cannot_be_understood_is_refused(url: str, words: str) -> None:
    with pytest.raises(PlatformApiUrlError) as refused:
        parse_url(url)
    assert words in str(refused.value)
    assert "https://api.bigcommerce.com/stores/<store hash>" in str(refused.value), "the accepted form is named"


def test_a_webhook_read_without_a_token_or_with_an_unreadable_url_waits_for_the_operator() -> None:
    assert store_access(store(f"{ROOT}/v3"), StoreApi(None, {"access_token": "t"})) == (ROOT, "t")
    with pytest.raises(StoreApiUnavailable, match="no BigCommerce access token"):
        store_access(store(ROOT), StoreApi(None, {}))
    with pytest.raises(StoreApiUnavailable, match="names no store"):
        store_access(store("https://api.bigcommerce.com/v3"), StoreApi(None, {"access_token": "t"}))
