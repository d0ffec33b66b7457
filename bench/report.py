"""Renders docs/performance.md from whatever figures the benches left in .bench-results/ (one JSON file each), so
the document can be rendered again without running anything. A section whose file is missing says how to
produce it. `bench/baselines.json` (committed) holds figures measured before a change, shown as "before → now".

    .venv/bin/python bench/report.py [--results .bench-results] [--output docs/performance.md] [--print]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_RESULTS = ROOT / ".bench-results"
DEFAULT_OUTPUT = ROOT / "docs" / "performance.md"
BASELINES = ROOT / "bench" / "baselines.json"
LAMBDA_UNZIPPED_LIMIT_BYTES = 250 * 1024 * 1024
MB = 1024 * 1024

Results = dict[str, Any]
Section = Callable[[Results | None, dict[str, Any]], list[str]]


# ---- figures -------------------------------------------------------------------------------------------


def number(value: float, unit: str) -> str:
    """A figure with as many digits as it deserves: 87 s, 2.4 ms, 0.031 ms."""
    magnitude = abs(value)
    digits = 0 if magnitude >= 100 else 1 if magnitude >= 10 else 2 if magnitude >= 0.1 else 3
    return f"{value:,.{digits}f} {unit}".rstrip()


def versus_target(now: float, target: float, unit: str, before: float | None = None) -> str:
    """`87 s → 24 s; target 30 s; 0.80x the target, target met` (lower is better for every figure here)."""
    shown = f"{number(before, unit)} → {number(now, unit)}" if before is not None else number(now, unit)
    ratio = now / target if target else float("inf")
    verdict = "target met" if now <= target else "target missed"
    return f"{shown}; target {number(target, unit)}; {ratio:.2f}x the target, {verdict}"


def load_results(results_dir: Path, name: str) -> Results | None:
    path = results_dir / f"{name}.json"
    if not path.is_file():
        return None
    loaded: Results = json.loads(path.read_text(encoding="utf-8"))
    return loaded


def measured_on(results: Results) -> str:
    """Where and when a result was measured, and the command that produced it."""
    machine = results.get("machine")
    when = results.get("measured_at") or (machine or {}).get("date", "at an unknown date")
    said = f"Measured {when} by `{results.get('command', 'an unknown command')}`"
    if not machine:
        return said + "."
    load = ", ".join(f"{value:.2f}" for value in machine.get("load_average") or []) or "unknown"
    # The interpreter measured, where a bench ran its subjects in another than its own (the cold start's runtime).
    python = results.get("interpreter") or machine.get("python", "?")
    return f"{said} ({machine.get('cpus', '?')} CPUs, Python {python}, load average {load})."


def not_measured(command: str) -> list[str]:
    return [f"Not measured: run `{command}`.", ""]


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return [*lines, ""]


# ---- sections ------------------------------------------------------------------------------------------


def cold_start_section(results: Results | None, baselines: dict[str, Any]) -> list[str]:
    lines = ["## Cold-start init (import of the handler module)", ""]
    if results is None:
        return lines + not_measured(".venv/bin/python bench/bench_cold_start.py")
    before = baselines.get("cold_start", {})
    lines += [
        measured_on(results),
        "",
        f"Median and p90 of {results['rows'][0]['runs'] if results['rows'] else '?'} fresh interpreters each importing "
        "functions/<name>/app.py with the layer on the path and the template's environment (placeholder resource "
        "names), in an interpreter that sees only what Lambda has (`python -S`: the runtime's boto3, the Powertools "
        "layer's packages, the layer's requirements); interpreter start-up is not included. The floor row is what "
        "every handler imports before any code of ours; the rest of a handler's figure is the layer's own modules.",
        "",
    ]
    if before.get("note"):
        lines += [f"Before and after: {before['note']}.", ""]
    counted = all("instructions_m" in row for row in results["rows"])
    if counted:
        lines += [
            "Instructions: the import's CPU instructions (valgrind callgrind, once; interpreter start-up subtracted), "
            "which repeat to the digit whatever the machine's load, and the milliseconds they take at the pace of this "
            "run's fastest floor import (the machine as nearly unloaded as the run saw it).",
            "",
        ]
    rows = []
    for row in results["rows"]:
        old = before.get(row["function"], {})
        cells = [
            row["function"],
            versus_target(row["median_ms"], row["target_ms"], "ms", old.get("median_ms")),
            number(row["p90_ms"], "ms")
            if "p90_ms" not in old
            else f"{number(old['p90_ms'], 'ms')} → {number(row['p90_ms'], 'ms')}",
            number(row["import_peak_rss_mb"], "MB"),
        ]
        if counted:
            old_count = old.get("instructions_m")
            count = f"{row['instructions_m']:,.1f} M"
            cells += [
                f"{old_count:,.1f} M → {count}" if old_count else count,
                versus_target(row["unloaded_ms"], row["target_ms"], "ms"),
            ]
        rows.append(cells)
    headers = ["function", "median import", "p90 import", "peak RSS after import"]
    if counted:
        headers += ["instructions", "at the unloaded pace"]
    return lines + table(headers, rows)


def warm_latency_section(results: Results | None, title: str, command: str) -> list[str]:
    lines = [f"## {title}", ""]
    if results is None:
        return lines + not_measured(command)
    lines += [measured_on(results), ""]
    if results.get("note"):
        lines += [results["note"], ""]
    rows = []
    for row in results["rows"]:
        rows.append(
            [
                row["step"],
                row["log_level"],
                str(row["events"]),
                versus_target(row["p50_ms"], row["target_p50_ms"], "ms"),
                versus_target(row["p99_ms"], row["target_p99_ms"], "ms"),
                f"{row['events_per_second']:,.0f}",
            ]
        )
    return lines + table(["step", "log level", "events timed", "p50", "p99", "events/s (one thread)"], rows)


def package_size_section(results: Results | None, _: dict[str, Any]) -> list[str]:
    lines = ["## Deployment package and layer size", ""]
    if results is None:
        return lines + not_measured(".venv/bin/python bench/bench_package_size.py")
    limit = results.get("limit_bytes", LAMBDA_UNZIPPED_LIMIT_BYTES)
    lines += [measured_on(results), "", f"Built with {results['method']}.", ""]
    rows = []
    for row in results["rows"]:
        unzipped = row["total_unzipped_bytes"]
        rows.append(
            [
                row["function"],
                f"{row['code_zipped_bytes']:,} / {row['code_unzipped_bytes']:,}",
                f"{row['layers_zipped_bytes']:,} / {row['layers_unzipped_bytes']:,}",
                versus_target(unzipped / MB, limit / MB, "MB"),
            ]
        )
    return lines + table(
        [
            "function",
            "function code, zipped / unzipped bytes",
            "layers, zipped / unzipped bytes",
            "function + layers unzipped vs Lambda's 250 MB limit",
        ],
        rows,
    )


def peak_rss_section(results: Results | None, _: dict[str, Any]) -> list[str]:
    lines = ["## Peak RSS per function", ""]
    if results is None:
        return lines + not_measured(".venv/bin/python bench/bench_peak_rss.py")
    lines += [measured_on(results), ""]
    rows = [
        [
            row["function"],
            row["workload"],
            versus_target(row["peak_rss_mb"], row["memory_size_mb"], "MB"),
        ]
        for row in results["rows"]
    ]
    return lines + table(["function", "what ran in the fresh interpreter", "peak RSS vs MemorySize"], rows)


def cpu(seconds: float | None, target: float, before: float | None) -> str:
    """The sync's own CPU against the target; results from before the bench measured it have none."""
    return "not measured" if seconds is None else versus_target(seconds, target, "s", before)


