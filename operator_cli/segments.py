"""`commerce-sync segments STORE [--set NAME=VALUE …] [--dry-run] [--json]`: a store's customer segments
(docs/segments.md) — whether they are on, the rules with their thresholds and tag names, how many members hold
each tag (counted over the store's aggregates: what commerce-sync last wrote), customers whose tags were skipped
by reason, and the last nightly pass.

`--set` changes the store's rules (thresholds, and tag names as `tags.<segment>`; an empty name switches the
segment off) and shows how many members would enter and leave each tag under them now; with `--dry-run` nothing
is saved. Saved rules apply at each customer's next order and at the next nightly pass, which writes the moves.
Segments are turned on and off with `commerce-sync add-store --store-id STORE --segments|--no-segments`.

Reads the aggregates through the sync-state table's segments index (16 Queries per store, a page of 500 at a
time): a store of a million customers takes minutes. Prints no address: customers are counted, never named.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from typing import Any

from commerce_sync.aws.settings import Settings
from commerce_sync.aws.store_registry import SegmentRules, Store, StoreRegistry
from commerce_sync.aws.sync_state import SyncState
from commerce_sync.segments.aggregate import Aggregates
from commerce_sync.segments.census import Census, census
from commerce_sync.segments.nightly import PassRecords
from commerce_sync.segments.rules import SETTINGS, RulesRefused, described, settings_changed, with_settings

from operator_cli.help_texts import example_options

COMMAND = "segments"
PASS_COUNTS = ("examined", "changed", "tags_added", "tags_removed", "skipped_no_member", "dead_lettered")


def _setting(value: str) -> tuple[str, str]:
    name, equals, given = value.partition("=")
    if not equals or not name.strip():
        raise argparse.ArgumentTypeError(f"{value!r} is not NAME=VALUE (e.g. vip_orders=3 or tags.vip=Gold)")
    return name.strip(), given


def add_commands(commands: Any) -> None:
    segments = commands.add_parser(
        COMMAND,
        help="a store's customer segments: rules, tag names, members per tag, the last nightly pass; --set changes "
        "the rules (--dry-run: only shows who would move)",
        description="Shows whether the store's segments are on, each segment's rule and tag, how many members hold "
        "each tag (what commerce-sync last wrote, from the customers' aggregates), skipped customers by reason and "
        "the last nightly pass. --set NAME=VALUE (repeatable) changes the rules and shows how many members would "
        "enter and leave each tag under them now; the next nightly pass writes those moves. Settings: "
        f"{', '.join(SETTINGS)} (an empty tags.<segment> switches it off). Turn segments on or off with "
        "`add-store --store-id STORE --segments|--no-segments` (docs/segments.md).",
        **example_options(
            "segments my-shop",
            "segments my-shop --json",
            "segments my-shop --dry-run --set vip_orders=3 --set tags.vip=Gold",
        ),
    )
    segments.add_argument("store_id", metavar="STORE")
    segments.add_argument(
        "--set",
        dest="settings",
        action="append",
        type=_setting,
        default=[],
        metavar="NAME=VALUE",
        help="a rule setting or tag name to change, e.g. vip_lifetime_value=800, tags.advocate=Fan (repeatable)",
    )
    segments.add_argument("--dry-run", action="store_true", help="with --set: show the moves, save nothing")
    segments.add_argument("--json", action="store_true")
    segments.set_defaults(run=run)


def _error(message: str) -> int:
    print(f"commerce-sync {COMMAND}: error: {message}", file=sys.stderr)
    return 2


def run(arguments: argparse.Namespace) -> int:
    settings = Settings.from_environment()
    registry = StoreRegistry(settings.stores_table)
    store = registry.get(arguments.store_id)
    if store is None:
        return _error(f"store {arguments.store_id} is not registered")
    if arguments.dry_run and not arguments.settings:
        return _error("--dry-run shows what a --set NAME=VALUE would move; give one")
    rules = store.segments or SegmentRules()
    proposed: SegmentRules | None = None
    if arguments.settings:
        if store.segments is None and not arguments.dry_run:
            return _error(
                f"segments are off for store {store.store_id}: turn them on first with "
                f"`commerce-sync add-store --store-id {store.store_id} --segments` (or add --dry-run)"
            )
        try:
            proposed = with_settings(rules, arguments.settings)
        except RulesRefused as refused:
            return _error(f"the rules refuse it: {refused} (nothing was saved)")
    state = SyncState(settings.sync_state_table)
    now = datetime.now(UTC)
    counted = census(Aggregates(state), store.store_id, rules, now, proposed)
    saved = False
    if proposed is not None and not arguments.dry_run and proposed != rules:
        registry.update(store.model_copy(update={"segments": proposed}), ["segments"])
        saved = True
    report = _report(store, rules, proposed, counted, PassRecords(state.table).last_summary(store.store_id), now)
    report.update(dry_run=bool(arguments.dry_run), saved=saved)
    print(json.dumps(report, indent=2, default=str) if arguments.json else _text(report))
    return 0


def _report(
    store: Store,
    rules: SegmentRules,
    proposed: SegmentRules | None,
    counted: Census,
    last_pass: dict[str, Any] | None,
    now: datetime,
) -> dict[str, Any]:
    report: dict[str, Any] = {
        "store_id": store.store_id,
        "segments": "on" if store.segments is not None else "off",
        "currency": store.currency_code,
        "rules": _rules_json(rules, store.currency_code),
        "customers": counted.customers,
        "members_per_tag": {tag: counted.holding.get(tag, 0) for tag in sorted(rules.tag_names())},
        "skipped": dict(counted.skipped),
        "last_pass": last_pass,
        "at": now.isoformat(),
    }
    # Tags of a segment switched off or renamed that members still hold.
    leftovers = {tag: count for tag, count in counted.holding.items() if tag not in rules.tag_names()}
    if leftovers:
        report["members_per_former_tag"] = leftovers
    if proposed is not None:
        report["proposed"] = {
            "changes": {name: list(values) for name, values in settings_changed(rules, proposed).items()},
            "rules": _rules_json(proposed, store.currency_code),
            "customers_moving": counted.customers_moving,
            "moves": {tag: vars(moves) for tag, moves in sorted(counted.moves.items())},
        }
    return report


def _rules_json(rules: SegmentRules, currency: str) -> dict[str, Any]:
    return {
        "thresholds": {name: value for name, value in rules.model_dump(mode="json").items() if name != "tags"},
        "segments": [
            {"segment": segment, "tag": tag, "rule": rule} for segment, tag, rule in described(rules, currency)
        ],
    }


def _text(report: dict[str, Any]) -> str:
    lines = [f"store {report['store_id']}: segments {report['segments']}"]
    if report["segments"] == "off":
        lines.append(
            f"  (the rules below apply once turned on: commerce-sync add-store --store-id {report['store_id']} "
            "--segments)"
        )
    rows: list[tuple[str, ...]] = [("segment", "tag", "members", "rule")]
    for row in report["rules"]["segments"]:
        tag = row["tag"]
        count = str(report["members_per_tag"].get(tag, 0)) if tag else "-"
        rows.append((row["segment"], tag or "(off)", count, row["rule"]))
    lines += _table(rows)
    for tag, count in sorted((report.get("members_per_former_tag") or {}).items()):
        lines.append(f"  former tag {tag!r} still held by {count} member(s): removed at their next change")
    skipped = ", ".join(f"{reason} {count}" for reason, count in sorted(report["skipped"].items()))
    lines.append(
        f"customers with an aggregate: {report['customers']}" + (f"; tags skipped: {skipped}" if skipped else "")
    )
    last = report["last_pass"]
    if last:
        counts = ", ".join(f"{key} {last.get(key, 0)}" for key in PASS_COUNTS)
        lines.append(f"last nightly pass: {last.get('status')} at {last.get('at')} ({counts})")
    else:
        lines.append("last nightly pass: none yet")
    proposed = report.get("proposed")
    if proposed:
        changes = ", ".join(f"{name} {old} -> {new}" for name, (old, new) in proposed["changes"].items())
        verb = "would move (dry run, nothing saved)" if report["dry_run"] else "will move at the next nightly pass"
        lines.append(f"with {changes or 'no change'}: {proposed['customers_moving']} customer(s) {verb}")
        moves_rows: list[tuple[str, ...]] = [("tag", "members now", "after", "enter", "leave")]
        for tag, moves in proposed["moves"].items():
            held = (moves["holding"], moves["after"], moves["enter"], moves["leave"])
            moves_rows.append((str(tag), *map(str, held)))
        lines += _table(moves_rows)
        if report["saved"]:
            lines.append("rules saved")
    return "\n".join(lines)


def _table(rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(row[index]) for row in rows) for index in range(len(rows[0]))]
    return [
        "  " + "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows
    ]
