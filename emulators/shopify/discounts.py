"""Shopify's price rules and their discount codes, as the Admin REST API lists them, for the promotion sync's
tests, the demo and the benchmark.

`DiscountBook` keeps explicit rules and codes (REST JSON) and, optionally, a generated range of rules each with
a fixed number of codes, computed on demand (`generate`), so 10,000 rules with 100,000 codes cost no memory.
Both are paged by id (keyset), as Shopify pages them. `sample_price_rules()` covers each kind the sync maps
(percentage and fixed off the order and off each item, free shipping, a date window, an expired rule, a buy X
get Y rule it must leave out) with their codes.
"""

from __future__ import annotations

import bisect
import copy
import threading
from collections.abc import Callable
from typing import Any

JsonDict = dict[str, Any]
RuleFactory = Callable[[int], JsonDict]
CodeFactory = Callable[[int, int], JsonDict]
UPDATED = "2025-03-01T10:00:00-05:00"


class DiscountBook:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self._rules: dict[int, JsonDict] = {}
        self._codes: dict[int, dict[int, JsonDict]] = {}
        self._deleted_rules: set[int] = set()
        self._deleted_codes: set[int] = set()
        # (first rule id, rule count, codes per rule, first code id, rule factory, code factory)
        self._generated: tuple[int, int, int, int, RuleFactory, CodeFactory] | None = None
        self._rule_ids: list[int] | None = None

    def put_rule(self, rule: JsonDict) -> JsonDict:
        stored = copy.deepcopy(rule)
        stored["id"] = int(stored["id"])
        with self.lock:
            self._rules[stored["id"]] = stored
            self._deleted_rules.discard(stored["id"])
            self._codes.setdefault(stored["id"], {})
            self._rule_ids = None
        return copy.deepcopy(stored)

    def put_code(self, rule_id: int, code: JsonDict) -> JsonDict:
        stored = {"price_rule_id": int(rule_id), "usage_count": 0, "created_at": UPDATED, "updated_at": UPDATED}
        stored.update(copy.deepcopy(code))
        stored["id"] = int(stored["id"])
        with self.lock:
            self._codes.setdefault(int(rule_id), {})[stored["id"]] = stored
            self._deleted_codes.discard(stored["id"])
        return copy.deepcopy(stored)

    def delete_rule(self, rule_id: int) -> None:
        with self.lock:
            self._rules.pop(int(rule_id), None)
            self._codes.pop(int(rule_id), None)
            self._deleted_rules.add(int(rule_id))
            self._rule_ids = None

    def delete_code(self, code_id: int) -> None:
        with self.lock:
            for codes in self._codes.values():
                codes.pop(int(code_id), None)
            self._deleted_codes.add(int(code_id))

    def generate(
        self,
        rule_count: int,
        codes_per_rule: int,
        rule_factory: RuleFactory,
        code_factory: CodeFactory,
        first_rule_id: int = 1,
        first_code_id: int = 1,
    ) -> None:
        """Serve `rule_count` rules `rule_factory(id)` from `first_rule_id` on, each with `codes_per_rule` codes
        `code_factory(rule_id, code_id)` whose ids are consecutive from `first_code_id`."""
        with self.lock:
            self._generated = (first_rule_id, rule_count, codes_per_rule, first_code_id, rule_factory, code_factory)
            self._rule_ids = None

    def clear(self) -> None:
        with self.lock:
            self._rules.clear()
            self._codes.clear()
            self._deleted_rules.clear()
            self._deleted_codes.clear()
            self._generated = None
            self._rule_ids = None

    def _generated_rule(self, rule_id: int) -> bool:
        if self._generated is None:
            return False
        first, count, *_ = self._generated
        return first <= rule_id < first + count and rule_id not in self._rules

    def rule(self, rule_id: int) -> JsonDict | None:
        with self.lock:
            if rule_id in self._deleted_rules:
                return None
            if rule_id in self._rules:
                return copy.deepcopy(self._rules[rule_id])
            generated = self._generated if self._generated_rule(rule_id) else None
        return generated[4](rule_id) if generated else None

    def rule_ids(self) -> list[int]:
        with self.lock:
            if self._rule_ids is None:
                everything = set(self._rules)
                if self._generated is not None:
                    first, count, *_ = self._generated
                    everything.update(range(first, first + count))
                self._rule_ids = sorted(everything - self._deleted_rules)
            return self._rule_ids

    def rules_after(self, last_id: int, limit: int) -> list[JsonDict]:
        ids = self.rule_ids()
        index = bisect.bisect_right(ids, last_id)
        found = []
        for rule_id in ids[index : index + limit]:
            rule = self.rule(rule_id)
            if rule is not None:
                found.append(rule)
        return found

    def codes_after(self, rule_id: int, last_id: int, limit: int) -> list[JsonDict]:
        """Up to `limit` codes of the rule with an id above `last_id`, in id order."""
        with self.lock:
            if self._generated_rule(rule_id) and self._generated is not None:
                first, _, per_rule, first_code, _, factory = self._generated
                base = first_code + (rule_id - first) * per_rule
                start = max(base, last_id + 1)
                ids = range(start, min(base + per_rule, start + limit + len(self._deleted_codes)))
                return [factory(rule_id, i) for i in ids if i not in self._deleted_codes][:limit]
            codes = self._codes.get(rule_id, {})
            ids = sorted(code_id for code_id in codes if code_id > last_id)[:limit]
            return [copy.deepcopy(codes[code_id]) for code_id in ids]