def product_sync_section(results: Results | None, baselines: dict[str, Any]) -> list[str]:
    lines = ["## Product sync (nightly catalog sync)", ""]
    if results is None:
        return lines + not_measured(".venv/bin/python bench/bench_product_sync.py")
    before = baselines.get("product_sync", {})
    target = results["target_s"]
    products = results["products"]
    lines += [measured_on(results), ""]
    rows = [
        [
            f"first run, {products:,} products",
            versus_target(results["first_wall_s"], target, "s", before.get("first_wall_s")),
            cpu(results.get("first_cpu_s"), target, before.get("first_cpu_s")),
            number(results["first_rss_mb"], "MB"),
            f"{results['first_mailchimp_requests']:,}",
        ],
        [
            "re-run, nothing changed",
            versus_target(results["second_wall_s"], target, "s", before.get("second_wall_s")),
            cpu(results.get("second_cpu_s"), target, before.get("second_cpu_s")),
            number(results["second_rss_mb"], "MB"),
            f"{results['second_mailchimp_requests']:,} ({results['second_mailchimp_writes']} writes; target 0)",
        ],
        [
            f"first run, {results['small_products']:,} products",
            number(results["small_wall_s"], "s"),
            "",
            number(results["small_rss_mb"], "MB"),
            "",
        ],
    ]
    lines += table(["run", "wall time", "the sync's own CPU", "peak RSS", "Mailchimp requests"], rows)
    lines += [
        "The wall time holds the emulators' work too (Shopify pages, Mailchimp requests and batch operations, in the "
        "bench's parent process on the same CPUs) and each round trip's wait for a CPU on a loaded machine; the CPU "
        "time is the sync process's own work, what Lambda runs.",
        "",
    ]
    if before.get("measured"):
        lines += [f"Before (the figure left of the arrow): {before['measured']}.", ""]
    if before.get("note"):
        lines += [f"Before and after, {before['note']}.", ""]
    if results.get("state_calls"):
        calls = ", ".join(f"{name} {count:,}" for name, count in sorted(results["state_calls"].items()))
        lines += [f"Sync-state calls of the first run, as DynamoDB would count them: {calls}.", ""]
    return lines


