"""Peak RSS per function: a fresh interpreter imports the handler module (functions/<name>/app.py) and then
processes a representative batch in-process, and reports its peak RSS, against the function's MemorySize: VmHWM
(/proc/self/status), falling back to resource.getrusage's ru_maxrss, which on Linux also carries the high-water mark
of the image before exec (this bench's own memory) into the child.

The batches are the warm benches' (AWS clients and Mailchimp's transport stubbed, bench/stubs.py, so the stubs'
tables are in the figure too): webhooks receives --events signed Shopify checkouts/update deliveries
(bench_cart_events' receive step), cart_events processes the cart.updated events they published (its process
step), order_status processes --events order events, new orders and status changes (bench_order_events' process
step). product_sync's figure is bench_product_sync.py's (a 100,000-product sync in a child process), read from
.bench-results/product_sync.json when present. key_rotation and mailchimp_connect: the import alone (their work
is one secret or one OAuth exchange, a few KB).

    .venv/bin/python bench/bench_peak_rss.py [--events 2000]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH)]

from results import RESULTS_DIR, write_results  # noqa: E402

# Run in the fresh interpreter: the bench module first (its first line: it sets the environment Powertools reads),
# the handler, then the batch; prints the peak RSS in kB.
_WORKLOADS = {
    "webhooks": """
import bench_cart_events as bench
world = bench.build_world()
bench.receive_step(world, bench.signed_deliveries(EVENTS, world.webhook_secret), 0)
""",
    "cart_events": """
import bench_cart_events as bench
world = bench.build_world()
bench.receive_step(world, bench.signed_deliveries(EVENTS, world.webhook_secret), 0)
bench.process_step(world, bench.sqs_bodies(world.events_client.entries), 0)
""",
    "order_status": """
import bench_order_events as bench
world = bench.build_world()
deliveries = bench.signed_deliveries(EVENTS, world.webhook_secret)
bench.seed_abandoned_carts(world, deliveries)
bench.receive_step(world, deliveries, 0)
bench.process_step(world, deliveries, 0)
""",
}
_IMPORT_ONLY = "pass\n"
_PROBE = """
import importlib, resource, sys
sys.path[:0] = [{function!r}, {layer!r}, {bench!r}]
EVENTS = {events}
{setup}
importlib.import_module("app")
{workload}
with open("/proc/self/status") as status:
    hwm = [int(line.split()[1]) for line in status if line.startswith("VmHWM:")]
print(hwm[0] if hwm else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""
_DESCRIPTIONS = {
    "webhooks": "import + {events:,} Shopify checkouts/update deliveries received",
    "cart_events": "import + {events:,} deliveries received and their {events:,} cart.updated events processed",
    "order_status": "import + {events:,} order events received and processed (new orders and status changes)",
    "key_rotation": "import only",
    "mailchimp_connect": "import only",
}


def memory_sizes() -> dict[str, int]:
    from local_runner.runner import DEFAULT_TEMPLATE
    from local_runner.template import Template

    return {Path(spec.code_uri.rstrip("/")).name: spec.memory_size for spec in Template(DEFAULT_TEMPLATE).functions()}


def measure(name: str, events: int) -> float:
    workload = _WORKLOADS.get(name, _IMPORT_ONLY)
    script = _PROBE.format(
        function=str(ROOT / "functions" / name),
        layer=str(ROOT / "layers" / "commerce_sync"),
        bench=str(BENCH),
        events=events,
        setup=workload.strip().splitlines()[0],
        workload="\n".join(workload.strip().splitlines()[1:]),
    )
    answer = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT)
    if answer.returncode != 0:
        raise SystemExit(f"{name}: the run failed:\n{answer.stderr[-3000:]}")
    return int(answer.stdout.strip().splitlines()[-1]) / 1024


def main() -> None:
    sys.path.insert(0, str(ROOT))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2000)
    args = parser.parse_args()
    sizes = memory_sizes()
    rows: list[dict[str, Any]] = []
    print("peak RSS per function (VmHWM of a fresh interpreter)")
    for name in sorted(sizes):
        if name == "product_sync":
            continue
        peak = measure(name, args.events)
        rows.append(
            {
                "function": name,
                "workload": _DESCRIPTIONS[name].format(events=args.events),
                "peak_rss_mb": peak,
                "memory_size_mb": sizes[name],
            }
        )
        print(f"  {name:18} {peak:6.0f} MB of {sizes[name]} MB ({rows[-1]['workload']})")
    product_sync = RESULTS_DIR / "product_sync.json"
    if product_sync.is_file():
        figures = json.loads(product_sync.read_text(encoding="utf-8"))
        peak = max(figures["first_rss_mb"], figures["second_rss_mb"])
        rows.append(
            {
                "function": "product_sync",
                "workload": f"catalog sync of {figures['products']:,} products, first run and re-run "
                f"(bench_product_sync.py's child, VmHWM)",
                "peak_rss_mb": peak,
                "memory_size_mb": sizes["product_sync"],
            }
        )
        print(f"  {'product_sync':18} {peak:6.0f} MB of {sizes['product_sync']} MB (from bench_product_sync.py)")
    rows.sort(key=lambda row: row["function"])
    write_results(
        "peak_rss", {"command": f".venv/bin/python bench/bench_peak_rss.py --events {args.events}", "rows": rows}
    )


if __name__ == "__main__":
    main()
