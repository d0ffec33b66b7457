"""`commerce-sync status`: what is waiting and what runs now, and `--wait-idle` to return once all is done.

- Against the local runner (LOCAL_RUNNER_URL, which `--env-file .local/runner.env` sets): the runner's own
  `GET /_local/status`, which sees its queues and every invocation running (the HTTP receiver's too).
- Deployed: the queues' depths from SQS (visible and in flight). Lambda shows no running invocations to
  a reader, so "idle" there means every source queue is empty.

Then every store whose backfill was killed with the Mailchimp store's `is_syncing` still on gets it reset,
and the reset is said (`reset: store S: is_syncing left on by backfill run R ... was reset`). Every store's
canonical import is looked at too (docs/canonical-events.md#history): one whose timeout passed is closed and
said (`reset: store S: import I timed out ...`), and each one still open is shown with when it will time out.

Idle = every source queue empty (dead-letter queues may hold messages) and nothing running; `--wait-idle`
waits until that has held for half a second, so a record passing from one queue to the next is not missed.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

import boto3
import requests
from botocore.exceptions import BotoCoreError, ClientError
from commerce_sync.aws.settings import Settings
from commerce_sync.processing.services import Services
from commerce_sync.processing.store_imports import StoreImports, describe

from operator_cli.dead_letters import FUNCTIONS
from operator_cli.history import release_left_flags
from operator_cli.mailchimp_accounts import account_statuses

QUIET_SECONDS = 0.5
POLL_SECONDS = 0.1


def _deployed_status() -> dict[str, Any]:
    sqs = boto3.client("sqs")
    queues: dict[str, dict[str, int]] = {}
    sources: list[str] = []
    for function, variables in sorted(FUNCTIONS.items()):
        for kind, variable in zip(("queue", "dead letters"), variables, strict=True):
            url = os.environ.get(variable)
            if not url:
                continue
            attributes = sqs.get_queue_attributes(
                QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
            )["Attributes"]
            name = f"{function} {kind}"
            queues[name] = {
                "visible": int(attributes["ApproximateNumberOfMessages"]),
                "in_flight": int(attributes["ApproximateNumberOfMessagesNotVisible"]),
            }
            if kind == "queue":
                sources.append(name)
    pending = sum(queues[name]["visible"] + queues[name]["in_flight"] for name in sources)
    return {"idle": pending == 0, "queues": queues, "invocations": None}


def current() -> dict[str, Any]:
    runner = os.environ.get("LOCAL_RUNNER_URL")
    if runner:
        answer = requests.get(f"{runner.rstrip('/')}/_local/status", timeout=(3.05, 30))
        answer.raise_for_status()
        return dict(answer.json())
    return _deployed_status()


def with_accounts(status: dict[str, Any]) -> dict[str, Any]:
    """Adds each Mailchimp account's health (docs/mailchimp-accounts.md); None when the tables cannot be read."""
    try:
        accounts = [account.to_json() for account in account_statuses(Settings.from_environment())]
    except (BotoCoreError, ClientError):
        accounts = None
    return {**status, "mailchimp_accounts": accounts}


def with_flags_reset(status: dict[str, Any]) -> dict[str, Any]:
    """Resets an is_syncing flag a killed backfill left on (docs/history.md): while it stays on, Mailchimp
    fires none of the store's automations. None when the tables cannot be read."""
    try:
        reset: list[str] | None = release_left_flags(Settings.from_environment())
    except (BotoCoreError, ClientError):
        reset = None
    return {**status, "flags_reset": reset}


def with_imports(status: dict[str, Any]) -> dict[str, Any]:
    """Closes the canonical imports whose timeout passed and lists those still open; None when the tables
    cannot be read."""
    try:
        sweep = StoreImports(Services(Settings.from_environment())).settle_all()
    except (BotoCoreError, ClientError):
        return {**status, "imports": None}
    return {
        **status,
        "flags_reset": [*(status.get("flags_reset") or []), *sweep.closed],
        "imports": [{**held.to_json(), "description": describe(held)} for held in sweep.open],
    }


def show(status: dict[str, Any]) -> None:
    print("idle" if status["idle"] else "busy")
    for name, depth in sorted(status["queues"].items()):
        print(f"  {name:<44} {depth['visible']:>6} waiting {depth['in_flight']:>6} in flight")
    if status["invocations"] is not None:
        running = {name: count for name, count in status["invocations"].items() if count}
        print("  running: " + (", ".join(f"{name} {count}" for name, count in running.items()) or "nothing"))
    accounts = status.get("mailchimp_accounts")
    if accounts:
        print("Mailchimp accounts")
    for account in accounts or []:
        stores = ", ".join(account["stores"])
        if account["status"] == "paused":
            print(
                f"  {account['account']:<24} PAUSED since {account['since']} ({account['reason']}): "
                f"{account['parked_events']} event(s) parked; stores {stores}. Reconnect: commerce-sync "
                f"connect-mailchimp STORE, or commerce-sync stores set-mailchimp-key STORE"
            )
        else:
            print(
                f"  {account['account']:<24} ok, {account['connections_in_use']} connection(s) in use; stores {stores}"
            )
    imports = status.get("imports")
    if imports:
        print("Canonical imports")
    for held in imports or []:
        print(f"  {held['description']}")
    for message in status.get("flags_reset") or []:
        print(f"reset: {message}")


def run(wait_idle: bool, timeout: float, as_json: bool) -> int:
    try:
        status = current()
        if wait_idle:
            deadline = time.monotonic() + timeout
            quiet_since: float | None = None
            while True:
                if status["idle"]:
                    quiet_since = quiet_since or time.monotonic()
                    if time.monotonic() - quiet_since >= QUIET_SECONDS:
                        break
                else:
                    quiet_since = None
                if time.monotonic() >= deadline:
                    print(json.dumps(status) if as_json else f"still busy after {timeout:g} s")
                    if not as_json:
                        show(status)
                    return 1
                time.sleep(POLL_SECONDS)
                status = current()
    except requests.RequestException as error:
        print(f"commerce-sync status: the local runner at {os.environ.get('LOCAL_RUNNER_URL')} did not answer: {error}")
        return 1
    status = with_imports(with_flags_reset(with_accounts(status)))
    if as_json:
        print(json.dumps(status))
    else:
        show(status)
    return 0