def backfill_section(results: Results | None, _: dict[str, Any]) -> list[str]:
    lines = ["## Backfill and reconciliation", ""]
    if results is None:
        return lines + not_measured("make bench-backfill")
    lines += [measured_on(results), "", f"Size: {results['size']}.", ""]
    rows = [
        [
            row["phase"],
            number(row["wall_s"], "s"),
            f"{row['mailchimp_requests']:,}",
            number(row["floor_s"], "s"),
            f"{row['wall_s'] / row['floor_s']:,.1f}x" if row["floor_s"] else "no request: no floor",
        ]
        for row in results["rows"]
    ]
    lines += table(
        ["phase", "wall time", "Mailchimp requests", "floor at 10 connections", "wall / floor (the ceiling ratio)"],
        rows,
    )
    return lines


def aws_calls_section(results: Results | None, _: dict[str, Any]) -> list[str]:
    lines = ["## AWS calls per event", ""]
    if results is None:
        return lines + not_measured("make bench-aws-calls")
    lines += [measured_on(results), ""]
    before = (results.get("before") or {}).get("dynamodb_per_event", {})
    target = float((results.get("target") or {}).get("dynamodb_per_event", 4))
    consumers = [row for row in results.get("rows", []) if row["function"] != "WebhooksFunction"]
    if before:
        lines += [
            f"DynamoDB requests per event of the consuming function, before issue 17 (commit "
            f"{results['before'].get('commit', '?')}) and now, against the issue's target of {target:g}:",
            "",
        ]
        rows = [
            [
                row["event_kind"],
                row["function"],
                versus_target(float(row["per_event"].get("dynamodb", 0)), target, "", before.get(row["event_kind"])),
                f"{row.get('consumer_batch_size', 0):g}",
            ]
            for row in consumers
        ]
        lines += table(["event", "function", "DynamoDB requests per event", "batch"], rows)
    services = ["dynamodb", "sqs", "events", "secretsmanager"]
    rows = []
    for row in results.get("rows", []):
        per_event = row.get("per_event", {})
        calls = ", ".join(f"{name} {count / row['events']:.2f}" for name, count in sorted(row.get("calls", {}).items()))
        rows.append(
            [
                row["function"],
                row["event_kind"],
                str(row["events"]),
                *[f"{per_event.get(service, 0):.2f}" for service in services],
                calls,
            ]
        )
    return lines + table(["function", "event", "events", *services, "requests per event"], rows)


