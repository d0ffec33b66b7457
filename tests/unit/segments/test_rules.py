"""The segment rules at every threshold's edge, with a controlled `now` (time travel, no clock)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from commerce_sync.segments.rules import (
    RulesRefused,
    SegmentRules,
    SegmentTags,
    Standing,
    segments_of,
    settings_changed,
    with_settings,
)
from pydantic import ValidationError

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
DEFAULTS = SegmentRules()


def standing(orders: int = 1, value: str = "10", ages_in_days: tuple[float, ...] = (1,)) -> Standing:
    """`orders` counted orders worth `value` in all, the newest placed `ages_in_days` before NOW."""
    times = tuple(NOW - timedelta(days=age) for age in sorted(ages_in_days))
    return Standing(
        orders=orders,
        lifetime_value=Decimal(value),
        first_order_at=min(times) if times else None,
        last_order_at=max(times) if times else None,
        recent_order_times=times,
    )


def test_defaults_are_the_issues() -> None:
    assert DEFAULTS.vip_lifetime_value == 500 and DEFAULTS.vip_orders == 5
    assert (DEFAULTS.at_risk_after_days, DEFAULTS.at_risk_min_orders) == (90, 2)
    assert DEFAULTS.one_time_after_days == 30
    assert (DEFAULTS.advocate_orders, DEFAULTS.advocate_window_days) == (3, 30)
    assert DEFAULTS.tag_names() == {"VIP", "At risk", "One-time buyer", "Advocate"}


@pytest.mark.parametrize(
    ("orders", "value", "vip"),
    [(1, "499.99", False), (1, "500.00", True), (4, "100", False), (5, "5", True)],
)
def test_vip_at_500_of_value_or_5_orders(orders: int, value: str, vip: bool) -> None:
    ages = tuple(range(40, 40 + orders * 2, 2))  # none recent enough to be an advocate
    assert ("VIP" in segments_of(standing(orders, value, ages), DEFAULTS, NOW)) is vip


def test_at_risk_from_90_days_after_the_last_of_two_orders() -> None:
    assert "At risk" not in segments_of(standing(2, ages_in_days=(89.99, 120)), DEFAULTS, NOW)
    assert "At risk" in segments_of(standing(2, ages_in_days=(90, 120)), DEFAULTS, NOW)
    assert "At risk" not in segments_of(standing(1, ages_in_days=(200,)), DEFAULTS, NOW), "one order is not enough"


def test_one_time_only_after_30_days_and_with_exactly_one_order() -> None:
    assert segments_of(standing(1, ages_in_days=(30,)), DEFAULTS, NOW) == set()
    assert segments_of(standing(1, ages_in_days=(30.001,)), DEFAULTS, NOW) == {"One-time buyer"}
    assert "One-time buyer" not in segments_of(standing(2, ages_in_days=(31, 40)), DEFAULTS, NOW)


def test_advocate_with_3_orders_in_the_last_30_days() -> None:
    assert "Advocate" in segments_of(standing(3, ages_in_days=(1, 10, 30)), DEFAULTS, NOW)
    assert "Advocate" not in segments_of(standing(3, ages_in_days=(1, 10, 30.001)), DEFAULTS, NOW)
    assert "Advocate" not in segments_of(standing(2, ages_in_days=(1, 2)), DEFAULTS, NOW)


def test_time_travel_moves_a_customer_across_the_time_thresholds() -> None:
    one_order = standing(1, ages_in_days=(0,))
    assert segments_of(one_order, DEFAULTS, NOW) == set()
    assert segments_of(one_order, DEFAULTS, NOW + timedelta(days=31)) == {"One-time buyer"}
    three = standing(3, value="90", ages_in_days=(0, 1, 2))
    assert segments_of(three, DEFAULTS, NOW) == {"Advocate"}
    assert segments_of(three, DEFAULTS, NOW + timedelta(days=60)) == set()
    assert segments_of(three, DEFAULTS, NOW + timedelta(days=90)) == {"At risk"}


def test_segments_combine_and_tags_are_configurable() -> None:
    big = standing(6, "900", ages_in_days=(1, 2, 3, 50, 60, 70))
    assert segments_of(big, DEFAULTS, NOW) == {"VIP", "Advocate"}
    renamed = SegmentRules(vip_orders=10, tags=SegmentTags(vip="Gold", advocate=None))
    assert segments_of(big, renamed, NOW) == {"Gold"}
    assert renamed.tag_names() == {"Gold", "At risk", "One-time buyer"}


def test_rules_refuse_nonsense() -> None:
    with pytest.raises(ValidationError, match="vip_orders"):
        SegmentRules(vip_orders=0)
    with pytest.raises(ValidationError, match="unknown"):
        SegmentRules.model_validate({"unknown": 1})
    with pytest.raises(ValidationError, match="vip"):
        SegmentTags(vip="")


def test_settings_change_thresholds_and_tag_names_and_refuse_what_the_rules_refuse() -> None:
    rules = with_settings(SegmentRules(), [("vip_lifetime_value", "800"), ("tags.advocate", ""), ("tags.vip", "Gold")])
    assert rules.vip_lifetime_value == 800 and rules.tags.advocate is None and rules.tags.vip == "Gold"
    assert rules.tag_names() == {"Gold", "At risk", "One-time buyer"}
    assert settings_changed(SegmentRules(), rules) == {
        "vip_lifetime_value": (Decimal(500), Decimal(800)),
        "tags.vip": ("VIP", "Gold"),
        "tags.advocate": ("Advocate", None),
    }
    with pytest.raises(RulesRefused, match="unknown setting 'tags'"):
        with_settings(SegmentRules(), [("tags", "x")])
    with pytest.raises(RulesRefused, match="advocate_orders: Input should be less than or equal to 50"):
        with_settings(SegmentRules(), [("advocate_orders", "51")])
    with pytest.raises(RulesRefused, match="vip_orders"):
        with_settings(SegmentRules(), [("vip_orders", "many")])
