"""commerce_sync.mailchimp.ids and the canonical EntityId: no id can change which resource a path reaches."""

from __future__ import annotations

from urllib.parse import unquote

import pytest
from commerce_sync.canonical.ids import entity_id_problem
from commerce_sync.canonical.model import DeletedEntity, Line
from commerce_sync.mailchimp.client import check_path
from commerce_sync.mailchimp.ids import (
    MAX_MAILCHIMP_ID,
    UnsafePathSegment,
    api_path,
    store_path,
    to_mailchimp_id,
)
from commerce_sync.mailchimp.models import McLine
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

HOSTILE = ["../../other/carts/1", "..", ".", "a/b", "a\\b", "a?b=1", "a#b", "%2e%2e%2f", "a\nb", "x..y", "\x00"]


@pytest.mark.parametrize("value", HOSTILE)
def test_ids_with_path_syntax_are_refused_at_the_edge_naming_the_field(value: str) -> None:
    assert entity_id_problem(value) is not None
    with pytest.raises(ValidationError) as caught:
        DeletedEntity(id=value)
    assert caught.value.errors()[0]["loc"] == ("id",)


@pytest.mark.parametrize("value", ["5512345678901", "c1-7a2abe82733a34e84aa472d57fb5c3c1", "sku 12 ä", "a.b", "k:1"])
def test_ordinary_ids_pass(value: str) -> None:
    assert entity_id_problem(value) is None


@given(st.text(min_size=1, max_size=300))
def test_every_id_the_edge_accepts_stays_one_segment_of_its_own_store(value: str) -> None:
    """Whatever the text: either the edge refuses it, or the path it makes has exactly the store's segments
    plus one segment that decodes back to the (possibly digested) id."""
    if entity_id_problem(value) is not None:
        return
    built = store_path("s1", "carts", value)
    segments = built.split("/")
    assert segments[:5] == ["", "ecommerce", "stores", "s1", "carts"]
    assert len(segments) == 6
    assert unquote(segments[5]) == to_mailchimp_id(value)
    check_path(built)


@given(st.text(min_size=1, max_size=120))
def test_mailchimp_ids_are_short_stable_and_idempotent(value: str) -> None:
    mapped = to_mailchimp_id(value)
    assert len(mapped) <= MAX_MAILCHIMP_ID
    assert to_mailchimp_id(mapped) == mapped
    assert mapped == to_mailchimp_id(value)


def test_a_long_id_is_digested_the_same_in_paths_and_bodies() -> None:
    long_key = "704912205188288575:33f11f7a1ec7d93b826de33bb54de37b"  # a real Shopify line key, 51 characters
    line = McLine(id=long_key, product_id="p", product_variant_id="v", quantity=1, price=1)
    assert line.id == to_mailchimp_id(long_key) != long_key
    assert store_path("s1", "carts", long_key).endswith("/" + line.id)


@pytest.mark.parametrize("segment", ["", ".", "..", "a\nb"])
def test_the_path_builder_refuses_segments_that_climb_or_vanish(segment: str) -> None:
    with pytest.raises(UnsafePathSegment):
        api_path("ecommerce", "stores", segment)


def test_every_segment_is_encoded_on_its_own() -> None:
    assert api_path("lists", "a/b", "members", "x y") == "/lists/a%2Fb/members/x%20y"


@pytest.mark.parametrize("bad", ["/ecommerce/stores/../x", "/ecommerce//stores", "ecommerce/stores", "/a/./b"])
def test_the_request_choke_point_refuses_unsafe_paths_whoever_built_them(bad: str) -> None:
    with pytest.raises(UnsafePathSegment):
        check_path(bad)


def test_a_line_with_a_hostile_product_id_never_becomes_a_canonical_line() -> None:
    with pytest.raises(ValidationError) as caught:
        Line(id="l1", product_id="../../x", variant_id="v", product_title="t", quantity=1, price="1")
    assert caught.value.errors()[0]["loc"] == ("product_id",)
