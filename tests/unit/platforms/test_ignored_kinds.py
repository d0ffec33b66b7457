"""The receiver counts its "ignored" answers by kind: a handful of names, whatever ids the reasons carry."""

from __future__ import annotations

import pytest
from commerce_sync.platforms.receiver import ignored_kind


@pytest.mark.parametrize(
    ("reason", "kind"),
    [
        ("BigCommerce scope store/category/created is not one commerce-sync handles", "not_handled"),
        ("Shopify topic app/uninstalled is not one commerce-sync handles", "not_handled"),
        ("cart 0c6e… no longer exists on BigCommerce", "gone"),
        ("skipped, Mailchimp would refuse it: email_address is not an address", "refused"),
        ("order 812 is in the trash; its order.deleted removes it", "skipped"),
        ("fulfillment 9 is cancelled: nothing shipped", "skipped"),
    ],
)
def test_each_ignored_reason_has_a_low_cardinality_kind(reason: str, kind: str) -> None:
    assert ignored_kind(reason) == kind
