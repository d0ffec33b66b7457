"""Cold-start init and import-time memory of every function in template.yaml.

For each function, `--runs` fresh interpreters each import the handler module (functions/<name>/app.py, as
Lambda's runtime does: the function's directory and the layer on the path, the environment the template
gives it, resource names as placeholders) and report the import's wall time and the interpreter's peak RSS
(VmHWM, /proc/self/status) once it is imported. Interpreter start-up itself is not in the figure: Lambda
bills it too, but no code of ours can change it. Printed: median and p90 import time against the 300 ms
target, and the median peak RSS. Written to .bench-results/cold_start.json. (Not resource.getrusage's ru_maxrss:
Linux carries the high-water mark of the image before exec over, so a child of this bench would report this
bench's own memory, 88 MB, whatever it imported; VmHWM is the child's own.)

The interpreter sees only what Lambda has, not the venv (whose dev tools change what botocore and urllib3
import: awscrt, pyOpenSSL): `python -S` with the function, the layer and a site directory holding the
runtime's boto3 and the Powertools layer's packages (Powertools, pydantic, aws-xray-sdk) and the layer's
requirements, at constraints.txt's versions (`pip install --target`, made once into .bench-results/).
LAMBDA_TASK_ROOT is set, so Powertools' Tracer is on, as with the template's `Tracing: Active`.

The interpreter is the template's runtime (`Runtime: python3.13`) when this machine has it (on PATH or under
pyenv, as `sam build` finds it), because that is the Python Lambda imports the handler with and import times
differ between versions; otherwise the venv's own Python, and the report names the version measured. The site
directory is installed by that interpreter, so it holds wheels for it. `--python PATH` picks another.

    .venv/bin/python bench/bench_cold_start.py [--runs 20] [--function cart_events ...] [--importtime] [--python PATH]
        [--instructions]

--importtime prints, per function, the slowest modules of one import (python -X importtime, cumulative).

--instructions also counts, once per function, the CPU instructions of the import (valgrind's callgrind, when this
machine has valgrind; the interpreter's own start-up subtracted). Wall times on a shared machine move with its load
(the floor alone measured 204 ms on one idle evening and 239-293 ms on another); the instruction count repeats to
the digit, so it is the figure to compare code by. Each is also given as milliseconds at the speed of this run's
fastest floor import (its instructions over its minimum time): what the import would take on this machine unloaded.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]

from results import RESULTS_DIR, machine, write_results  # noqa: E402

TARGET_MS = 300.0
COMMAND = ".venv/bin/python bench/bench_cold_start.py"

# Runs in the fresh interpreter: import the handler as Lambda's bootstrap does (module `app` from the
# function's directory) and print the import time and the peak RSS after it.
_PROBE = """
import importlib, json, resource, sys, time
started = time.perf_counter()
{body}
elapsed = time.perf_counter() - started
with open("/proc/self/status") as status:
    hwm = [int(line.split()[1]) for line in status if line.startswith("VmHWM:")]
