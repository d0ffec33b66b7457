"""What the Shopify and WooCommerce catalog emulators share: a product store that can also serve a large
generated catalog without holding it in memory, seeded faults (429 with Retry-After, 500, latency), a
request log, forced failures for tests, and the werkzeug server's lifecycle.

The product store keeps explicit products (dicts in the platform's own JSON shape) and, optionally, a
generated range `first_id .. first_id + count - 1` whose products are computed on demand by a factory
(deterministic, so a page read twice is the same). Explicit products override generated ones with the same
id; deleted ids are hidden from both. Paging uses a sorted id list (8 bytes per product), rebuilt only
after a change.
"""

from __future__ import annotations

import bisect
import copy
import json
import random
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from werkzeug.wrappers import Request, Response

from emulators.loopback import LoopbackServer

JsonDict = dict[str, Any]
ProductFactory = Callable[[int], JsonDict]
# Called with (path, query) for every API request; a status code forces that answer, None lets it through.
FailureRule = Callable[[str, dict[str, str]], int | None]
MAX_RECORDED_REQUESTS = 50_000


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")


class ProductStore:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self._explicit: dict[int, JsonDict] = {}
        self._deleted: set[int] = set()
        self._generated: tuple[int, int, ProductFactory] | None = None
        self._ids: list[int] | None = None

    def put(self, product: JsonDict) -> JsonDict:
        stored = copy.deepcopy(product)
        stored["id"] = int(stored["id"])
        with self.lock:
            self._explicit[stored["id"]] = stored
            self._deleted.discard(stored["id"])
            self._ids = None
        return copy.deepcopy(stored)

    def delete(self, product_id: int) -> None:
        with self.lock:
            self._explicit.pop(int(product_id), None)
            self._deleted.add(int(product_id))
            self._ids = None

    def generate(self, count: int, factory: ProductFactory, first_id: int = 1) -> None:
        """Serve `count` products computed by `factory(id)` for ids first_id .. first_id + count - 1."""
        with self.lock:
            self._generated = (first_id, count, factory)
            self._ids = None

    def clear(self) -> None:
        with self.lock:
            self._explicit.clear()
            self._deleted.clear()
            self._generated = None
            self._ids = None

    def get(self, product_id: int) -> JsonDict | None:
        with self.lock:
            if product_id in self._deleted:
                return None
            if product_id in self._explicit:
                return copy.deepcopy(self._explicit[product_id])
            generated = self._generated
        if generated is not None:
            first, count, factory = generated
            if first <= product_id < first + count:
                return factory(product_id)
        return None

    def ids(self) -> list[int]:
        with self.lock:
            if self._ids is None:
                everything = set(self._explicit)
                if self._generated is not None:
                    first, count, _ = self._generated
                    everything.update(range(first, first + count))
                self._ids = sorted(everything - self._deleted)
            return self._ids

    def after(self, last_id: int, limit: int, keep: Callable[[JsonDict], bool] | None = None) -> list[JsonDict]:
        """Up to `limit` products with an id above `last_id`, in id order (keyset paging)."""
        ids = self.ids()
        found: list[JsonDict] = []
        index = bisect.bisect_right(ids, last_id)
        while index < len(ids) and len(found) < limit:
            product = self.get(ids[index])
            index += 1
            if product is not None and (keep is None or keep(product)):
                found.append(product)
        return found

    def all(self, keep: Callable[[JsonDict], bool] | None = None) -> Iterable[JsonDict]:
        for product_id in self.ids():
            product = self.get(product_id)
            if product is not None and (keep is None or keep(product)):
                yield product


