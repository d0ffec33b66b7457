"""`commerce-sync status [STORE]`: one store at a glance (docs/operator.md#status). Reads only; what it reads:

- the store's activity (commerce_sync.aws.store_activity): deliveries accepted, ignored and refused and events'
  outcomes in the last 24 h, and when each topic last arrived;
- its dead letters (the first LETTERS_READ of each function's dead-letter queue, read once for every store): how
  many, by error type, with the newest reason;
- its last catalog sync, backfill and reconciliation (with the webhook check that run made), and whether one runs;
- its canonical import, if one is open;
- the Mailchimp store (exists, audience, `is_syncing`, counts: five reads, as `stores show`), unless skipped;
- its Mailchimp account's health, and its secrets' rotation state (as `rotation-status`).

Each finding that asks for a person is an `attention` item: a short reason and what to do. A quiet store (no
delivery in 24 h) is shown, not flagged: many stores have quiet days.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError
from commerce_sync.aws.settings import Settings
from commerce_sync.aws.store_activity import StoreActivity
from commerce_sync.aws.store_imports import ImportBook
from commerce_sync.aws.store_registry import Store, StoreRegistry
from commerce_sync.aws.sync_lock import SyncLock
from commerce_sync.canonical.redaction import redact_emails
from commerce_sync.history.reconcile_state import LOCK as RECONCILE_LOCK
from commerce_sync.history.reconcile_state import ReconcileRecords
from commerce_sync.history.state import LOCK as BACKFILL_LOCK
from commerce_sync.history.state import HistoryState
from commerce_sync.history.state import partition as history_partition
from commerce_sync.processing.services import Services
from commerce_sync.rotation.key_rotation import KIND_MAILCHIMP, KIND_STORE

from operator_cli.audience_webhooks import status_view as audience_webhook_status
from operator_cli.catalog import catalog_state, status_of
from operator_cli.dead_letters import FUNCTIONS, DeadLetter, DeadLetterError, peek, queue_urls
from operator_cli.history import failed_in_summary
from operator_cli.rotation import secret_status, secretsmanager
from operator_cli.store_admin import mailchimp_view

ACTIVITY_HOURS = 24
# How many letters of each dead-letter queue one look reads: enough to see what fails, bounded for a queue that
# filled up (each read is a receive and a release of ten; the queue's own depth is in the global part).
LETTERS_READ = 100
REASON_LENGTH = 200
# A catalog run or backfill marked running whose checkpoint has not moved for this long, with nobody holding its
# lock, was killed (a run that continues through the queue saves its checkpoint every few seconds).
STALE_RUN_SECONDS = 15 * 60
# A scheduled rotation this late has not happened (Secrets Manager starts it within its window of a few hours).
ROTATION_OVERDUE_SECONDS = 24 * 3600


class UnknownStoreError(Exception):
    """STORE names no registered store (exit code 2)."""


@dataclass
class StoreStatus:
    store_id: str
    platform: str
    active: bool
    activity: dict[str, Any] | None
    dead_letters: dict[str, Any] | None
    catalog: dict[str, Any]
    backfill: dict[str, Any]
    reconciliation: dict[str, Any]
    canonical_import: dict[str, Any] | None
    # None: not asked (--skip-mailchimp).
    mailchimp: dict[str, Any] | None
    mailchimp_account: dict[str, Any] | None
    secrets: list[dict[str, Any]]
    attention: list[str] = field(default_factory=list)
    # Two-way consent's audience webhook in Mailchimp (docs/consent.md); None: not asked (--skip-mailchimp).
    audience_webhook: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


# ---- the readers -------------------------------------------------------------------------------------------


def stores_to_report(settings: Settings, store_id: str | None) -> list[Store]:
    registry = StoreRegistry(settings.stores_table)
    if store_id is None:
        return registry.list()
    store = registry.get(store_id)
    if store is None:
        raise UnknownStoreError(
            f"store {store_id} is not registered (`commerce-sync stores list` shows the stores; leave STORE out "
            "for every store)"
        )
    return [store]


@dataclass
class LettersRead:
    by_store: dict[str, list[DeadLetter]]
    # A queue held more than LETTERS_READ letters: a store's count is then a lower bound.
    partial: bool


def dead_letters_by_store() -> LettersRead | None:
    """Every function's dead letters (up to LETTERS_READ each), by store id; None when no queue is configured."""
    letters: dict[str, list[DeadLetter]] = {}
    read_any = partial = False
    for function in sorted(FUNCTIONS):
        try:
            queue_urls(function)
        except DeadLetterError:
            continue
        try:
            found = peek(function, limit=LETTERS_READ)
        except (ClientError, BotoCoreError):
            # One queue that cannot be read (its depth still shows in the global part) hides no other's letters.
            continue
        read_any = True
        partial = partial or len(found) >= LETTERS_READ
        for letter in found:
            letters.setdefault(letter.store_id or "", []).append(letter)
    return LettersRead(letters, partial) if read_any else None


