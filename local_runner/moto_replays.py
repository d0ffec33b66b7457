"""EventBridge archive replays in moto as EventBridge runs them: only the window asked for, only to the rules asked for.

moto's `Replay.replay_events` (moto/events/models) sends every event the archive ever received to every rule of the
bus, whatever `EventStartTime`, `EventEndTime` and `Destination.FilterArns` say. `commerce-sync replay --from --to`
depends on both (a window; the temporary rules that narrow it to a store or to event types), so here a replay sends
an archived event only when its time is inside the window, and only to the rules FilterArns names (every rule of
the bus when none are named), as EventBridge does.

Installed once per process, before moto server answers its first request (LocalRunner.start, the tests' own moto
server), like local_runner.moto_transactions.
"""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any

_installed = threading.Lock()
_done = False


def _seconds(value: Any) -> float:
    """A replay window bound as moto keeps it: epoch seconds (boto sends timestamps so) or an ISO string."""
    if isinstance(value, int | float):
        return float(value)
    text = str(value)
    try:
        return float(text)
    except ValueError:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def install() -> None:
    global _done
    with _installed:
        if _done:
            return
        _done = True
    from moto.core.utils import unix_time
    from moto.events import models
    from moto.moto_api._internal import mock_random as random

    def replay_events(self: Any, archive: Any) -> None:
        backend = models.events_backends[self.account_id][self.region]
        bus = backend.describe_event_bus(self.destination["Arn"].split("/")[-1])
        start, end = _seconds(self.event_start_time), _seconds(self.event_end_time)
        only = set(self.destination.get("FilterArns") or [])
        for event in list(archive.events):
            if not start <= float(event.get("time", 0)) <= end:
                continue
            for rule in list(bus.rules.values()):
                if only and rule.arn not in only:
                    continue
                replayed: Any = dict(event, id=str(random.uuid4()), **{"replay-name": self.name})
                rule.send_to_targets(replayed, False)
        self.state = models.ReplayState.COMPLETED
        self.end_time = unix_time()

    models.Replay.replay_events = replay_events  # type: ignore[method-assign]
