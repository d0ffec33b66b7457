"""The WooCommerce API module's one rule for a store's REST root: the site address and the wc/v3 REST root,
with or without a trailing slash, lead to the same URLs; another REST route is refused."""

from __future__ import annotations

import pytest
from commerce_sync.aws.store_registry import Store
from commerce_sync.platforms.connection import PlatformApiUrlError
from commerce_sync.platforms.woocommerce.api import key_pair, parse_url, rest_root

from tests.harness import platform_store

SITE = "https://shop.example.com"


def store(url: str | None) -> Store:
    return platform_store("woocommerce", f"{SITE}/", url)


@pytest.mark.parametrize("url", [None, SITE, f"{SITE}/", f"{SITE}/wp-json/wc/v3", f"{SITE}/wp-json/wc/v3/"])
def test_every_accepted_form_gives_the_same_rest_root(url: str | None) -> None:
    assert rest_root(store(url)) == f"{SITE}/wp-json/wc/v3"


def test_a_wordpress_in_a_sub_folder_keeps_its_path() -> None:
    for url in ("https://example.com/shop", "https://example.com/shop/wp-json/wc/v3/"):
        assert parse_url(url).url == "https://example.com/shop"
        assert rest_root(store(url)) == "https://example.com/shop/wp-json/wc/v3"


@pytest.mark.parametrize(
    ("url", "words"),
    [
        (f"{SITE}/wp-json/wc/v2", "'/wp-json/wc/v2' is not the wc/v3 REST root"),
        (f"{SITE}/wp-json", "'/wp-json' is not the wc/v3 REST root"),
        ("shop.example.com", "not an http(s) URL"),
        (f"{SITE}/wp-json/wc/v3?consumer_key=ck_secret", "query string"),
        ("https://ck_secret:cs_secret@shop.example.com", "user name or password"),
    ],
)
def test_a_url_that_cannot_be_understood_is_refused(url: str, words: str) -> None:
    with pytest.raises(PlatformApiUrlError) as refused:
        parse_url(url)
    assert words in str(refused.value)
    assert "_secret" not in str(refused.value)


def test_the_key_pair_is_whole_or_none() -> None:
    assert key_pair({"consumer_key": "ck", "consumer_secret": "cs"}) == ("ck", "cs")
    assert key_pair({"consumer_key": "ck"}) is None