def dead_letter_report(letters: Sequence[DeadLetter], partial: bool = False) -> dict[str, Any]:
    """How many, and per error type how many with the newest one's time and reason (addresses removed)."""
    by_error: dict[str, list[DeadLetter]] = {}
    for letter in letters:
        by_error.setdefault(letter.error_type, []).append(letter)
    oldest = datetime.min.replace(tzinfo=UTC)
    classes: list[dict[str, Any]] = []
    for error_type, group in by_error.items():
        newest = max(group, key=lambda letter: letter.failed_at or oldest)
        classes.append(
            {
                "error_type": error_type,
                "count": len(group),
                "newest_failed_at": newest.failed_at.isoformat() if newest.failed_at else None,
                "newest_reason": redact_emails(newest.error_message)[:REASON_LENGTH] or None,
                "newest_subject": newest.subject or None,
            }
        )
    classes.sort(key=lambda entry: (-int(entry["count"]), str(entry["error_type"])))
    return {"total": len(letters), "by_error": classes, "partial": partial}


def _lock_held(table: Any, partition: str, sort_key: str) -> bool:
    holder = SyncLock(table, partition, sort_key).holder()
    return holder is not None and not holder.expired


def catalog_report(settings: Settings, store: Store, now: float) -> dict[str, Any]:
    """The last run's summary and what is happening now: idle, running, failed (the last slice raised and nothing
    carries the run on) or interrupted (killed: its checkpoint stopped moving, nobody holds its lock)."""
    state = catalog_state(settings)
    status = status_of(state, store)
    checkpoint = state.load_run(store.store_id)
    current, error = "idle", None
    if status["lock"]:
        current = "running"
    elif checkpoint is not None and checkpoint.status == "running":
        if checkpoint.last_error:
            current, error = "failed", redact_emails(checkpoint.last_error)[:REASON_LENGTH]
        elif now - checkpoint.updated_at > STALE_RUN_SECONDS:
            current = "interrupted"
        else:
            # Between two slices of a run that continues through the queue.
            current = "running"
    return {
        "state": current,
        "error": error,
        "phase": checkpoint.phase if checkpoint is not None and checkpoint.status == "running" else None,
        "last_run": status["last_run"],
        "batches_in_flight": status["batches_in_flight"],
    }


