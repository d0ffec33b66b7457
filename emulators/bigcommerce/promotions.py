"""BigCommerce's v2 coupons and v3 coupon promotions with their codes, for the promotion sync's tests.

`PromotionShelf` keeps them as BigCommerce answers them:
- `GET /v2/coupons`: filters `id`, `min_id`, `max_id`, `type`, `exclude_type`; `page`, `limit` (≤ 250); sorted by
  id; an empty answer is a 204 (v2). `amount` and friends are strings, dates RFC 2822, as BigCommerce sends them.
- `GET /v3/promotions`: filters `id`, `redemption_type` (automatic|coupon); `page`, `limit`; `meta.pagination`.
- `GET /v3/promotions/<id>/codes`: `limit`, `after` (an opaque cursor of the last id); `meta.cursor_pagination`
  with `end_cursor` and `links.next` while more follow.
"""

from __future__ import annotations

import base64
import copy
import json
import math
import threading
from typing import Any

JsonDict = dict[str, Any]
MAX_LIMIT = 250


class PromotionError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _cursor(code_id: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"id": str(code_id)}).encode()).decode().rstrip("=")


def _after(cursor: str) -> int:
    try:
        return int(json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))["id"])
    except (ValueError, KeyError, TypeError) as error:
        raise PromotionError(422, "The 'after' cursor is not valid.") from error


def _limit(args: Any) -> int:
    try:
        return min(max(int(args.get("limit", 50)), 1), MAX_LIMIT)
    except ValueError as error:
        raise PromotionError(422, "limit must be an integer") from error


class PromotionShelf:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.coupons: dict[int, JsonDict] = {}
        self.promotions: dict[int, JsonDict] = {}
        self.codes: dict[int, dict[int, JsonDict]] = {}

    def put_coupon(self, coupon: JsonDict) -> JsonDict:
        stored = {
            "type": "per_total_discount",
            "amount": "0.0000",
            "min_purchase": "0.0000",
            "expires": "",
            "enabled": True,
            "applies_to": {"entity": "categories", "ids": [0]},
            "num_uses": 0,
            "max_uses": 0,
            "max_uses_per_customer": 0,
            "restricted_to": {},
            "shipping_methods": [],
            "date_created": "Tue, 13 Mar 2018 16:18:59 +0000",
            **copy.deepcopy(coupon),
        }
        stored["id"] = int(stored["id"])
        with self.lock:
            self.coupons[stored["id"]] = stored
        return copy.deepcopy(stored)

    def delete_coupon(self, coupon_id: int) -> None:
        with self.lock:
            self.coupons.pop(int(coupon_id), None)

    def put_promotion(self, promotion: JsonDict, codes: list[JsonDict] | None = None) -> JsonDict:
        stored = {"redemption_type": "COUPON", "status": "ENABLED", "current_uses": 0, **copy.deepcopy(promotion)}
        stored["id"] = int(stored["id"])
        with self.lock:
            self.promotions[stored["id"]] = stored
            self.codes.setdefault(stored["id"], {})
            for code in codes or []:
                self.put_code(stored["id"], code)
        return copy.deepcopy(stored)

    def put_code(self, promotion_id: int, code: JsonDict) -> JsonDict:
        stored = {"current_uses": 0, "max_uses": 0, "max_uses_per_customer": 0, "created": "2025-01-20T22:00:00+00:00"}
        stored.update(copy.deepcopy(code))
        stored["id"] = int(stored["id"])
        with self.lock:
            self.codes.setdefault(int(promotion_id), {})[stored["id"]] = stored
        return copy.deepcopy(stored)

    def delete_promotion(self, promotion_id: int) -> None:
        with self.lock:
            self.promotions.pop(int(promotion_id), None)
            self.codes.pop(int(promotion_id), None)

    def delete_code(self, promotion_id: int, code_id: int) -> None:
        with self.lock:
            self.codes.get(int(promotion_id), {}).pop(int(code_id), None)

    def clear(self) -> None:
        with self.lock:
            self.coupons.clear()
            self.promotions.clear()
            self.codes.clear()

    # ----- reads -----------------------------------------------------------------------------------------

    def list_coupons(self, args: Any) -> list[JsonDict] | None:
        """v2: the page, or None for an empty one (204)."""

        def number(name: str) -> int | None:
            value = args.get(name)
            if value is None:
                return None
            try:
                return int(value)
            except ValueError as error:
                raise PromotionError(400, f"The field '{name}' is invalid.") from error

        wanted, low, high = number("id"), number("min_id"), number("max_id")
        kind, excluded = args.get("type"), args.get("exclude_type")
        with self.lock:
            items = [
                copy.deepcopy(coupon)
                for coupon_id, coupon in sorted(self.coupons.items())
                if (wanted is None or coupon_id == wanted)
                and (low is None or coupon_id >= low)
                and (high is None or coupon_id <= high)
                and (kind is None or coupon["type"] == kind)
                and (excluded is None or coupon["type"] != excluded)
            ]
        page = max(int(args.get("page", 1) or 1), 1)
        limit = _limit(args)
        chunk = items[(page - 1) * limit : page * limit]
        return chunk or None

    def list_promotions(self, args: Any) -> JsonDict:
        wanted = args.get("id")
        kind = (args.get("redemption_type") or "").upper()
        with self.lock:
            items = [
                copy.deepcopy(promotion)
                for promotion_id, promotion in sorted(self.promotions.items())
                if (not wanted or str(promotion_id) == wanted) and (not kind or promotion["redemption_type"] == kind)
            ]
        page = max(int(args.get("page", 1) or 1), 1)
        limit = _limit(args)
        total_pages = math.ceil(len(items) / limit) if items else 0
        chunk = items[(page - 1) * limit : page * limit]
        return {
            "data": chunk,
            "meta": {
                "pagination": {
                    "total": len(items),
                    "count": len(chunk),
                    "per_page": limit,
                    "current_page": page,
                    "total_pages": total_pages,
                }
            },
        }

    def list_codes(self, promotion_id: int, args: Any) -> JsonDict:
        with self.lock:
            if promotion_id not in self.promotions:
                raise PromotionError(404, "The promotion was not found.")
            codes = self.codes.get(promotion_id, {})
            after = _after(args["after"]) if args.get("after") else 0
            ids = sorted(code_id for code_id in codes if code_id > after)
            limit = _limit(args)
            chunk = [copy.deepcopy(codes[code_id]) for code_id in ids[:limit]]
        paging: JsonDict = {"count": len(chunk), "per_page": limit, "links": {}}
        if chunk:
            paging["start_cursor"] = _cursor(chunk[0]["id"])
            paging["end_cursor"] = _cursor(chunk[-1]["id"])
        if len(ids) > limit:
            paging["links"]["next"] = f"?limit={limit}&after={paging['end_cursor']}"
        return {"data": chunk, "meta": {"cursor_pagination": paging}}