@dataclass(frozen=True)
class Faults:
    """Each API request draws once from `random.Random(seed)`: below rate_429 it is throttled (429 with
    `Retry-After: retry_after` seconds), then below rate_429 + rate_500 it fails with 500."""

    rate_429: float = 0.0
    rate_500: float = 0.0
    latency_ms: int = 0
    retry_after: float = 0.05
    seed: int = 1

    def __post_init__(self) -> None:
        if not (0.0 <= self.rate_429 <= 1.0 and 0.0 <= self.rate_500 <= 1.0 and self.rate_429 + self.rate_500 <= 1):
            raise ValueError("fault rates must be between 0 and 1 and add up to at most 1")

    def to_json(self) -> JsonDict:
        return asdict(self)


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body), status=status, headers=headers, content_type="application/json")


class PlatformEmulator(LoopbackServer):
    """Server lifecycle, faults, the request log and forced failures; subclasses route and authenticate."""

    name = "platform"

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self.products = ProductStore()
        self._faults = Faults()
        self._rng = random.Random(self._faults.seed)
        self._fault_lock = threading.Lock()
        self._failure_rule: FailureRule | None = None
        self._requests: list[JsonDict] = []
        self._requests_lock = threading.Lock()

    def wsgi_app(self) -> Any:
        return self

    # ----- faults and records -------------------------------------------------------------------------

    def set_faults(
        self,
        rate_429: float = 0.0,
        rate_500: float = 0.0,
        latency_ms: int = 0,
        retry_after: float = 0.05,
        seed: int = 1,
    ) -> Faults:
        faults = Faults(rate_429=rate_429, rate_500=rate_500, latency_ms=latency_ms, retry_after=retry_after, seed=seed)
        with self._fault_lock:
            self._faults = faults
            self._rng = random.Random(seed)
        return faults

    def fail_when(self, rule: FailureRule | None) -> None:
        """Force answers: `rule(path, query)` returns a status (e.g. 500) or None. None clears it."""
        self._failure_rule = rule

    @property
    def requests(self) -> list[JsonDict]:
        """Every API request: method, path, query, status, fault, at (never a credential)."""
        with self._requests_lock:
            return copy.deepcopy(self._requests)

    def clear_requests(self) -> None:
        with self._requests_lock:
            self._requests.clear()

    def reset(self) -> None:
        self.products.clear()
        self.clear_requests()
        self.set_faults()
        self.fail_when(None)

    def _draw(self) -> str | None:
        with self._fault_lock:
            faults = self._faults
            if not (faults.rate_429 or faults.rate_500):
                return None
            roll = self._rng.random()
        if roll < faults.rate_429:
            return "429"
        if roll < faults.rate_429 + faults.rate_500:
            return "500"
        return None

    # ----- WSGI ---------------------------------------------------------------------------------------

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = Request(environ)
        faults = self._faults
        if faults.latency_ms:
            time.sleep(faults.latency_ms / 1000)
        fault = self._draw()
        query = request.args.to_dict()
        forced = self._failure_rule(request.path, query) if self._failure_rule else None
        if fault == "429":
            response = self.throttled(faults.retry_after)
        elif fault == "500" or forced:
            fault = fault or f"forced_{forced}"
            response = self.error(forced or 500, "Internal Server Error" if (forced or 500) >= 500 else "Refused")
        else:
            try:
                response = self.dispatch(request)
            except Exception:
                response = self.error(500, "Internal Server Error")
        with self._requests_lock:
            self._requests.append(
                {
                    "method": request.method,
                    "path": request.path,
                    "query": query,
                    "status": response.status_code,
                    "fault": fault,
                    "at": now_iso(),
                }
            )
            if len(self._requests) > MAX_RECORDED_REQUESTS:
                del self._requests[: len(self._requests) - MAX_RECORDED_REQUESTS]
        return response(environ, start_response)

    def dispatch(self, request: Request) -> Response:
        raise NotImplementedError

    def throttled(self, retry_after: float) -> Response:
        return self.error(429, "Too Many Requests", {"Retry-After": f"{retry_after:g}"})

    def error(self, status: int, message: str, headers: dict[str, str] | None = None) -> Response:
        return json_response({"errors": message}, status, headers)
