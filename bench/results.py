"""Where the benches keep their figures: one JSON file per bench in .bench-results/, which bench/report.py
renders into docs/performance.md (so the document can be rendered again without running anything)."""

from __future__ import annotations

import json
import math
import os
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = Path(os.environ.get("BENCH_RESULTS_DIR", ROOT / ".bench-results"))


def machine() -> dict[str, Any]:
    """What the figures were measured on: they move with the machine and its load."""
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "load_average": [round(load, 2) for load in os.getloadavg()],
        "platform": sys.platform,
    }


def write_results(name: str, figures: dict[str, Any]) -> Path:
    """Write `.bench-results/<name>.json`: the bench's figures and the machine they were measured on."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    path.write_text(json.dumps({"machine": machine(), **figures}, indent=2, default=str) + "\n", encoding="utf-8")
    return path


def latency_row(
    step: str, log_level: str, durations_ns: list[int], target_p50_ms: float, target_p99_ms: float
) -> dict[str, Any]:
    """One timed step's figures as bench/report.py renders them (nearest-rank percentiles, as the benches print)."""
    ordered = sorted(durations_ns)

    def percentile_ms(fraction: float) -> float:
        return ordered[max(1, math.ceil(fraction * len(ordered))) - 1] / 1e6

    mean_ms = sum(ordered) / len(ordered) / 1e6
    return {
        "step": step,
        "log_level": log_level,
        "events": len(ordered),
        "p50_ms": percentile_ms(0.50),
        "p90_ms": percentile_ms(0.90),
        "p99_ms": percentile_ms(0.99),
        "max_ms": ordered[-1] / 1e6,
        "mean_ms": mean_ms,
        "events_per_second": 1000 / mean_ms,
        "target_p50_ms": target_p50_ms,
        "target_p99_ms": target_p99_ms,
    }
