"""`commerce-sync status`'s global part, piped: the queues and the Mailchimp accounts as tables, a paused account with
what was parked and how to reconnect it."""

from __future__ import annotations

from typing import Any

import pytest

from operator_cli.status import show


def test_queues_and_accounts_are_tables_and_a_paused_account_says_how_to_reconnect(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status: dict[str, Any] = {
        "idle": False,
        "queues": {
            "ProductSyncQueue": {"visible": 12, "in_flight": 0, "delayed": 2},
            "CartEventsQueue": {"visible": 0, "in_flight": 1},
        },
        "invocations": {"CartEventsFunction": 1, "OrderStatusFunction": 0},
        "mailchimp_accounts": [
            {"account": "default", "status": "ok", "stores": ["a", "b"], "connections_in_use": 2},
            {
                "account": "acc-2",
                "status": "paused",
                "since": "2026-12-05T10:00:00Z",
                "reason": "API key revoked",
                "parked_events": 3,
                "stores": ["c"],
            },
        ],
        "imports": [],
    }

    show(status)

    assert capsys.readouterr().out.splitlines() == [
        "busy",
        "QUEUE             WAITING  IN FLIGHT  DELAYED",
        "CartEventsQueue         0          1        0",
        "ProductSyncQueue       12          0        2",
        "  running: CartEventsFunction 1",
        "Mailchimp accounts",
        "ACCOUNT  STATE                              STORES  DETAIL",
        "default  ok                                 a, b    2 connection(s) in use",
        "acc-2    PAUSED since 2026-12-05T10:00:00Z  c       API key revoked; 3 event(s) parked. Reconnect: "
        "commerce-sync connect-mailchimp STORE, or commerce-sync stores set-mailchimp-key STORE",
    ]
