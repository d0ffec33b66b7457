"""BigCommerce webhooks management (`/v3/hooks`), added for key rotation: the rotation function sets
the `X-Commerce-Sync-Token` header of our hooks with `PUT /v3/hooks/{id}`.

  GET    /v3/hooks              `page`, `limit` (≤ 250), `is_active`, `scope`; `meta.pagination`
  POST   /v3/hooks              `scope` and `destination` required; `is_active`, `headers`
  GET    /v3/hooks/{id}
  PUT    /v3/hooks/{id}         any of `scope`, `destination`, `is_active`, `headers` (replaced whole)
  DELETE /v3/hooks/{id}

Answers are `{data, meta}` documents; a hook is `{id, client_id, store_hash, scope, destination,
is_active, headers, created_at, updated_at}` with Unix times, as BigCommerce shows them. BigCommerce
returns the custom `headers` of a hook, values included.
"""

from __future__ import annotations

import copy
import json
import threading
import time
from typing import Any

JsonDict = dict[str, Any]
CLIENT_ID = "emulator-client-id"


class HookError(Exception):
    def __init__(self, status: int, title: str) -> None:
        super().__init__(title)
        self.status = status
        self.title = title


class HookRegistry:
    """The store's hooks; thread-safe on its own lock."""

    def __init__(self, store_hash: str) -> None:
        self.store_hash = store_hash
        self.lock = threading.RLock()
        self.hooks: dict[int, JsonDict] = {}
        self._next_id = 1

    def create(self, body: JsonDict) -> JsonDict:
        if not body.get("scope") or not body.get("destination"):
            raise HookError(422, "scope and destination are required")
        with self.lock:
            now = int(time.time())
            hook: JsonDict = {
                "id": self._next_id,
                "client_id": CLIENT_ID,
                "store_hash": self.store_hash,
                "scope": str(body["scope"]),
                "destination": str(body["destination"]),
                "is_active": bool(body.get("is_active", True)),
                "headers": self._headers(body.get("headers")),
                "created_at": now,
                "updated_at": now,
            }
            self._next_id += 1
            self.hooks[hook["id"]] = hook
            return copy.deepcopy(hook)

    def update(self, hook_id: int, body: JsonDict) -> JsonDict:
        with self.lock:
            hook = self.get(hook_id)
            for name in ("scope", "destination"):
                if name in body:
                    hook[name] = str(body[name])
            if "is_active" in body:
                hook["is_active"] = bool(body["is_active"])
            if "headers" in body:
                hook["headers"] = self._headers(body["headers"])
            hook["updated_at"] = int(time.time())
            self.hooks[hook_id] = hook
            return copy.deepcopy(hook)

    def get(self, hook_id: int) -> JsonDict:
        with self.lock:
            hook = self.hooks.get(hook_id)
            if hook is None:
                raise HookError(404, "The requested webhook was not found")
            return copy.deepcopy(hook)

    def delete(self, hook_id: int) -> JsonDict:
        with self.lock:
            hook = self.get(hook_id)
            del self.hooks[hook_id]
            return hook

    def list(self, args: Any) -> JsonDict:
        try:
            page = max(int(args.get("page", 1)), 1)
            limit = min(max(int(args.get("limit", 50)), 1), 250)
        except ValueError as error:
            raise HookError(422, "page and limit must be integers") from error
        with self.lock:
            hooks = [copy.deepcopy(self.hooks[key]) for key in sorted(self.hooks)]
        if "is_active" in args:
            wanted = str(args["is_active"]).lower() in ("true", "1")
            hooks = [hook for hook in hooks if hook["is_active"] is wanted]
        if "scope" in args:
            hooks = [hook for hook in hooks if hook["scope"] == args["scope"]]
        total = len(hooks)
        total_pages = -(-total // limit) if total else 0
        chunk = hooks[(page - 1) * limit : page * limit]
        pagination = {
            "total": total,
            "count": len(chunk),
            "per_page": limit,
            "current_page": page,
            "total_pages": total_pages,
        }
        return {"data": chunk, "meta": {"pagination": pagination}}

    @staticmethod
    def _headers(value: Any) -> JsonDict:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise HookError(422, "headers must be an object of strings")
        return {str(key): str(item) for key, item in value.items()}


def parse_body(raw: bytes) -> JsonDict:
    try:
        body = json.loads(raw or b"{}")
    except ValueError as error:
        raise HookError(400, "The request body is not valid JSON") from error
    if not isinstance(body, dict):
        raise HookError(422, "The request body must be an object")
    return body
