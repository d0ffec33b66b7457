"""`commerce-sync status`: what is waiting and what runs now, and `--wait-idle` to return once all is done.

- Against the local runner (LOCAL_RUNNER_URL, which `--env-file .local/runner.env` sets): the runner's own
  `GET /_local/status`, which sees its queues and every invocation running (the HTTP receiver's too).
- Deployed: the queues' depths from SQS (visible, in flight, and delayed: a chained job's continuation sent
  with a delay, which neither of the others counts yet). Lambda shows no running invocations to
  a reader, so "idle" there means every source queue is empty.

Then every store whose backfill was killed with the Mailchimp store's `is_syncing` still on gets it reset,
and the reset is said (`reset: store S: is_syncing left on by backfill run R ... was reset`). Every store's
canonical import is looked at too (docs/canonical-events.md#history): one whose timeout passed is closed and
said (`reset: store S: import I timed out ...`), and each one still open is shown with when it will time out.

Idle = every source queue empty (dead-letter queues may hold messages) and nothing running; `--wait-idle`
waits until that has held for half a second, so a record passing from one queue to the next is not missed.

Then a section per registered store, or only STORE's (operator_cli.store_status): its deliveries, dead letters,
runs, Mailchimp store, account and secrets, with what needs attention. The exit code: 1 when something needs
attention (a store's item; without STORE also a dead-letter queue that holds letters or a paused account), else 0.
`--wait-idle` keeps its own: 0 once idle, 1 when still busy at the timeout, whatever needs attention.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
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
from operator_cli.store_status import (
    UnknownStoreError,
    dead_letters_by_store,
    store_status,
    stores_to_report,
)
from operator_cli.store_status import describe as describe_store
from operator_cli.terminal import columns, print_table

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
                QueueUrl=url,
                AttributeNames=[
                    "ApproximateNumberOfMessages",
                    "ApproximateNumberOfMessagesNotVisible",
                    "ApproximateNumberOfMessagesDelayed",
                ],
            )["Attributes"]
            name = f"{function} {kind}"
            queues[name] = {
                "visible": int(attributes["ApproximateNumberOfMessages"]),
                "in_flight": int(attributes["ApproximateNumberOfMessagesNotVisible"]),
                "delayed": int(attributes.get("ApproximateNumberOfMessagesDelayed", 0)),
            }
            if kind == "queue":
                sources.append(name)
    pending = sum(queues[name]["visible"] + queues[name]["in_flight"] + queues[name]["delayed"] for name in sources)
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


def global_attention(status: dict[str, Any]) -> list[str]:
    """What needs attention beyond any one store: letters in a dead-letter queue, a paused Mailchimp account."""
    reasons = [
        f"{name} holds {depth['visible'] + depth['in_flight']} letter(s): `commerce-sync dead-letters "
        f"{_function_of(name)}` shows why they failed"
        for name, depth in sorted(status["queues"].items())
        if _is_dead_letter_queue(name) and depth["visible"] + depth["in_flight"]
    ]
    for account in status.get("mailchimp_accounts") or []:
        if account["status"] == "paused":
            reasons.append(f"Mailchimp account {account['account']} is paused (see Mailchimp accounts above)")
    return reasons


def _is_dead_letter_queue(name: str) -> bool:
    # The local runner names queues by their logical ids (CartEventsDeadLetterQueue), a deployed stack's reader
    # by function ("cart_events dead letters").
    return "deadletter" in name.replace(" ", "").casefold()


def _function_of(queue: str) -> str:
    """The dead-letters command's FUNCTION for a queue's name (FUNCTION itself for a queue it does not read)."""
    for function in FUNCTIONS:
        if queue.startswith((f"{function} ", "".join(word.title() for word in function.split("_")))):
            return function
    return "FUNCTION"


def with_stores(status: dict[str, Any], store_id: str | None, skip_mailchimp: bool) -> dict[str, Any]:
    """Adds each store's section (only STORE's when given); None when the tables cannot be read."""
    settings = Settings.from_environment()
    # The Mailchimp client counts its requests as metrics, which Powertools prints to stdout once a hundred are
    # held: they would end up inside --json's output.
    with contextlib.redirect_stdout(io.StringIO()):
        try:
            stores = stores_to_report(settings, store_id)
            letters = dead_letters_by_store()
            reports: list[dict[str, Any]] | None = [
                store_status(settings, store, letters, status.get("mailchimp_accounts"), skip_mailchimp).to_json()
                for store in stores
            ]
        except (BotoCoreError, ClientError):
            reports = None
    return {**status, "stores": reports, "attention": global_attention(status)}


def show(status: dict[str, Any]) -> None:
    print("idle" if status["idle"] else "busy")
    queues = [
        (name, str(depth["visible"]), str(depth["in_flight"]), str(depth.get("delayed") or 0))
        for name, depth in sorted(status["queues"].items())
    ]
    if queues:
        print_table(
            columns(queues, "QUEUE", "WAITING", "IN FLIGHT", "DELAYED", numbers=("WAITING", "IN FLIGHT", "DELAYED"))
        )
    if status["invocations"] is not None:
        running = {name: count for name, count in status["invocations"].items() if count}
        print("  running: " + (", ".join(f"{name} {count}" for name, count in running.items()) or "nothing"))
    accounts = status.get("mailchimp_accounts")
    if accounts:
        print("Mailchimp accounts")
        rows = []
        for account in accounts:
            if account["status"] == "paused":
                state = f"PAUSED since {account['since']}"
                detail = (
                    f"{account['reason']}; {account['parked_events']} event(s) parked. Reconnect: commerce-sync "
                    "connect-mailchimp STORE, or commerce-sync stores set-mailchimp-key STORE"
                )
            else:
                state, detail = "ok", f"{account['connections_in_use']} connection(s) in use"
            rows.append((account["account"], state, ", ".join(account["stores"]), detail))
        print_table(columns(rows, "ACCOUNT", "STATE", "STORES", "DETAIL"))
    imports = status.get("imports")
    if imports:
        print("Canonical imports")
    for held in imports or []:
        print(f"  {held['description']}")
    for message in status.get("flags_reset") or []:
        print(f"reset: {message}")


def show_stores(status: dict[str, Any]) -> None:
    if status.get("stores") is None:
        print("Stores: could not be read")
    for report in status.get("stores") or []:
        for line in describe_store(report):
            print(line)
    for reason in status.get("attention") or []:
        print(f"attention: {reason}")


def needs_attention(status: dict[str, Any], store_id: str | None) -> bool:
    """A store's item; without STORE also the global part's (the dead-letter queues hold every store's letters)."""
    if any(report["attention"] for report in status.get("stores") or []):
        return True
    return store_id is None and bool(status.get("attention") or status.get("stores") is None)


def run(
    wait_idle: bool, timeout: float, as_json: bool, store_id: str | None = None, skip_mailchimp: bool = False
) -> int:
    if store_id is not None:
        try:
            stores_to_report(Settings.from_environment(), store_id)
        except UnknownStoreError as error:
            print(f"commerce-sync status: error: {error}", file=sys.stderr)
            return 2
        except (BotoCoreError, ClientError) as error:
            print(f"commerce-sync status: the stores table could not be read: {error}", file=sys.stderr)
            return 1
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
        print(
            f"commerce-sync status: error: the local runner at {os.environ.get('LOCAL_RUNNER_URL')} did not answer "
            f"({type(error).__name__}): is it running? (`.venv/bin/commerce-sync-local --port 3000` starts it and "
            "writes .local/runner.env; a runner started since needs the new file)",
            file=sys.stderr,
        )
        return 1
    status = with_stores(with_imports(with_flags_reset(with_accounts(status))), store_id, skip_mailchimp)
    if as_json:
        print(json.dumps(status))
    else:
        show(status)
        show_stores(status)
    if wait_idle:
        return 0
    return 1 if needs_attention(status, store_id) else 0
