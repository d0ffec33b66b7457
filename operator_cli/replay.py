"""`commerce-sync replay --from T1 [--to T2] [--store STORE] [--types TYPE,…] [--dry-run] [--json]`: a window of the
bus archive replayed through processing (docs/outcomes.md, "Replaying a window of the bus archive").

EventBridge replays an archive's window into its bus (`StartReplay`), to the rules named in `FilterArns`. Without
`--store` or `--types` those are the bus's own routing rules (each queue's). With them, one temporary rule per routing
rule narrows it — the same queue as target, its event types cut to those asked for, `detail.store_id` to the store,
and `replay-name` to this replay so no live event matches — and the rules are deleted once the replay completes
(or fails). The queues' policies let rules of the bus named `commerce-sync-replay-*` send to them.

A replay is safe: the consumers drop an event they applied already (idempotency, by event id) and one older than what
was applied (the version guard), so only what never got applied writes. Locally the runner's moto keeps the bus's
archive and honours the window and the rules (local_runner.moto_replays), so the same command works there.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO, cast

import boto3
from commerce_sync.aws.settings import Settings
from commerce_sync.canonical.model import EventType

ARCHIVE_VARIABLE = "EVENT_ARCHIVE_NAME"
RULE_PREFIX = "commerce-sync-replay-"
POLL_SECONDS = 2.0
WAIT_SECONDS = 15 * 60
_DURATION = re.compile(r"^(?P<amount>\d{1,6})(?P<unit>[mhd])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days"}


class ReplayInputError(ValueError):
    """A window, store or type the command cannot use; the message says which and how to fix it."""


def parse_moment(value: str, now: datetime | None = None) -> datetime:
    """An ISO date or date-time (UTC when it names no zone), or a duration back from now: `90m`, `6h`, `2d`."""
    now = now or datetime.now(UTC)
    duration = _DURATION.match(value.strip())
    if duration:
        return now - timedelta(**{_UNITS[duration["unit"]]: int(duration["amount"])})
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError as error:
        raise ReplayInputError(
            f"{value!r} is not a time: give an ISO date or date-time (2026-12-01, 2026-12-01T08:00:00Z) "
            "or a duration back from now (90m, 6h, 2d)"
        ) from error
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def parse_types(value: str | None) -> list[str]:
    if not value:
        return []
    known = {event_type.value for event_type in EventType}
    types = [name.strip() for name in value.split(",") if name.strip()]
    unknown = [name for name in types if name not in known]
    if unknown:
        raise ReplayInputError(f"unknown event type(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    return types


def _matches(pattern: Any, detail_type: str) -> bool:
    if isinstance(pattern, dict) and "prefix" in pattern:
        return detail_type.startswith(str(pattern["prefix"]))
    return bool(pattern == detail_type)


@dataclass
class RoutingRule:
    """One of the bus's rules that routes canonical events to a queue."""

    name: str
    arn: str
    pattern: dict[str, Any]
    targets: list[dict[str, str]]


@dataclass
class ReplayPlan:
    name: str
    start: datetime
    end: datetime
    store_id: str | None
    types: list[str]
    # (rule name, pattern, targets) of each temporary rule; empty: the routing rules themselves are used.
    narrowed: list[tuple[str, dict[str, Any], list[dict[str, str]]]] = field(default_factory=list)
    filter_arns: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "replay": self.name,
            "from": self.start.isoformat(),
            "to": self.end.isoformat(),
            "store_id": self.store_id,
            "types": self.types,
            "rules": [{"name": name, "pattern": pattern} for name, pattern, _ in self.narrowed] or self.filter_arns,
        }


def routing_rules(events: Any, bus: str) -> list[RoutingRule]:
    """The bus's rules with an SQS target (the archive's own rule has none)."""
    found: list[RoutingRule] = []
    paginator = events.get_paginator("list_rules")
    for page in paginator.paginate(EventBusName=bus):
        for rule in page.get("Rules", []):
            if rule["Name"].startswith(RULE_PREFIX) or not rule.get("EventPattern"):
                continue
            targets = [
                {"Id": target["Id"], "Arn": target["Arn"]}
                for target in events.list_targets_by_rule(Rule=rule["Name"], EventBusName=bus).get("Targets", [])
                if str(target["Arn"]).startswith("arn:aws:sqs:")
            ]
            if targets:
                found.append(RoutingRule(rule["Name"], rule["Arn"], json.loads(rule["EventPattern"]), targets))
    return found