print(json.dumps({{"import_ms": elapsed * 1000, "maxrss_kb": hwm[0] if hwm else resource.getrusage(0).ru_maxrss}}))
"""
HANDLER = 'importlib.import_module("app")'
# What every function imports before any code of ours: the runtime's boto3 and the Powertools singletons
# (commerce_sync.aws.observability builds these three), with pydantic. No handler can import faster than this.
FLOOR_NAME = "(floor: boto3, Powertools Logger/Metrics/Tracer, pydantic)"
FLOOR = """
import boto3, pydantic
from aws_lambda_powertools import Logger, Metrics, Tracer
Logger(service="floor"); Tracer(); Metrics(namespace="floor")
"""


def function_environments() -> dict[str, dict[str, str]]:
    """Each function's name (its CodeUri directory) and the environment the template gives it, with every
    resource reference resolved to a placeholder (the logical id) and parameters to their defaults."""
    from local_runner.runner import DEFAULT_TEMPLATE
    from local_runner.template import Template

    template = Template(DEFAULT_TEMPLATE)
    environments = {}
    for spec in template.functions():
        name = Path(spec.code_uri.rstrip("/")).name
        environments[name] = {key: str(template.resolve(value)) for key, value in spec.environment.items()}
    return dict(sorted(environments.items()))


# What a Lambda function's interpreter can import besides the standard library: the runtime's boto3, the public
# Powertools layer (with pydantic and aws-xray-sdk) and our layer's requirements.
LAMBDA_PACKAGES = ("boto3", "aws-lambda-powertools", "aws-xray-sdk", "pydantic", "requests")


def runtime_python() -> str:
    """The interpreter of the template's runtime (python3.13) if this machine has one, else this bench's own."""
    from local_runner.runner import DEFAULT_TEMPLATE
    from local_runner.template import Template

    runtime = str(Template(DEFAULT_TEMPLATE).document.get("Globals", {}).get("Function", {}).get("Runtime", ""))
    version = runtime.removeprefix("python")
    if not version:
        return sys.executable
    pyenv_root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    candidates = [
        *(str(path) for path in sorted(pyenv_root.glob(f"versions/{version}*/bin/python{version}"), reverse=True)),
        *filter(None, [shutil.which(f"python{version}")]),
    ]
    # A pyenv shim is on PATH even where it cannot run that version: take the first that answers.
    return next((candidate for candidate in candidates if interpreter_version(candidate)), sys.executable)


def interpreter_version(python: str) -> str:
    """The interpreter's version, "" when it does not run."""
    answer = subprocess.run([python, "-c", "import platform; print(platform.python_version())"], capture_output=True)
    return answer.stdout.decode().strip() if answer.returncode == 0 else ""


def lambda_site(python: str) -> Path:
    """A site directory of LAMBDA_PACKAGES at constraints.txt's versions for `python`, installed once per lock."""
    constraints = ROOT / "constraints.txt"
    version = interpreter_version(python)
    digest = hashlib.sha256(constraints.read_bytes() + " ".join(LAMBDA_PACKAGES).encode()).hexdigest()[:12]
    site = (
        RESULTS_DIR / f"lambda-site-{digest}"
        if python == sys.executable
        else RESULTS_DIR / f"lambda-site-{digest}-{version}"
    )
    if not (site / ".installed").exists():
        pip = [python, "-m", "pip", "install", "-q", "--target", str(site), "-c", str(constraints)]
        subprocess.run([*pip, *LAMBDA_PACKAGES], check=True)
        (site / ".installed").touch()
    return site


def lambda_environment(name: str, function_env: dict[str, str], site: Path) -> dict[str, str]:
    """What the runtime adds: region, function name, task root, the code and layers on PYTHONPATH; dummy
    credentials so nothing looks further for any (no call is made at import)."""
    task_root = ROOT / "functions" / name
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_LAMBDA_FUNCTION_NAME": name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
        "LAMBDA_TASK_ROOT": str(task_root),
        "_HANDLER": "app.lambda_handler",
        "PYTHONPATH": os.pathsep.join([str(task_root), str(ROOT / "layers" / "commerce_sync"), str(site)]),
        **function_env,
    }


def probe(python: str, name: str, env: dict[str, str], body: str = HANDLER) -> dict[str, float]:
    answer = subprocess.run(
        [python, "-S", "-c", _PROBE.format(body=body)],
        env=env,
        cwd=ROOT / "functions" / name,
        capture_output=True,
        text=True,
    )
    if answer.returncode != 0:
        raise SystemExit(f"importing functions/{name}/app.py failed:\n{answer.stderr[-3000:]}")
    outcome: dict[str, float] = json.loads(answer.stdout.strip().splitlines()[-1])
    return outcome


def slowest_imports(python: str, name: str, env: dict[str, str], top: int = 15) -> list[tuple[int, str]]:
    answer = subprocess.run(
        [python, "-S", "-X", "importtime", "-c", "import app"],
        env=env,
        cwd=ROOT / "functions" / name,
        capture_output=True,
        text=True,
        check=True,
    )
    rows = []
    for line in answer.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cumulative_us, module = line.split("|", 2)
        rows.append((int(cumulative_us), module.rstrip()))
    return sorted(rows, reverse=True)[:top]


