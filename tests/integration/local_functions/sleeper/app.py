"""A handler for the local runner's own tests: sleeps, reports its process and environment, or fails."""

from __future__ import annotations

import os
import time
from typing import Any

STARTED_IN = os.getpid()


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    print(f"invoked: {event.get('tag', '')}")
    if event.get("fail"):
        raise ValueError(f"asked to fail: {event['fail']}")
    time.sleep(float(event.get("sleep", 0)))
    return {
        "pid": os.getpid(),
        "loaded_in": STARTED_IN,
        "request_id": context.aws_request_id,
        "setting": os.environ.get("SLEEPER_SETTING"),
        "remaining_ms": context.get_remaining_time_in_millis(),
    }