def plan(
    rules: list[RoutingRule], start: datetime, end: datetime, store_id: str | None, types: list[str]
) -> ReplayPlan:
    if end <= start:
        raise ReplayInputError("--to must come after --from")
    replay = ReplayPlan(f"commerce-sync-{uuid.uuid4().hex[:12]}", start, end, store_id, types)
    if not store_id and not types:
        replay.filter_arns = [rule.arn for rule in rules]
        return replay
    for index, rule in enumerate(rules):
        routed = list(rule.pattern.get("detail-type") or [])
        chosen: list[Any] = [name for name in types if any(_matches(p, name) for p in routed)] if types else routed
        if not chosen:
            continue
        pattern: dict[str, Any] = {**rule.pattern, "detail-type": chosen, "replay-name": [replay.name]}
        if store_id:
            pattern["detail"] = {**pattern.get("detail", {}), "store_id": [store_id]}
        replay.narrowed.append(
            (f"{RULE_PREFIX}{replay.name.removeprefix('commerce-sync-')}-{index}", pattern, rule.targets)
        )
    if not replay.narrowed:
        raise ReplayInputError("no queue takes those event types")
    return replay


def run(
    start_text: str,
    end_text: str | None,
    store_id: str | None,
    types_text: str | None,
    dry_run: bool,
    as_json: bool,
    out: TextIO | None = None,
) -> int:
    out = out or sys.stdout
    try:
        start = parse_moment(start_text)
        end = parse_moment(end_text) if end_text else datetime.now(UTC)
        types = parse_types(types_text)
        archive_name = os.environ.get(ARCHIVE_VARIABLE)
        if not archive_name:
            raise ReplayInputError(
                "which archive? give --stack NAME (its EventArchiveName output) or --env-file .local/runner.env"
            )
        settings = Settings.from_environment()
        events = boto3.client("events")
        if store_id and settings.stores_table:
            from commerce_sync.aws.store_registry import StoreRegistry

            if StoreRegistry(settings.stores_table).get(store_id) is None:
                raise ReplayInputError(f"no store {store_id} is registered (see commerce-sync list-stores)")
        replay = plan(routing_rules(events, settings.event_bus_name), start, end, store_id, types)
    except ReplayInputError as error:
        print(f"commerce-sync: error: {error}", file=sys.stderr)
        return 2
    if dry_run:
        _show(replay, "would replay", as_json, out)
        return 0
    archive_arn = events.describe_archive(ArchiveName=archive_name)["ArchiveArn"]
    bus_arn = events.describe_event_bus(Name=settings.event_bus_name)["Arn"]
    created: list[str] = []
    try:
        for name, pattern, targets in replay.narrowed:
            arn = events.put_rule(
                Name=name,
                EventBusName=settings.event_bus_name,
                EventPattern=json.dumps(pattern),
                State="ENABLED",
                Description="commerce-sync replay (deleted when the replay ends)",
            )["RuleArn"]
            created.append(name)
            events.put_targets(Rule=name, EventBusName=settings.event_bus_name, Targets=cast(Any, targets))
            replay.filter_arns.append(arn)
        events.start_replay(
            ReplayName=replay.name,
            EventSourceArn=archive_arn,
            EventStartTime=replay.start,
            EventEndTime=replay.end,
            Destination={"Arn": bus_arn, "FilterArns": replay.filter_arns},
        )
        state = _wait(events, replay.name)
    finally:
        for name in created:
            events.remove_targets(Rule=name, EventBusName=settings.event_bus_name, Ids=_target_ids(replay, name))
            events.delete_rule(Name=name, EventBusName=settings.event_bus_name)
    _show(replay, f"replay {state.lower()}", as_json, out, state)
    return 0 if state == "COMPLETED" else 1


def _target_ids(replay: ReplayPlan, rule_name: str) -> list[str]:
    return [target["Id"] for name, _, targets in replay.narrowed if name == rule_name for target in targets]


def _wait(events: Any, name: str) -> str:
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        state = str(events.describe_replay(ReplayName=name)["State"])
        if state in ("COMPLETED", "FAILED", "CANCELLED") or time.monotonic() > deadline:
            return state
        time.sleep(POLL_SECONDS)


def _show(replay: ReplayPlan, verb: str, as_json: bool, out: TextIO, state: str | None = None) -> None:
    if as_json:
        print(json.dumps({**replay.to_json(), "state": state or "dry_run"}, indent=2), file=out)
        return
    scope = f"store {replay.store_id}" if replay.store_id else "every store"
    kinds = ", ".join(replay.types) if replay.types else "every event type"
    print(f"{verb}: {replay.start.isoformat()} to {replay.end.isoformat()}, {scope}, {kinds}", file=out)
    for name, pattern, _ in replay.narrowed:
        print(f"  through {name}: {json.dumps(pattern, sort_keys=True)}", file=out)
    if state == "COMPLETED":
        print(
            "the consumers apply what was never applied; the rest are duplicates (see commerce-sync status)", file=out
        )
