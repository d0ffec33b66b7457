"""Dead letters: showing them with their reasons, and replaying them. A replayed record goes back to the queue
it came from, without the error attributes, and leaves the dead-letter queue only once it is safely re-queued.

Both can be narrowed (`LetterFilter`): to one store (the store id in the body: a bus message's
`detail.store_id`, a request's `store_id`, a history write's `event.store_id`), to letters that failed since a
time (the `failed_at` attribute the functions write; SQS's SentTimestamp for a record SQS redrove itself), or to
one error type. A replay moves only the letters that match; the others stay in the queue as they were.

Reading a queue hides each received message for a while; the letters a look or a replay leaves behind are
made visible again as soon as the scan ends (ChangeMessageVisibility 0), so an alarm or the next replay sees
them at once.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
from commerce_sync.canonical.redaction import redact_emails
from rich.table import Table

from operator_cli.help_texts import example_options
from operator_cli.terminal import ProgressBars, columns, print_table

# The processing functions whose queues have dead-letter queues, and the variables naming them
# (the local runner's env file and a stack's outputs both provide these).
FUNCTIONS = {
    "cart_events": ("CART_EVENTS_QUEUE_URL", "CART_EVENTS_DEAD_LETTER_QUEUE_URL"),
    "order_status": ("ORDER_STATUS_QUEUE_URL", "ORDER_STATUS_DEAD_LETTER_QUEUE_URL"),
    "product_sync": ("PRODUCT_SYNC_QUEUE_URL", "PRODUCT_SYNC_DEAD_LETTER_QUEUE_URL"),
}
# What a letter SQS moved itself (its function could not even run) shows instead of an error type.
REDRIVEN_BY_SQS = "redriven by SQS"
# How long a scan keeps the letters it has read hidden: long enough that the next receive moves on to the
# others instead of returning the same ten, and short enough that a scan killed outright (no chance to show
# them again) delays nothing for long.
SCAN_HOLD_SECONDS = 60
# A short poll samples some of SQS's servers and may answer nothing while letters wait; a long poll asks them all
# but waits this long on an empty queue. So the scan polls short, and long only once, when the queue's count says
# letters are still visible.
SCAN_WAIT_SECONDS = 1
# The entity ids a product_sync request names (sync_product, sync_promotion, segment_tags: a hashed customer id).
ENTITY_KEYS = ("product_id", "rule_id", "code_id", "customer_id")
_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$", re.IGNORECASE)
_DURATION_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


class DeadLetterError(Exception):
    """What the operator must give or set differently (exit code 2); says how."""


@dataclass(frozen=True)
class DeadLetter:
    message_id: str
    error_type: str
    error_message: str
    body: str
    store_id: str | None = None
    failed_at: datetime | None = None
    permanent: bool | None = None
    receive_count: int | None = None
    source: str = ""
    # What the record is about, e.g. "order.updated order 4501" or "sync_product product 42" (no address).
    subject: str = ""
    receipt_handle: str = field(default="", repr=False)

    def summary(self) -> dict[str, Any]:
        """The letter for --json: everything but the body, which may hold a shopper's address."""
        return {
            "message_id": self.message_id,
            "store_id": self.store_id,
            "subject": self.subject,
            "error_type": self.error_type,
            "error_message": self.error_message,
            "permanent": self.permanent,
            "receive_count": self.receive_count,
            "failed_at": self.failed_at.isoformat() if self.failed_at else None,
            "source": self.source,
        }


@dataclass(frozen=True)
class LetterFilter:
    store_id: str | None = None
    since: datetime | None = None
    error_type: str | None = None

    def matches(self, letter: DeadLetter) -> bool:
        if self.store_id is not None and letter.store_id != self.store_id:
            return False
        if self.since is not None and (letter.failed_at is None or letter.failed_at < self.since):
            return False
        return self.error_type is None or self.error_type.casefold() == letter.error_type.casefold()

    @property
    def narrows(self) -> bool:
        return any(value is not None for value in (self.store_id, self.since, self.error_type))


@dataclass
class Replay:
    """What a replay (or a dry run) found: every letter that matched, those of them it sent back (or, in a dry
    run, would send: at most the limit), and how many letters did not match and were left as they were."""

    matched: list[DeadLetter]
    chosen: list[DeadLetter]
    others: int
    sent: int