def backfill_report(state: HistoryState, store: Store) -> dict[str, Any]:
    checkpoint = state.load(store.store_id)
    running = _lock_held(state.table, history_partition(store.store_id), BACKFILL_LOCK)
    summary = state.last_summary(store.store_id)
    current_state, error = "idle", None
    if running:
        current_state = "running"
    elif checkpoint is not None and checkpoint.status == "failed":
        current_state, error = "failed", checkpoint.last_error
    elif checkpoint is not None and checkpoint.status == "running":
        # flag_reset: status found the run dead and reset the is_syncing it left (which saved the checkpoint anew).
        if checkpoint.flag_reset or time.time() - checkpoint.updated_at > STALE_RUN_SECONDS:
            current_state = "failed" if checkpoint.last_error else "interrupted"
            error = checkpoint.last_error
        else:
            # Between two slices of a run that continues through the queue (or a failed slice being retried).
            current_state = "running"
    return {
        "state": current_state,
        "error": redact_emails(error)[:REASON_LENGTH] if error else None,
        "syncing": bool(checkpoint and checkpoint.syncing),
        "last_run": summary,
        "failed_in_last_run": failed_in_summary(summary) if summary else 0,
    }


def reconciliation_report(records: ReconcileRecords, store: Store) -> dict[str, Any]:
    checkpoint = records.load(store.store_id)
    running = _lock_held(records.table, history_partition(store.store_id), RECONCILE_LOCK)
    summary = records.last_summary(store.store_id)
    current_state, error = "idle", None
    if running:
        current_state = "running"
    elif checkpoint is not None and checkpoint.status == "running" and checkpoint.failing:
        current_state, error = "failed", checkpoint.last_error
    webhooks = (summary or {}).get("webhooks")
    return {
        "state": current_state,
        "error": redact_emails(error)[:REASON_LENGTH] if error else None,
        "last_run": {key: value for key, value in summary.items() if key != "webhooks"} if summary else None,
        "webhooks": webhooks,
    }


def webhook_problems(webhooks: dict[str, Any] | None) -> int:
    """Topics the last reconciliation left without a working subscription: missing and not made again (a failed
    re-creation is one of those, so it is not counted twice), or whose reactivation failed."""
    if not webhooks or not webhooks.get("checked"):
        return 0
    counts = webhooks.get("counts") or {}
    missing = int(webhooks.get("missing") or 0) - int(counts.get("recreated") or 0)
    return max(missing, 0) + int(counts.get("reactivation_failed") or 0)


def secrets_report(settings: Settings, store: Store, client: Any) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    wanted: list[tuple[str, str, str | None]] = [(store.secret_id, KIND_STORE, store.store_id)]
    mailchimp_secret = store.mailchimp_secret_id or settings.mailchimp_secret_arn
    if mailchimp_secret:
        wanted.append((mailchimp_secret, KIND_MAILCHIMP, None))
    for secret_id, kind, store_id in wanted:
        try:
            rows.append(asdict(secret_status(client, secret_id, kind, settings, store_id)))
        except (ClientError, BotoCoreError) as error:
            code = error.response.get("Error", {}).get("Code") if isinstance(error, ClientError) else None
            rows.append({"secret": secret_id, "kind": kind, "error": str(code or type(error).__name__)})
    return rows


def account_of(store: Store, accounts: Iterable[dict[str, Any]] | None) -> dict[str, Any] | None:
    for account in accounts or []:
        if account.get("account") == store.mailchimp_account:
            return {key: account[key] for key in ("account", "status", "reason", "since", "parked_events")}
    return None


def store_status(
    settings: Settings,
    store: Store,
    letters: LettersRead | None,
    accounts: list[dict[str, Any]] | None,
    skip_mailchimp: bool,
    secrets_client: Any | None = None,
) -> StoreStatus:
    now = time.time()
    table = boto3.resource("dynamodb").Table(settings.sync_state_table)
    try:
        activity: dict[str, Any] | None = StoreActivity(table).summary(store.store_id, ACTIVITY_HOURS).to_json()
    except (ClientError, BotoCoreError):
        activity = None
    held = ImportBook(table).current(store.store_id)
    open_import = held.to_json() if held is not None and held.live and not held.expired() else None
    mailchimp = None if skip_mailchimp else mailchimp_view(settings, store).to_json()
    report = StoreStatus(
        store_id=store.store_id,
        platform=store.platform,
        active=store.active,
        activity=activity,
        dead_letters=dead_letter_report(letters.by_store.get(store.store_id, []), letters.partial)
        if letters is not None
        else None,
        catalog=catalog_report(settings, store, now),
        backfill=backfill_report(HistoryState(table), store),
        reconciliation=reconciliation_report(ReconcileRecords(table), store),
        canonical_import=open_import,
        mailchimp=mailchimp,
        mailchimp_account=account_of(store, accounts),
        secrets=secrets_report(settings, store, secrets_client or secretsmanager()),
    )
    if not skip_mailchimp:
        report.audience_webhook = audience_webhook_status(Services(settings), store)
    report.attention = attention(report, store, now)
    return report


