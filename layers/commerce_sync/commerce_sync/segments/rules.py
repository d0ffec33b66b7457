"""A store's segment rules and the pure function that says which segments a customer is in.

Defaults (issue 14; each threshold configurable per store, each tag name too, and a tag name of None leaves that
segment out):

- VIP: net lifetime value >= 500 in the store's currency, or >= 5 orders.
- At risk: >= 2 orders, and the last one placed 90 or more days before now.
- One-time buyer: exactly 1 order, placed more than 30 days before now (a new customer is not one yet).
- Advocate: >= 3 orders placed in the 30 days up to now (an order exactly 30 days old still counts).

"Orders" are the counted ones of the aggregate (segments.aggregate): paid, not cancelled, not wholly refunded;
the lifetime value is their revenue net of refunds.
Segments are not exclusive: a VIP can be an advocate, or at risk.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from pydantic import ValidationError

from commerce_sync.aws.store_registry import SegmentRules, SegmentTags

# The rules are a store setting, so their model is defined with the store's (aws.store_registry, below this
# package: the registry validates them whenever it reads a store).
__all__ = [
    "SETTINGS",
    "RulesRefused",
    "SegmentRules",
    "SegmentTags",
    "Standing",
    "described",
    "segments_of",
    "settings_changed",
    "with_settings",
]


@dataclass(frozen=True)
class Standing:
    """What the rules read of a customer's orders (segments.aggregate makes it)."""

    orders: int
    lifetime_value: Decimal
    first_order_at: datetime | None
    last_order_at: datetime | None
    # Times of the customer's most recent counted orders (at least the newest `advocate_orders` of them).
    recent_order_times: tuple[datetime, ...]


def segments_of(standing: Standing, rules: SegmentRules, now: datetime) -> set[str]:
    """The tag names of the segments `standing` is in at `now`."""
    tags = rules.tags
    found: set[str] = set()
    if tags.vip and (standing.lifetime_value >= rules.vip_lifetime_value or standing.orders >= rules.vip_orders):
        found.add(tags.vip)
    last = standing.last_order_at
    if (
        tags.at_risk
        and standing.orders >= rules.at_risk_min_orders
        and last is not None
        and now - last >= timedelta(days=rules.at_risk_after_days)
    ):
        found.add(tags.at_risk)
    first = standing.first_order_at
    if (
        tags.one_time
        and standing.orders == 1
        and first is not None
        and now - first > timedelta(days=rules.one_time_after_days)
    ):
        found.add(tags.one_time)
    window = timedelta(days=rules.advocate_window_days)
    # An order stamped a little after `now` (clocks differ) is recent too.
    recent = sum(1 for placed in standing.recent_order_times if now - placed <= window)
    if tags.advocate and recent >= rules.advocate_orders:
        found.add(tags.advocate)
    return found


# What an operator may set (`commerce-sync segments STORE --set NAME=VALUE`): every threshold, and each tag's name
# as `tags.<segment>` (empty: the segment is switched off).
SEGMENT_NAMES = {"vip": "VIP", "at_risk": "At risk", "one_time": "One-time buyer", "advocate": "Advocate"}
THRESHOLDS = tuple(name for name in SegmentRules.model_fields if name != "tags")
SETTINGS = (*THRESHOLDS, *(f"tags.{segment}" for segment in SEGMENT_NAMES))


class RulesRefused(ValueError):
    """A setting that does not exist or a value the rules refuse; says which, in plain words."""


def with_settings(rules: SegmentRules, settings: list[tuple[str, str]]) -> SegmentRules:
    """`rules` with each (name, value) of `settings` applied, validated as a whole."""
    values = rules.model_dump()
    for name, value in settings:
        if name not in SETTINGS:
            raise RulesRefused(f"unknown setting {name!r}; settings: {', '.join(SETTINGS)}")
        if name.startswith("tags."):
            values["tags"][name.removeprefix("tags.")] = value.strip() or None
        else:
            values[name] = value.strip()
    try:
        return SegmentRules.model_validate(values)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(map(str, problem['loc']))}: {problem['msg']}" for problem in error.errors(include_input=False)
        )
        raise RulesRefused(problems) from error


def settings_changed(before: SegmentRules, after: SegmentRules) -> dict[str, tuple[Any, Any]]:
    """The settings that differ, by their --set names: (before, after)."""
    old, new = _flat(before), _flat(after)
    return {name: (old[name], new[name]) for name in SETTINGS if old[name] != new[name]}


def _flat(rules: SegmentRules) -> dict[str, Any]:
    values: dict[str, Any] = {name: getattr(rules, name) for name in THRESHOLDS}
    values.update({f"tags.{segment}": getattr(rules.tags, segment) for segment in SEGMENT_NAMES})
    return values


def described(rules: SegmentRules, currency: str) -> list[tuple[str, str | None, str]]:
    """Each segment as (segment, its tag or None when off, the rule in words)."""
    return [
        (
            SEGMENT_NAMES["vip"],
            rules.tags.vip,
            f"net lifetime value >= {rules.vip_lifetime_value} {currency}, or >= {rules.vip_orders} orders",
        ),
        (
            SEGMENT_NAMES["at_risk"],
            rules.tags.at_risk,
            f">= {rules.at_risk_min_orders} orders, the last placed {rules.at_risk_after_days}+ days ago",
        ),
        (
            SEGMENT_NAMES["one_time"],
            rules.tags.one_time,
            f"exactly 1 order, placed more than {rules.one_time_after_days} days ago",
        ),
        (
            SEGMENT_NAMES["advocate"],
            rules.tags.advocate,
            f">= {rules.advocate_orders} orders in the last {rules.advocate_window_days} days",
        ),
    ]