def parse_since(value: str, now: datetime | None = None) -> datetime:
    """A date (2025-01-31, midnight UTC), a date and time (2025-01-31T08:00, UTC unless it has an offset), or a
    duration back from now (45s, 30m, 2h, 3d, 1w)."""
    now = now or datetime.now(UTC)
    duration = _DURATION.match(value)
    if duration:
        amount, unit = int(duration.group(1)), duration.group(2).lower()
        return now - timedelta(**{_DURATION_UNITS[unit]: amount})
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise DeadLetterError(
            f"--since {value!r} is not a date (2025-01-31), a date and time (2025-01-31T08:00, UTC unless an offset "
            "is given) or a duration back from now (30m, 2h, 3d)"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def queue_urls(function: str) -> tuple[str, str]:
    source_variable, dead_letter_variable = FUNCTIONS[function]
    missing = [name for name in (source_variable, dead_letter_variable) if not os.environ.get(name)]
    if missing:
        raise DeadLetterError(
            f"{' and '.join(missing)} not set: give --env-file FILE (the local runner writes .local/runner.env) or "
            "--stack NAME (a deployed stack), before the command"
        )
    return os.environ[source_variable], os.environ[dead_letter_variable]


def store_of(body: Any) -> str | None:
    """The store a record belongs to: a bus message's `detail.store_id` (a claim-check reference carries it
    too), a request's `store_id`, a history write's `event.store_id`."""
    if not isinstance(body, dict):
        return None
    for holder in (body.get("detail"), body, body.get("event")):
        if isinstance(holder, dict) and isinstance(holder.get("store_id"), str):
            return str(holder["store_id"])
    return None


def subject_of(body: Any) -> str:
    """What the record is about, in a few words and without any address."""
    if not isinstance(body, dict):
        return ""
    event = body.get("detail") if isinstance(body.get("detail"), dict) else body.get("event")
    if isinstance(event, dict) and event.get("type"):
        words = [str(event["type"]), str(event.get("entity_id") or "")]
    elif body.get("action"):
        ids = [f"{key.removesuffix('_id')} {body[key]}" for key in ENTITY_KEYS if body.get(key)]
        words = [str(body["action"]), *ids]
    else:
        return ""
    return redact_emails(" ".join(word for word in words if word))[:120]


def _attribute(message: dict[str, Any], name: str) -> str:
    return str(message.get("MessageAttributes", {}).get(name, {}).get("StringValue", ""))


def _failed_at(message: dict[str, Any]) -> datetime | None:
    written = _attribute(message, "failed_at")
    if written:
        try:
            moment = datetime.fromisoformat(written)
            return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        except ValueError:
            pass
    sent = message.get("Attributes", {}).get("SentTimestamp")
    return datetime.fromtimestamp(int(sent) / 1000, tz=UTC) if sent else None


def letter_of(message: dict[str, Any]) -> DeadLetter:
    try:
        body = json.loads(message["Body"])
    except ValueError:
        body = None
    permanent = _attribute(message, "permanent")
    receives = _attribute(message, "receive_count")
    return DeadLetter(
        message_id=message["MessageId"],
        error_type=_attribute(message, "error_type") or REDRIVEN_BY_SQS,
        error_message=_attribute(message, "error_message"),
        body=message["Body"],
        store_id=store_of(body),
        failed_at=_failed_at(message),
        permanent=None if not permanent else permanent == "true",
        receive_count=int(receives) if receives.isdigit() else None,
        source=_attribute(message, "source"),
        subject=subject_of(body),
        receipt_handle=message["ReceiptHandle"],
    )


class _Scan:
    """Reads a dead-letter queue once through: each letter is yielded once, and every letter read and not
    deleted is made visible again when the scan is closed (also when the caller stops early or fails)."""

    def __init__(self, sqs: Any, queue_url: str) -> None:
        self._sqs = sqs
        self._url = queue_url
        self._held: dict[str, str] = {}  # message id -> latest receipt handle

    def __enter__(self) -> _Scan:
        return self

    def __exit__(self, *_: object) -> None:
        self.release()

    def letters(self) -> Iterator[DeadLetter]:
        seen: set[str] = set()
        long_poll = False
        while True:
            answer = self._sqs.receive_message(
                QueueUrl=self._url,
                MaxNumberOfMessages=10,
                MessageAttributeNames=["All"],
                MessageSystemAttributeNames=["SentTimestamp"],
                VisibilityTimeout=SCAN_HOLD_SECONDS,
                WaitTimeSeconds=SCAN_WAIT_SECONDS if long_poll else 0,
            )
            messages = list(answer.get("Messages", []))
            for message in messages:
                self._held[message["MessageId"]] = message["ReceiptHandle"]
            fresh = [message for message in messages if message["MessageId"] not in seen]
            if fresh:
                long_poll = False
                for message in fresh:
                    seen.add(message["MessageId"])
                    yield letter_of(message)
                continue
            if long_poll or not self._visible_left():
                return
            long_poll = True

    def _visible_left(self) -> bool:
        attributes = self._sqs.get_queue_attributes(QueueUrl=self._url, AttributeNames=["ApproximateNumberOfMessages"])
        return int(attributes["Attributes"].get("ApproximateNumberOfMessages", "0")) > 0

    def delete(self, letter: DeadLetter) -> None:
        self._sqs.delete_message(QueueUrl=self._url, ReceiptHandle=self._held.pop(letter.message_id))

    def release(self) -> None:
        held = list(self._held.items())
        self._held.clear()
        for start in range(0, len(held), 10):
            entries = [
                {"Id": str(index), "ReceiptHandle": handle, "VisibilityTimeout": 0}
                for index, (_, handle) in enumerate(held[start : start + 10])
            ]
            # A letter whose hold ran out is visible already; the batch reports it as failed, which is fine.
            self._sqs.change_message_visibility_batch(QueueUrl=self._url, Entries=entries)


def peek(function: str, limit: int = 50, only: LetterFilter | None = None) -> list[DeadLetter]:
    """Up to `limit` dead letters (those `only` matches) with their reasons, left in the queue."""
    _, dead_letter_url = queue_urls(function)
    only = only or LetterFilter()
    found: list[DeadLetter] = []
    with _Scan(boto3.client("sqs"), dead_letter_url) as scan:
        for letter in scan.letters():
            if only.matches(letter):
                found.append(letter)
                if len(found) >= limit:
                    break
    return found


def replay(
    function: str,
    limit: int | None = None,
    progress: Callable[[int], None] | None = None,
    only: LetterFilter | None = None,
    dry_run: bool = False,
) -> Replay:
    """Moves the dead letters `only` matches (the first `limit` of them) back to the function's queue; with
    `dry_run` finds them and moves nothing. The whole queue is read, so the counts cover all of it."""
    source_url, dead_letter_url = queue_urls(function)
    only = only or LetterFilter()
    sqs = boto3.client("sqs")
    outcome = Replay(matched=[], chosen=[], others=0, sent=0)
    with _Scan(sqs, dead_letter_url) as scan:
        for letter in scan.letters():
            if not only.matches(letter):
                outcome.others += 1
                continue
            outcome.matched.append(letter)
            if limit is not None and len(outcome.chosen) >= limit:
                continue
            outcome.chosen.append(letter)
            if not dry_run:
                sqs.send_message(QueueUrl=source_url, MessageBody=letter.body)
                scan.delete(letter)
                outcome.sent += 1
                if progress:
                    progress(outcome.sent)
    return outcome


# ---- the command -------------------------------------------------------------------------------------------


def add_command(commands: Any) -> None:
    letters = commands.add_parser(
        "dead-letters",
        help="show a function's dead letters and why they failed, or --replay them (all, or those of a store, "
        "since a time, of an error type)",
        description="Lists the function's dead letters: when each failed, its store, what it is about and the error "
        "(its error type and message). --replay sends them back to the function's queue; --store, --since and "
        "--error-type narrow both, and a replay moves only the letters that match (the others stay in the queue "
        "as they were). --replay --dry-run lists what would be sent and sends nothing.",
        **example_options(
            "dead-letters order_status",
            "dead-letters order_status --store my-shop --since 2h --replay --dry-run",
            "dead-letters order_status --store my-shop --error-type MailchimpError --replay",
            "dead-letters cart_events --since 2025-01-31 --json",
        ),
    )
    letters.add_argument("function", choices=sorted(FUNCTIONS))
    letters.add_argument("--replay", action="store_true", help="send them back to the function's queue")
    letters.add_argument(
        "--dry-run", action="store_true", help="with --replay: list what would be sent back, and send nothing"
    )
    letters.add_argument("--store", metavar="STORE", help="only the letters of this store (its store id)")
    letters.add_argument(
        "--since",
        metavar="WHEN",
        help="only letters that failed since then: a date (2025-01-31, UTC), a date and time (2025-01-31T08:00, "
        "UTC unless it has an offset), or a duration back from now (30m, 2h, 3d)",
    )
    letters.add_argument(
        "--error-type", metavar="NAME", help="only letters of this error type, as listed (e.g. MailchimpError)"
    )
    letters.add_argument("--limit", type=_positive, metavar="N", help="at most this many (shown, or replayed)")
    letters.add_argument("--json", action="store_true", help="print the letters (never their bodies) as JSON")
    letters.set_defaults(run=run)


def _positive(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number of at least 1")
    return int(value)


def _error(message: str) -> int:
    print(f"commerce-sync dead-letters: error: {message}", file=sys.stderr)
    return 2


def _table(letters: list[DeadLetter], prefix: str = "") -> Table:
    rows = [
        (
            f"{prefix}{letter.message_id}",
            letter.failed_at.strftime("%Y-%m-%d %H:%M:%SZ") if letter.failed_at else "-",
            letter.store_id or "-",
            letter.subject or "-",
            f"{letter.error_type}: {letter.error_message}" if letter.error_message else letter.error_type,
        )
        for letter in letters
    ]
    return columns(rows, "MESSAGE", "FAILED AT", "STORE", "ABOUT", "ERROR")


def _narrowing(only: LetterFilter, arguments: argparse.Namespace) -> str:
    given = [
        f"{option} {value}"
        for option, value in (
            ("--store", only.store_id),
            ("--since", arguments.since),
            ("--error-type", only.error_type),
        )
        if value is not None
    ]
    return f" matching {' '.join(given)}" if given else ""


def run(arguments: argparse.Namespace) -> int:
    function = arguments.function
    if arguments.dry_run and not arguments.replay:
        return _error("--dry-run shows what --replay would send: add --replay (without both, the letters are listed)")
    try:
        only = LetterFilter(
            store_id=arguments.store,
            since=parse_since(arguments.since) if arguments.since is not None else None,
            error_type=arguments.error_type,
        )
        queue_urls(function)
    except DeadLetterError as error:
        return _error(str(error))
    narrowing = _narrowing(only, arguments)
    if not arguments.replay:
        letters = peek(function, limit=arguments.limit or 50, only=only)
        if arguments.json:
            print(json.dumps({"function": function, "letters": [letter.summary() for letter in letters]}, indent=2))
            return 0
        if letters:
            print_table(_table(letters))
        print(f"{len(letters)} dead letter(s) shown for {function}{narrowing}")
        return 0

    show_progress = not arguments.dry_run and not arguments.json
    with ProgressBars(sys.stderr) as bars:
        outcome = replay(
            function,
            limit=arguments.limit,
            only=only,
            dry_run=arguments.dry_run,
            progress=(lambda count: bars.update("replay", f"replayed {count}", "replayed", count, arguments.limit))
            if show_progress
            else None,
        )
    if arguments.json:
        summary = {
            "function": function,
            "dry_run": arguments.dry_run,
            "matched": len(outcome.matched),
            "sent": outcome.sent,
            "would_send": len(outcome.chosen) if arguments.dry_run else 0,
            "left_matching": len(outcome.matched) - outcome.sent,
            "left_others": outcome.others,
            "letters": [letter.summary() for letter in outcome.chosen],
        }
        print(json.dumps(summary, indent=2))
        return 0
    if outcome.chosen:
        print_table(_table(outcome.chosen, prefix="would send " if arguments.dry_run else "sent "))
    held_back = len(outcome.matched) - len(outcome.chosen)
    beyond_limit = f", {held_back} more beyond --limit left in it" if held_back else ""
    if arguments.dry_run:
        print(
            f"{len(outcome.matched)} dead letter(s){narrowing} matched: {len(outcome.chosen)} would be sent back to "
            f"the {function} queue (dry run: nothing was sent){beyond_limit}; {outcome.others} other(s) would stay"
        )
    else:
        print(
            f"{len(outcome.matched)} dead letter(s){narrowing} matched: {outcome.sent} record(s) sent back to the "
            f"{function} queue{beyond_limit}; {outcome.others} other(s) left in the dead-letter queue"
        )
    return 0