# ---- what needs a person -----------------------------------------------------------------------------------


def attention(report: StoreStatus, store: Store, now: float) -> list[str]:
    """Short reasons, each with what to do (docs/operator.md#status says more)."""
    store_id = report.store_id
    reasons: list[str] = []
    refused = int((report.activity or {}).get("deliveries", {}).get("refused", 0))
    if refused:
        reasons.append(
            f"{refused} delivery(ies) refused in the last {ACTIVITY_HOURS} h (signature, body or import state): "
            f"check the sender's webhook secret (`commerce-sync rotation-status`) and the webhooks function's log"
        )
    letters = (report.dead_letters or {}).get("total", 0)
    if letters:
        reasons.append(
            f"{letters} dead letter(s): see why with `commerce-sync dead-letters FUNCTION --store {store_id}`, fix "
            "the cause, then add --replay"
        )
    catalog = report.catalog
    if catalog["state"] == "failed":
        reasons.append(
            f"the last catalog sync failed ({catalog['error']}): fix the cause, then `commerce-sync sync-catalog "
            f"{store_id}` resumes it"
        )
    elif catalog["state"] == "interrupted":
        reasons.append(
            f"the last catalog sync was interrupted in {catalog['phase']}: `commerce-sync sync-catalog {store_id}` "
            "resumes it"
        )
    if int((catalog["last_run"] or {}).get("failed") or 0):
        reasons.append(
            f"{catalog['last_run']['failed']} product(s) failed in the last catalog sync: see `commerce-sync "
            f"dead-letters product_sync --store {store_id}`"
        )
    backfill = report.backfill
    if backfill["state"] in ("failed", "interrupted"):
        reasons.append(
            f"the last backfill {'failed' if backfill['state'] == 'failed' else 'was interrupted'}"
            + (f" ({backfill['error']})" if backfill["error"] else "")
            + f": `commerce-sync backfill {store_id}` resumes it"
        )
    elif backfill["failed_in_last_run"]:
        reasons.append(
            f"{backfill['failed_in_last_run']} resource(s) failed in the last backfill: see the dead letters "
            f"(`commerce-sync dead-letters FUNCTION --store {store_id}`)"
        )
    reconciliation = report.reconciliation
    if reconciliation["state"] == "failed":
        reasons.append(
            f"the last reconciliation failed ({reconciliation['error']}): `commerce-sync reconcile --store "
            f"{store_id}` resumes it"
        )
    elif int((reconciliation["last_run"] or {}).get("failed") or 0):
        reasons.append(
            f"{reconciliation['last_run']['failed']} repair(s) failed in the last reconciliation: `commerce-sync "
            f"reconcile --store {store_id}` tries again"
        )
    problems = webhook_problems(reconciliation["webhooks"])
    if problems:
        reasons.append(
            f"{problems} webhook topic(s) without a working subscription at the last reconciliation: see "
            f"`commerce-sync reconcile --store {store_id}`"
            + (f" or `commerce-sync webhooks {store_id} --create`" if store.platform == "shopify" else "")
        )
    reasons += _mailchimp_attention(report, store)
    hook = report.audience_webhook or {}
    if hook.get("status") == "stale":
        # Registered at a key the receiver takes only for the grace period after a rotation (docs/consent.md).
        reasons.append(
            f"its Mailchimp audience webhook is registered at an old key, refused once the rotation's grace period "
            f"ends: `commerce-sync audience-webhook {store.store_id} --create` registers it at the current one"
        )
    for secret in report.secrets:
        reasons += _secret_attention(secret, now)
    return reasons


