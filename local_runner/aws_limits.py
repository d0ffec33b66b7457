"""AWS limits that moto does not enforce, enforced on this process's boto3 clients so that a request
AWS would refuse fails locally too. The functions run in this process (local_runner.functions), so the
clients they create once the runner has started are covered.

- PutEvents: the entries of one request must total less than 256 KB, counted as EventBridge counts
  them (commerce_sync.aws.event_bus.entry_size); AWS answers ValidationException.
"""

from __future__ import annotations

from typing import Any

import boto3
from botocore.exceptions import ClientError
from commerce_sync.aws.bus_entries import PUT_EVENTS_MAX_BYTES, entry_size

_PUT_EVENTS_HOOK = "before-parameter-build.events.PutEvents"
_HOOK_ID = "commerce-sync-local:put-events-size"


def _refuse_oversized_put_events(params: dict[str, Any], **_: Any) -> None:
    total = sum(entry_size(entry) for entry in params.get("Entries") or [])
    if total >= PUT_EVENTS_MAX_BYTES:
        # What EventBridge answers (botocore's typed response wants metadata a refusal here has none of).
        refusal: Any = {
            "Error": {
                "Code": "ValidationException",
                "Message": "Total size of the entries in the request is over the limit.",
            },
            "ResponseMetadata": {"HTTPStatusCode": 400},
        }
        raise ClientError(refusal, "PutEvents")


def _default_session() -> boto3.Session:
    if boto3.DEFAULT_SESSION is None:
        boto3.setup_default_session()
    assert boto3.DEFAULT_SESSION is not None
    return boto3.DEFAULT_SESSION


def enforce() -> None:
    """For every boto3 client made from the default session from now on (a client copies the
    session's hooks when it is made)."""
    _default_session().events.register(_PUT_EVENTS_HOOK, _refuse_oversized_put_events, unique_id=_HOOK_ID)


def relax() -> None:
    _default_session().events.unregister(_PUT_EVENTS_HOOK, unique_id=_HOOK_ID)
