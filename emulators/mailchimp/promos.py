"""Promo rules and their promo codes.

Beyond the schema (type `fixed|percentage`, target `per_item|total|shipping`): a `percentage` amount must be
within 0..1, `ends_at` must come after `starts_at`, and the documented lengths are enforced (rule id ≤ 50,
title ≤ 100 bytes, description ≤ 255; code id ≤ 50, code ≤ 50, redemption_url ≤ 2000).
Deleting a rule deletes its codes.
"""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

from .context import Call, Route, lookup
from .paging import page
from .problems import already_exists, invalid_field
from .state import JsonDict, now_iso

RULES = "/ecommerce/stores/{store_id}/promo-rules"
RULE = RULES + "/{promo_rule_id}"
CODES = RULE + "/promo-codes"
CODE = CODES + "/{promo_code_id}"

RULE_FIELDS = (
    "title",
    "description",
    "starts_at",
    "ends_at",
    "amount",
    "type",
    "target",
    "enabled",
    "created_at_foreign",
    "updated_at_foreign",
)
CODE_FIELDS = ("code", "redemption_url", "usage_count", "enabled", "created_at_foreign", "updated_at_foreign")
RULE_LIMITS = {"id": 50, "description": 255}
CODE_LIMITS = {"id": 50, "code": 50, "redemption_url": 2000}


def _check_lengths(item: JsonDict, limits: dict[str, int]) -> None:
    for name, limit in limits.items():
        value = item.get(name)
        if isinstance(value, str) and len(value) > limit:
            raise invalid_field(name, f"The {name} must be at most {limit} characters long.")


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _check_rule(rule: JsonDict) -> None:
    _check_lengths(rule, RULE_LIMITS)
    title = rule.get("title")
    if isinstance(title, str) and len(title.encode("utf-8")) > 100:
        raise invalid_field("title", "The title must be at most 100 bytes long.")
    if rule.get("type") == "percentage" and not 0 <= float(rule.get("amount", 0)) <= 1:
        raise invalid_field("amount", "The amount of a percentage promo rule must be between 0 and 1.")
    starts, ends = _parse_time(rule.get("starts_at")), _parse_time(rule.get("ends_at"))
    if starts and ends and (starts.tzinfo is None) == (ends.tzinfo is None) and ends <= starts:
        raise invalid_field("ends_at", "The ends_at date must be after the starts_at date.")


def list_rules(call: Call) -> Any:
    store = call.store()
    return page(call.query, "promo_rules", store.promo_rules.values(), store_id=store.id)


def post_rule(call: Call) -> Any:
    store = call.store()
    body = call.json
    if body["id"] in store.promo_rules:
        raise already_exists("A promo rule")
    stamp = now_iso()
    rule: JsonDict = {"id": body["id"], "enabled": True}
    rule.update({name: copy.deepcopy(body[name]) for name in RULE_FIELDS if name in body})
    rule.update({"created_at": stamp, "updated_at": stamp})
    _check_rule(rule)
    store.promo_rules[rule["id"]] = rule
    store.promo_codes[rule["id"]] = {}
    return copy.deepcopy(rule)


def get_rule(call: Call) -> Any:
    return copy.deepcopy(lookup(call.store().promo_rules, call.args["promo_rule_id"]))


def patch_rule(call: Call) -> Any:
    rule = lookup(call.store().promo_rules, call.args["promo_rule_id"])
    candidate = {**rule, **{name: copy.deepcopy(call.json[name]) for name in RULE_FIELDS if name in call.json}}
    _check_rule(candidate)
    rule.update(candidate)
    rule["updated_at"] = now_iso()
    return copy.deepcopy(rule)


def delete_rule(call: Call) -> Any:
    store = call.store()
    lookup(store.promo_rules, call.args["promo_rule_id"])
    del store.promo_rules[call.args["promo_rule_id"]]
    store.promo_codes.pop(call.args["promo_rule_id"], None)
    return None


def _codes(call: Call) -> dict[str, JsonDict]:
    store = call.store()
    lookup(store.promo_rules, call.args["promo_rule_id"])
    return store.promo_codes.setdefault(call.args["promo_rule_id"], {})


def list_codes(call: Call) -> Any:
    codes = _codes(call)
    return page(call.query, "promo_codes", codes.values(), store_id=call.args["store_id"])


def post_code(call: Call) -> Any:
    codes = _codes(call)
    body = call.json
    if body["id"] in codes:
        raise already_exists("A promo code")
    stamp = now_iso()
    code: JsonDict = {"id": body["id"], "usage_count": 0, "enabled": True}
    code.update({name: copy.deepcopy(body[name]) for name in CODE_FIELDS if name in body})
    code.update({"created_at": stamp, "updated_at": stamp})
    _check_lengths(code, CODE_LIMITS)
    codes[code["id"]] = code
    return copy.deepcopy(code)


def get_code(call: Call) -> Any:
    return copy.deepcopy(lookup(_codes(call), call.args["promo_code_id"]))


def patch_code(call: Call) -> Any:
    code = lookup(_codes(call), call.args["promo_code_id"])
    candidate = {**code, **{name: copy.deepcopy(call.json[name]) for name in CODE_FIELDS if name in call.json}}
    _check_lengths(candidate, CODE_LIMITS)
    code.update(candidate)
    code["updated_at"] = now_iso()
    return copy.deepcopy(code)


def delete_code(call: Call) -> Any:
    codes = _codes(call)
    lookup(codes, call.args["promo_code_id"])
    del codes[call.args["promo_code_id"]]
    return None


ROUTES = [
    Route("GET", RULES, list_rules),
    Route("POST", RULES, post_rule),
    Route("GET", RULE, get_rule),
    Route("PATCH", RULE, patch_rule),
    Route("DELETE", RULE, delete_rule),
    Route("GET", CODES, list_codes),
    Route("POST", CODES, post_code),
    Route("GET", CODE, get_code),
    Route("PATCH", CODE, patch_code),
    Route("DELETE", CODE, delete_code),
]