def _mailchimp_attention(report: StoreStatus, store: Store) -> list[str]:
    reasons: list[str] = []
    account = report.mailchimp_account
    if account and account["status"] == "paused":
        reasons.append(
            f"its Mailchimp account {account['account']} is paused since {account['since']} ({account['reason']}): "
            f"reconnect with `commerce-sync connect-mailchimp {store.store_id}` or `commerce-sync stores "
            f"set-mailchimp-key {store.store_id}`"
        )
    mailchimp = report.mailchimp
    if mailchimp is None:
        return reasons
    if mailchimp["present"] is None:
        reasons.append(
            f"Mailchimp could not be read ({mailchimp['error']}): see `commerce-sync stores show {store.store_id}`"
        )
    elif not mailchimp["present"]:
        reasons.append(
            f"Mailchimp has no store {store.store_id}: register it again with `commerce-sync add-store --replace`, "
            "which makes it"
        )
    else:
        if mailchimp["list_id"] != store.list_id:
            reasons.append(
                f"the Mailchimp store is in audience {mailchimp['list_id']}, the registration names {store.list_id}"
            )
        runs = report.backfill["state"] == "running" or report.canonical_import is not None
        if mailchimp["is_syncing"] and not runs:
            reasons.append(
                "is_syncing is on in Mailchimp while no backfill or import runs, so none of the store's automations "
                f"fire: `commerce-sync backfill {store.store_id}` sets it off when it ends (or set it off in Mailchimp)"
            )
    return reasons


def _secret_attention(secret: dict[str, Any], now: float) -> list[str]:
    name = secret["secret"]
    if secret.get("error"):
        return [f"secret {name} could not be read ({secret['error']})"]
    if secret["rotation"] != "idle":
        return [
            f"the rotation of secret {name} is {secret['rotation']}: see `commerce-sync rotation-status`; "
            "`commerce-sync rotate ... --restart` starts it again"
        ]
    due = secret.get("next_rotation")
    if secret["rotation_enabled"] and due:
        moment = datetime.fromisoformat(str(due).replace("Z", "+00:00"))
        if now - moment.timestamp() > ROTATION_OVERDUE_SECONDS:
            return [f"the rotation of secret {name} is overdue (due {due}): see `commerce-sync rotation-status`"]
    return []


# ---- for people --------------------------------------------------------------------------------------------


