"""What a resource handler receives (`Call`) and how handlers are declared (`Route`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from werkzeug.datastructures import MultiDict

from .problems import not_found
from .state import Account, EmulatorState, JsonDict, Store
from .validation import SpecValidator

if TYPE_CHECKING:
    from .batches import BatchRunner


@dataclass
class ApiEnv:
    """Everything shared by the handlers of one emulator."""

    state: EmulatorState
    account: Account
    validator: SpecValidator
    batches: BatchRunner | None = None


@dataclass
class Call:
    """One API call, after routing and schema validation. `body` is the parsed JSON (None for GET/DELETE)."""

    env: ApiEnv
    method: str
    template: str
    args: dict[str, str]
    query: MultiDict[str, str]
    body: Any
    request_id: str

    @property
    def state(self) -> EmulatorState:
        return self.env.state

    @property
    def json(self) -> JsonDict:
        """The body as an object (schema validation has already ensured that it is one)."""
        return self.body if isinstance(self.body, dict) else {}

    def store(self) -> Store:
        store = self.state.stores.get(self.args["store_id"])
        if store is None:
            raise not_found()
        return store


# A handler returns the JSON body of a 200 response, or None for a 204.
Handler = Callable[[Call], Any]


@dataclass(frozen=True)
class Route:
    method: str
    template: str  # the spec's path template, e.g. "/ecommerce/stores/{store_id}"
    handler: Handler


def lookup(items: dict[str, JsonDict], key: str) -> JsonDict:
    item = items.get(key)
    if item is None:
        raise not_found()
    return item