def cost_section(results: Results | None, _: dict[str, Any]) -> list[str]:
    lines = ["## Cost per million events", ""]
    if results is None:
        return lines + not_measured("make cost")
    lines += [measured_on(results), "See [cost.md](cost.md) for how it is counted and priced.", ""]
    kinds = results.get("kinds", [])
    components = list(kinds[0]["usd_per_million"]) if kinds else []
    rows = [
        [component.replace("_", " "), *[f"{kind['usd_per_million'][component]:.2f}" for kind in kinds]]
        for component in components
    ]
    rows.append(["**total**", *[f"**{kind['total_usd_per_million']:.2f}**" for kind in kinds]])
    rows.append(
        [
            "GB-seconds per event",
            *[f"{sum(kind.get('usage_per_event', {}).get('gb_seconds', {}).values()):.4f}" for kind in kinds],
        ]
    )
    lines += table(["USD per million events", *[kind["kind"].replace("_", " ") for kind in kinds]], rows)
    lines += [
        f"Consumers on {results.get('assumptions', {}).get('consumer_lanes', 1)} lane(s); GB-seconds with one lane "
        "and others side by side: [cost.md](cost.md#lanes).",
        "",
    ]
    bulk = results.get("bulk", [])
    if bulk:
        lines += [
            "Bulk runs (a first catalog sync, a history backfill), per 1,000 products or orders:",
            "",
            *table(
                ["run", "USD per 1,000", "DynamoDB", "Lambda compute", "GB-seconds per item"],
                [
                    [
                        run["kind"].replace("_", " "),
                        f"{run['total_usd_per_thousand']:.4f}",
                        f"{run['usd_per_thousand']['dynamodb']:.4f}",
                        f"{run['usd_per_thousand']['lambda_compute']:.5f}",
                        f"{sum(run['usage_per_event']['gb_seconds'].values()):.4f}",
                    ]
                    for run in bulk
                ],
            ),
        ]
    monthly = results.get("monthly_usd", {})
    if monthly:
        lines += [f"A month of {results.get('profile', {}).get('description', 'the profile')}:", ""]
        lines += table(
            ["line", "USD a month"],
            [[line, f"{dollars:,.2f}"] for line, dollars in monthly.items()]
            + [["**total**", f"**{results.get('monthly_total_usd', 0):,.2f}**"]],
        )
    return lines


def render(results_dir: Path, baselines: dict[str, Any] | None = None, now: datetime | None = None) -> str:
    baselines = baselines if baselines is not None else load_baselines()
    now = now or datetime.now(UTC)
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    lines = [
        "# Performance",
        "",
        "<!-- Generated by `make bench` (bench/report.py renders .bench-results/*.json); do not edit by hand. -->",
        "",
        f"Generated file: rendered {now:%Y-%m-%d %H:%M} UTC on a machine with {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}, load average {load}. Each section says when and by which command its "
        "figures were measured. Wall-clock figures on a shared 2-core machine move with its load: a missed "
        "target is reported, never a failure. Lower is better for every figure; the ratio is the figure "
        "divided by its target.",
        "",
    ]
    lines += cold_start_section(load_results(results_dir, "cold_start"), baselines)
    lines += warm_latency_section(
        load_results(results_dir, "cart_events"),
        "Warm latency, cart path (Mailchimp excluded)",
        ".venv/bin/python bench/bench_cart_events.py",
    )
    lines += warm_latency_section(
        load_results(results_dir, "order_events"),
        "Warm latency, order path (Mailchimp excluded)",
        ".venv/bin/python bench/bench_order_events.py",
    )
    lines += package_size_section(load_results(results_dir, "package_size"), baselines)
    lines += peak_rss_section(load_results(results_dir, "peak_rss"), baselines)
    lines += product_sync_section(load_results(results_dir, "product_sync"), baselines)
    lines += backfill_section(load_results(results_dir, "backfill"), baselines)
    lines += aws_calls_section(load_results(results_dir, "aws_calls"), baselines)
    lines += cost_section(load_results(results_dir, "cost"), baselines)
    return "\n".join(lines).rstrip() + "\n"


def load_baselines() -> dict[str, Any]:
    if not BASELINES.is_file():
        return {}
    loaded: dict[str, Any] = json.loads(BASELINES.read_text(encoding="utf-8"))
    return loaded


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=Path(os.environ.get("BENCH_RESULTS_DIR", DEFAULT_RESULTS)))
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--print", action="store_true", help="also print the document")
    args = parser.parse_args()
    document = render(args.results)
    args.output.write_text(document, encoding="utf-8")
    if args.print:
        print(document)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