def price_rule(rule_id: int, title: str, **fields: Any) -> JsonDict:
    """A REST price rule with Shopify's defaults: 10 % off every item, no limits, no dates."""
    return {
        "id": rule_id,
        "title": title,
        "value_type": "percentage",
        "value": "-10.0",
        "target_type": "line_item",
        "target_selection": "all",
        "allocation_method": "across",
        "customer_selection": "all",
        "once_per_customer": False,
        "usage_limit": None,
        "starts_at": "2025-01-01T00:00:00-05:00",
        "ends_at": None,
        "prerequisite_to_entitlement_quantity_ratio": {"prerequisite_quantity": None, "entitled_quantity": None},
        "prerequisite_to_entitlement_purchase": {"prerequisite_amount": None},
        "created_at": UPDATED,
        "updated_at": UPDATED,
        **fields,
    }


def sample_price_rules() -> list[tuple[JsonDict, list[JsonDict]]]:
    """(price rule, its codes) for each kind the sync maps or leaves out."""
    return copy.deepcopy(
        [
            (price_rule(501, "SPRING15", value="-15.0"), [{"id": 5011, "code": "SPRING15", "usage_count": 4}]),
            (
                price_rule(502, "TENOFF", value_type="fixed_amount", value="-10.00"),
                [{"id": 5021, "code": "TENOFF"}],
            ),
            (
                price_rule(
                    503,
                    "SOCKS2",
                    value_type="fixed_amount",
                    value="-2.00",
                    target_selection="entitled",
                    allocation_method="each",
                    entitled_product_ids=[1001],
                ),
                [{"id": 5031, "code": "SOCKS2"}],
            ),
            (
                price_rule(504, "SHIPFREE", target_type="shipping_line", value="-100.0", allocation_method="each"),
                [{"id": 5041, "code": "SHIPFREE"}],
            ),
            (
                price_rule(
                    505,
                    "SUMMER",
                    value="-20.0",
                    starts_at="2030-06-01T00:00:00Z",
                    ends_at="2030-08-31T23:59:59Z",
                    usage_limit=1,
                ),
                [{"id": 5051, "code": "SUMMER-A1"}, {"id": 5052, "code": "SUMMER-B2", "usage_count": 1}],
            ),
            (
                price_rule(
                    506, "WINTER", value="-25.0", starts_at="2024-12-01T00:00:00Z", ends_at="2025-01-31T00:00:00Z"
                ),
                [{"id": 5061, "code": "WINTER25"}],
            ),
            (
                price_rule(
                    507,
                    "BUY2GET1",
                    value="-100.0",
                    target_selection="entitled",
                    allocation_method="each",
                    prerequisite_to_entitlement_quantity_ratio={"prerequisite_quantity": 2, "entitled_quantity": 1},
                ),
                [{"id": 5071, "code": "BUY2GET1"}],
            ),
        ]
    )


def generated_price_rule(rule_id: int, version: int = 0) -> JsonDict:
    """A rule of a large deterministic store (the benchmark): alternately percentage and fixed off the order."""
    if rule_id % 2:
        return price_rule(rule_id, f"GEN{rule_id}", value=f"-{5 + rule_id % 20 + version}.0")
    return price_rule(rule_id, f"GEN{rule_id}", value_type="fixed_amount", value=f"-{1 + rule_id % 50 + version}.00")


def generated_discount_code(rule_id: int, code_id: int) -> JsonDict:
    return {
        "id": code_id,
        "price_rule_id": rule_id,
        "code": f"G{rule_id}-{code_id}",
        "usage_count": 0,
        "created_at": UPDATED,
        "updated_at": UPDATED,
    }
