"""`commerce-sync status` against the local runner (settings from its env file): busy while a change is
being applied, idle once every queue is drained and nothing runs; `--wait-idle` waits for that."""

from __future__ import annotations

import io
import json
import threading
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import pytest

from emulators.mailchimp import MailchimpEmulator
from local_runner.main import write_env_file
from local_runner.runner import LocalRunner
from operator_cli.main import main
from tests.e2e.test_shopify_orders import at, new_order, send
from tests.harness import RegisteredStore


def status(env_file: Path, *options: str) -> tuple[int, str]:
    out = io.StringIO()
    with redirect_stdout(out):
        code = main(["--env-file", str(env_file), "status", *options])
    return code, out.getvalue()


def needs_attention(status: dict[str, Any]) -> int:
    """The exit code `status` without STORE owes: 1 when a store or the global part needs attention (other tests of
    this runner may have left dead letters or a paused account)."""
    return 1 if status["attention"] or any(report["attention"] for report in status["stores"]) else 0


def test_status_is_busy_while_an_order_is_applied_and_wait_idle_returns_once_it_is_done(
    runner: LocalRunner,
    shopify_store: RegisteredStore,
    mailchimp: MailchimpEmulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    env_file = write_env_file(runner, tmp_path / "runner.env")
    # What --env-file adds (the way to the runner, the same value) is taken back after the test.
    monkeypatch.setenv("LOCAL_RUNNER_URL", runner.url)
    order = dict(new_order(), financial_status="paid", updated_at=at(1))

    def order_write(method: str, path: str, body: Any) -> bool:
        return "/orders" in path and method in {"POST", "PATCH"}

    # Every order write is held, not just the first: under load the client's 2 s read timeout (the tests' runner)
    # can end the first attempt while status is still being asked, and its retry must not pass the hold either.
    with mailchimp.hold(order_write) as hold:
        send(runner, shopify_store, "orders/paid", order)
        assert hold.wait_for_requests(1)

        # With STORE, only that store's section and attention items (other tests' stores share the runner).
        code, out = status(env_file, shopify_store.store_id, "--json")
        busy = json.loads(out)
        assert code == 0 and busy["idle"] is False
        assert [report["store_id"] for report in busy["stores"]] == [shopify_store.store_id]
        assert busy["invocations"]["OrderStatusFunction"] == 1
        assert busy["queues"]["OrderStatusQueue"]["in_flight"] == 1

        code, out = status(env_file, "--wait-idle", "--timeout", "0.5")
        assert code == 1 and "still busy after 0.5 s" in out and "OrderStatusFunction 1" in out

        threading.Timer(1.0, hold.release).start()
        code, out = status(env_file, "--wait-idle", "--timeout", "60")
    assert code == 0 and out.startswith("idle") and "running: nothing" in out


def test_a_continuation_sent_with_a_delay_keeps_status_busy_until_it_has_run(
    runner: LocalRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env_file = write_env_file(runner, tmp_path / "runner.env")
    monkeypatch.setenv("LOCAL_RUNNER_URL", runner.url)
    # What a reconciliation waiting for a backfill sends: its continuation, delayed (SQS counts it neither waiting
    # nor in flight meanwhile). For a store that does not exist, so that it ends as a skip.
    body = {"action": "reconcile", "store_id": "no-such-store", "run_id": "r1", "trigger": "continuation"}
    runner.client("sqs").send_message(
        QueueUrl=runner.queue_url("ProductSyncQueue"), MessageBody=json.dumps(body), DelaySeconds=4
    )

    code, out = status(env_file, "--json")

    busy = json.loads(out)
    assert (
        code == needs_attention(busy) and busy["idle"] is False and busy["queues"]["ProductSyncQueue"]["delayed"] == 1
    )
    code, out = status(env_file, "--wait-idle", "--timeout", "60")
    assert code == 0 and out.startswith("idle")
    assert runner.queue_depths()["ProductSyncQueue"] == {"visible": 0, "in_flight": 0, "delayed": 0}
