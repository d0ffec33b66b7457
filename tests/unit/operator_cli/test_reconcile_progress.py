"""The progress lines `commerce-sync reconcile` prints while a run works: one when the run moves, one when it starts
waiting for a backfill, one when its latest slice failed; never the same line twice."""

from __future__ import annotations

import io

from commerce_sync.history.reconcile_state import ReconcileCheckpoint

from operator_cli.history import ReconcileProgress


def checkpoint(**fields: object) -> ReconcileCheckpoint:
    defaults: dict[str, object] = {
        "run_id": "r1",
        "windows": {"customers": "2026-01-01T00:00:00+00:00", "orders": "2026-01-01T00:00:00+00:00"},
        "until": "2026-01-02T00:00:00+00:00",
        "started_at": 0.0,
    }
    return ReconcileCheckpoint.model_validate(defaults | fields)


def test_a_line_when_the_run_moves_and_once_for_a_wait_or_a_failure() -> None:
    out = io.StringIO()
    progress = ReconcileProgress("my-shop", out)

    progress.show(checkpoint(waiting_for="bf-1", slices=1))
    progress.show(checkpoint(waiting_for="bf-1", slices=2))
    progress.show(checkpoint(phase="orders", pages=3, slices=3, checked={"customers": 250}))
    moved = checkpoint(phase="orders", pages=4, slices=4, checked={"customers": 250, "orders": 250})
    moved.repaired = {"orders_missing": 2}
    progress.show(moved)
    failing = moved.model_copy(update={"last_error": "PlatformApiError: 503", "failed_slice": 4})
    progress.show(failing)
    progress.show(failing)
    progress.show(failing.model_copy(update={"slices": 5}))  # retried: the error is an old one now

    assert out.getvalue().splitlines() == [
        "my-shop reconciliation: customers, page 0; checked 0 customers, 0 orders; repaired 0",
        "my-shop: waiting for the backfill of this store (run bf-1) to end",
        "my-shop reconciliation: orders, page 3; checked 250 customers, 0 orders; repaired 0",
        "my-shop reconciliation: orders, page 4; checked 250 customers, 250 orders; repaired 2",
        "my-shop: a slice failed (PlatformApiError: 503); it is retried",
    ]
