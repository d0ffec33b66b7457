"""bench/report.py renders docs/performance.md from the benches' JSON results: known results give known rows, and a
missing result file gives the line that says how to measure it."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.report import number, render, versus_target

MACHINE = {"date": "2026-12-05 15:00 UTC", "cpus": 2, "python": "3.11.7", "load_average": [1.5, 1.0, 0.5]}
NOW = datetime(2026, 12, 5, 16, 0, tzinfo=UTC)


def write(results: Path, name: str, figures: dict[str, Any]) -> None:
    results.mkdir(parents=True, exist_ok=True)
    (results / f"{name}.json").write_text(json.dumps({"machine": MACHINE, **figures}), encoding="utf-8")


def test_a_figure_is_shown_with_its_target_its_ratio_and_whether_it_is_met() -> None:
    assert versus_target(24, 30, "s", before=87) == "87.0 s → 24.0 s; target 30.0 s; 0.80x the target, target met"
    assert versus_target(450, 300, "ms") == "450 ms; target 300 ms; 1.50x the target, target missed"
    assert number(0.0312, "ms") == "0.031 ms"
    assert number(2.4, "ms") == "2.40 ms"


def test_every_section_says_not_measured_with_its_command_when_no_result_exists(tmp_path: Path) -> None:
    document = render(tmp_path / "empty", baselines={}, now=NOW)

    assert document.startswith("# Performance\n")
    assert "Generated file: rendered 2026-12-05 16:00 UTC" in document
    assert "Not measured: run `.venv/bin/python bench/bench_cold_start.py`." in document
    assert "Not measured: run `.venv/bin/python bench/bench_product_sync.py`." in document
    assert "Not measured: run `make bench-backfill`." in document
    section = document.split("## AWS calls per event", 1)[1]
    assert "not measured: run `make bench-aws-calls`" in section.lower()


def test_cold_start_rows_show_before_and_after_against_the_target(tmp_path: Path) -> None:
    rows = [
        {"function": "cart_events", "runs": 20, "median_ms": 240.0, "p90_ms": 260.0, "target_ms": 300.0,
         "import_peak_rss_mb": 80.0},
        {"function": "webhooks", "runs": 20, "median_ms": 450.0, "p90_ms": 500.0, "target_ms": 300.0,
         "import_peak_rss_mb": 90.0},
    ]  # fmt: skip
    write(tmp_path, "cold_start", {"measured_at": "2026-12-05 15:00 UTC", "command": "bench cold", "rows": rows})
    baselines = {"cold_start": {"cart_events": {"median_ms": 900.0, "p90_ms": 1000.0}}}

    document = render(tmp_path, baselines=baselines, now=NOW)

    assert (
        "| cart_events | 900 ms → 240 ms; target 300 ms; 0.80x the target, target met | 1,000 ms → 260 ms | 80.0 MB |"
        in document
    )
    assert "| webhooks | 450 ms; target 300 ms; 1.50x the target, target missed | 500 ms | 90.0 MB |" in document
    assert "Measured 2026-12-05 15:00 UTC by `bench cold` (2 CPUs, Python 3.11.7, load average 1.50, 1.00, 0.50)." in (
        document
    )


def test_counted_instructions_show_before_and_after_and_the_unloaded_pace_against_the_target(tmp_path: Path) -> None:
    rows = [
        {"function": "cart_events", "runs": 20, "median_ms": 440.0, "p90_ms": 500.0, "target_ms": 300.0,
         "import_peak_rss_mb": 55.0, "instructions_m": 1682.8, "unloaded_ms": 306.4},
        {"function": "key_rotation", "runs": 20, "median_ms": 380.0, "p90_ms": 420.0, "target_ms": 300.0,
         "import_peak_rss_mb": 51.0, "instructions_m": 1519.9, "unloaded_ms": 276.7},
    ]  # fmt: skip
    write(tmp_path, "cold_start", {"measured_at": "2026-12-06 05:30 UTC", "command": "bench cold", "rows": rows})
    baselines = {"cold_start": {"cart_events": {"instructions_m": 1862.8}}}

    document = render(tmp_path, baselines=baselines, now=NOW)

    assert "| instructions | at the unloaded pace |" in document
    assert (
        "| cart_events | 440 ms; target 300 ms; 1.47x the target, target missed | 500 ms | 55.0 MB "
        "| 1,862.8 M → 1,682.8 M | 306 ms; target 300 ms; 1.02x the target, target missed |"
    ) in document
    assert "| 1,519.9 M | 277 ms; target 300 ms; 0.92x the target, target met |" in document


def test_the_cold_start_names_the_interpreter_it_measured_not_the_benchs_own(tmp_path: Path) -> None:
    rows = [{"function": "webhooks", "runs": 20, "median_ms": 320.0, "p90_ms": 340.0, "target_ms": 300.0,
             "import_peak_rss_mb": 56.0}]  # fmt: skip
    figures = {"measured_at": "2026-12-05 15:00 UTC", "command": "bench cold", "interpreter": "3.13.0", "rows": rows}
    write(tmp_path, "cold_start", figures)

    document = render(tmp_path, baselines={}, now=NOW)

    assert "by `bench cold` (2 CPUs, Python 3.13.0, load average 1.50, 1.00, 0.50)." in document


def test_product_sync_rows_carry_both_runs_against_the_target(tmp_path: Path) -> None:
    write(
        tmp_path,
        "product_sync",
        {
            "command": "bench product",
            "products": 100_000,
            "small_products": 10_000,
            "target_s": 30.0,
            "first_wall_s": 24.0,
            "second_wall_s": 12.0,
            "first_cpu_s": 20.0,
            "second_cpu_s": 4.0,
            "small_wall_s": 3.0,
            "first_rss_mb": 130.0,
            "second_rss_mb": 120.0,
            "small_rss_mb": 110.0,
            "first_mailchimp_requests": 620,
            "second_mailchimp_requests": 0,
            "second_mailchimp_writes": 0,
            "state_calls": {"BatchGetItem": 1000},
        },
    )

    document = render(tmp_path, baselines={"product_sync": {"first_wall_s": 87.0}}, now=NOW)

    assert (
        "| first run, 100,000 products | 87.0 s → 24.0 s; target 30.0 s; 0.80x the target, target met "
        "| 20.0 s; target 30.0 s; 0.67x the target, target met | 130 MB | 620 |" in document
    )
    assert (
        "| re-run, nothing changed | 12.0 s; target 30.0 s; 0.40x the target, target met "
        "| 4.00 s; target 30.0 s; 0.13x the target, target met | 120 MB | 0 (0 writes" in document
    )
    assert "Sync-state calls of the first run, as DynamoDB would count them: BatchGetItem 1,000." in document


def test_aws_calls_rows_render_per_event_figures_of_each_service(tmp_path: Path) -> None:
    (tmp_path / "aws_calls.json").write_text(
        json.dumps(
            {
                "measured_at": "2026-12-05T15:00:00Z",
                "command": "make bench-aws-calls",
                "rows": [
                    {
                        "function": "CartEventsFunction",
                        "event_kind": "cart",
                        "events": 20,
                        "calls": {"dynamodb:GetItem": 40, "events:PutEvents": 0},
                        "per_event": {"dynamodb": 2.0, "sqs": 0.0, "events": 0.0, "secretsmanager": 0.05},
                        "consumer_batch_size": 4.5,
                    }
                ],
                "before": {"commit": "a570225", "dynamodb_per_event": {"cart": 20.1}},
                "target": {"dynamodb_per_event": 4},
            }
        ),
        encoding="utf-8",
    )

    document = render(tmp_path, baselines={}, now=NOW)

    section = document.split("## AWS calls per event", 1)[1].split("## Cost", 1)[0]
    assert "Measured 2026-12-05T15:00:00Z by `make bench-aws-calls`." in section
    assert "| cart | CartEventsFunction | 20.1 → 2.00; target 4.00; 0.50x the target, target met | 4.5 |" in section
    assert (
        "| CartEventsFunction | cart | 20 | 2.00 | 0.00 | 0.00 | 0.05 | dynamodb:GetItem 2.00, events:PutEvents 0.00 |"
        in section
    )
    assert "not measured" not in section.lower()


def test_the_cost_section_renders_each_kind_and_the_month(tmp_path: Path) -> None:
    (tmp_path / "cost.json").write_text(
        json.dumps(
            {
                "measured_at": "2026-12-05T15:00:00Z",
                "command": "make cost",
                "kinds": [
                    {"kind": "cart", "usd_per_million": {"dynamodb": 3.5, "logs": 1.25}, "total_usd_per_million": 4.75}
                ],
                "profile": {"description": "2 stores"},
                "monthly_usd": {"cart": 9.5},
                "monthly_total_usd": 9.5,
            }
        ),
        encoding="utf-8",
    )
    section = render(tmp_path, baselines={}, now=NOW).split("## Cost per million events", 1)[1]
    assert "| dynamodb | 3.50 |" in section and "| **total** | **4.75** |" in section
    assert "A month of 2 stores:" in section and "| **total** | **9.50** |" in section


def test_warm_latency_rows_show_p50_and_p99_against_their_targets(tmp_path: Path) -> None:
    row = {
        "step": "process",
        "log_level": "INFO",
        "events": 10_000,
        "p50_ms": 0.5,
        "p99_ms": 6.0,
        "events_per_second": 1500.0,
        "target_p50_ms": 1.0,
        "target_p99_ms": 5.0,
    }
    write(tmp_path, "cart_events", {"command": "bench cart", "rows": [row]})

    document = render(tmp_path, baselines={}, now=NOW)

    assert (
        "| process | INFO | 10000 | 0.50 ms; target 1.00 ms; 0.50x the target, target met | "
        "6.00 ms; target 5.00 ms; 1.20x the target, target missed | 1,500 |"
    ) in document
    assert "Not measured: run `.venv/bin/python bench/bench_order_events.py`." in document