def instructions(python: str, name: str, env: dict[str, str], body: str) -> int:
    """CPU instructions of `python -S -c body` (valgrind callgrind, exact and load-independent), less an empty
    interpreter's (start-up is not in the figures). The body is run once before, so its bytecode is cached as the
    timed runs found it."""

    def counted(code: str) -> int:
        subprocess.run([python, "-S", "-c", code], env=env, cwd=ROOT / "functions" / name, capture_output=True)
        with tempfile.TemporaryDirectory() as scratch:
            answer = subprocess.run(
                ["valgrind", "--tool=callgrind", f"--callgrind-out-file={scratch}/out", python, "-S", "-c", code],
                env=env,
                cwd=ROOT / "functions" / name,
                capture_output=True,
                text=True,
            )
        found = re.search(r"Collected : (\d+)", answer.stderr)
        if answer.returncode != 0 or found is None:
            raise SystemExit(f"valgrind could not count functions/{name}/app.py's import:\n{answer.stderr[-2000:]}")
        return int(found.group(1))

    return counted(body) - counted("pass")


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--function", action="append", help="only these functions (default: every one)")
    parser.add_argument("--importtime", action="store_true")
    parser.add_argument("--python", help="the interpreter to measure with (default: the template's runtime, if found)")
    parser.add_argument(
        "--instructions", action="store_true", help="also count each import's CPU instructions (valgrind callgrind)"
    )
    args = parser.parse_args()
    if args.instructions and shutil.which("valgrind") is None:
        raise SystemExit("--instructions needs valgrind on PATH")

    environments = function_environments()
    python = args.python or runtime_python()
    version = interpreter_version(python)
    site = lambda_site(python)
    names = args.function or list(environments)
    print(
        f"cold-start init: import of functions/<name>/app.py in {args.runs} fresh interpreters each (Python {version})"
    )
    rows: list[dict[str, Any]] = []
    # Round robin (every function once, then again): load that comes and goes weighs on each function alike.
    subjects = {name: (name, HANDLER) for name in names} | {FLOOR_NAME: (names[0], FLOOR)}
    envs = {name: lambda_environment(where, environments[where], site) for name, (where, _) in subjects.items()}
    measured: dict[str, list[dict[str, float]]] = {name: [] for name in subjects}
    for _ in range(args.runs):
        for name, (where, body) in subjects.items():
            measured[name].append(probe(python, where, envs[name], body))
    counts = (
        {
            name: instructions(python, where, envs[name], "import app" if body == HANDLER else body)
            for name, (where, body) in subjects.items()
        }
        if args.instructions
        else {}
    )
    # Milliseconds per instruction at this run's fastest floor import: the machine unloaded, as nearly as one run shows.
    floor_pace = min(p["import_ms"] for p in measured[FLOOR_NAME]) / counts[FLOOR_NAME] if counts else 0.0
    for name, probes in measured.items():
        floor = name == FLOOR_NAME
        env = envs[name]
        times = [p["import_ms"] for p in probes]
        rss = [p["maxrss_kb"] / 1024 for p in probes]
        row = {
            "function": name,
            "runs": args.runs,
            "median_ms": statistics.median(times),
            "p90_ms": percentile(times, 0.9),
            "min_ms": min(times),
            "max_ms": max(times),
            "target_ms": TARGET_MS,
            "import_peak_rss_mb": statistics.median(rss),
        }
        if counts:
            row["instructions_m"] = round(counts[name] / 1e6, 1)
            row["unloaded_ms"] = round(counts[name] * floor_pace, 1)
        rows.append(row)
        verdict = "target met" if row["median_ms"] <= TARGET_MS else "target missed"
        print(
            f"  {name:18} median {row['median_ms']:6.0f} ms, p90 {row['p90_ms']:6.0f} ms "
            f"(target {TARGET_MS:.0f} ms: {verdict}); peak RSS after import {row['import_peak_rss_mb']:.0f} MB"
        )
        if counts:
            unloaded = "met" if row["unloaded_ms"] <= TARGET_MS else "missed"
            print(
                f"  {'':18} {row['instructions_m']:,.1f} M instructions, {row['unloaded_ms']:.0f} ms at the fastest "
                f"floor import's pace (target {unloaded})"
            )
        if args.importtime and not floor:
            for cumulative_us, module in slowest_imports(python, name, env):
                print(f"      {cumulative_us / 1000:7.1f} ms  {module}")
    command = COMMAND + (" --instructions" if args.instructions else "")
    write_results(
        "cold_start", {"measured_at": machine()["date"], "command": command, "interpreter": version, "rows": rows}
    )


if __name__ == "__main__":
    main()