def _when(epoch: Any) -> str:
    if not epoch:
        return "never"
    return datetime.fromtimestamp(float(epoch), UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{count} {name}" for name, count in counts.items()) or "none"


def _run_line(state: str, error: str | None, last: str) -> str:
    now = state if not error else f"{state} ({error})"
    return f"{last}; now {now}"


def describe(report: dict[str, Any]) -> list[str]:
    """The store's block: a heading, then one aligned line per part, then what needs attention."""
    store_id = report["store_id"]
    verdict = "needs attention" if report["attention"] else "ok"
    state = "active" if report["active"] else "disabled"
    rows: list[tuple[str, str]] = []
    activity = report["activity"]
    if activity is None:
        rows.append(("deliveries", "could not be read"))
    else:
        rows.append((f"deliveries {activity['hours']} h", _counts(activity["deliveries"])))
        rows.append((f"outcomes {activity['hours']} h", _counts(activity["outcomes"])))
        seen = activity["last_seen"]
        rows.append(("last seen", "; ".join(f"{topic} {at}" for topic, at in seen.items()) or "no delivery kept"))
    letters = report["dead_letters"]
    if letters is None:
        rows.append(("dead letters", "not read (no dead-letter queue is configured)"))
    else:
        total = f"{letters['total']}" + (
            f" at least (the first {LETTERS_READ} of each queue read)" if letters["partial"] else ""
        )
        shown = [total] + [
            f"{entry['error_type']} {entry['count']} (newest {entry['newest_failed_at'] or '-'}: "
            f"{entry['newest_reason'] or '-'})"
            for entry in letters["by_error"]
        ]
        rows.append(("dead letters", "; ".join(shown)))
    catalog = report["catalog"]
    last = catalog["last_run"]
    last_catalog = (
        f"last run {_when(last.get('finished_at'))}: {last.get('seen', 0)} seen, {last.get('created', 0)} new, "
        f"{last.get('updated', 0)} updated, {last.get('failed', 0)} failed"
        if last
        else "no run finished"
    )
    rows.append(("catalog sync", _run_line(catalog["state"], catalog["error"], last_catalog)))
    backfill = report["backfill"]
    last = backfill["last_run"]
    last_backfill = (
        f"last run {_when(last.get('finished_at'))}: {backfill['failed_in_last_run']} failed" if last else "no run"
    )
    rows.append(("backfill", _run_line(backfill["state"], backfill["error"], last_backfill)))
    reconciliation = report["reconciliation"]
    last = reconciliation["last_run"]
    last_reconciliation = (
        f"last run {_when(last.get('finished_at'))}: {last.get('repairs', 0)} repaired, {last.get('failed', 0)} failed"
        if last
        else "no run"
    )
    rows.append(("reconciliation", _run_line(reconciliation["state"], reconciliation["error"], last_reconciliation)))
    webhooks = reconciliation["webhooks"]
    if webhooks and webhooks.get("checked"):
        counts = webhooks.get("counts") or {}
        rows.append(
            (
                "webhooks",
                f"{counts.get('topics', 0)} topics at the last reconciliation, {webhook_problems(webhooks)} without "
                "a working subscription",
            )
        )
    else:
        rows.append(("webhooks", "not checked yet" if not webhooks else f"not checked: {webhooks.get('reason', '')}"))
    held = report["canonical_import"]
    rows.append(("canonical import", "one open (see Canonical imports above)" if held else "none open"))
    mailchimp = report["mailchimp"]
    if mailchimp is None:
        rows.append(("mailchimp", "not asked (--skip-mailchimp)"))
    elif mailchimp["present"] is None:
        rows.append(("mailchimp", f"could not be read: {mailchimp['error']}"))
    elif not mailchimp["present"]:
        rows.append(("mailchimp", "no such store"))
    else:
        syncing = "on" if mailchimp["is_syncing"] else "off"
        rows.append(
            (
                "mailchimp",
                f"audience {mailchimp['list_id']}, is_syncing {syncing}; {_counts(mailchimp['counts'])}",
            )
        )
    hook = report.get("audience_webhook")
    if hook is not None:
        hook_line = f"{hook['status']}  {hook.get('address') or ''}".rstrip()
        rows.append(("audience webhook", f"{hook_line} ({hook['error']})" if hook.get("error") else hook_line))
    account = report["mailchimp_account"]
    rows.append(("mailchimp account", f"{account['account']} {account['status']}" if account else "unknown"))
    for secret in report["secrets"]:
        if secret.get("error"):
            rows.append((f"secret ({secret['kind']})", f"{secret['secret']}: could not be read"))
            continue
        rotated = secret["last_rotated"] or "never"
        rows.append(
            (f"secret ({secret['kind']})", f"{secret['secret']}: rotation {secret['rotation']}, last {rotated}")
        )
    width = max(len(label) for label, _ in rows) + 1
    lines = [f"Store {store_id} ({report['platform']}, {state}): {verdict}"]
    lines += [f"  {label + ':':<{width}} {value}" for label, value in rows]
    lines += [f"  attention: {reason}" for reason in report["attention"]]
    return lines
