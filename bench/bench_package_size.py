"""Deployment package and layer size per function, zipped and unzipped, against Lambda's 250 MB unzipped limit
(function code and every layer together).

Sources, in order: `sam build`'s output in .aws-sam/build (run `make build` first, or pass --build), else a
`pip install --target` of the layer's requirements plus its code into a scratch directory (printed as the
method). The Powertools layer is a public layer (PowertoolsLayerArn); its size is estimated from the
distributions it ships (aws-lambda-powertools, pydantic, aws-xray-sdk and their dependencies) as installed in
the venv. boto3 comes with the runtime and counts against no limit. Written to .bench-results/package_size.json.

    .venv/bin/python bench/bench_package_size.py [--build]
"""

from __future__ import annotations

import argparse
import io
import subprocess
import sys
import tempfile
import zipfile
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]

from results import write_results  # noqa: E402

LIMIT_BYTES = 250 * 1024 * 1024
BUILD_DIR = ROOT / ".aws-sam" / "build"
LAYER_ID = "CommerceSyncLayer"
# What the public Powertools layer (v3, Python 3.13, x86_64) carries besides Powertools itself.
POWERTOOLS_LAYER_DISTRIBUTIONS = (
    "aws-lambda-powertools",
    "pydantic",
    "pydantic-core",
    "annotated-types",
    "typing-extensions",
    "typing-inspection",
    "aws-xray-sdk",
    "wrapt",
    "jmespath",
)
SKIPPED_PARTS = {"__pycache__", ".pytest_cache"}


def files_under(directory: Path) -> list[Path]:
    return sorted(path for path in directory.rglob("*") if path.is_file() and not SKIPPED_PARTS & set(path.parts))


def zipped_and_unzipped(files: list[tuple[Path, str]]) -> tuple[int, int]:
    """(zip size, sum of file sizes) of these files stored under these archive names, as a deployment zip."""
    buffer = io.BytesIO()
    unzipped = 0
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path, name in files:
            archive.write(path, name)
            unzipped += path.stat().st_size
    return len(buffer.getvalue()), unzipped


def directory_size(directory: Path) -> tuple[int, int]:
    return zipped_and_unzipped([(path, str(path.relative_to(directory))) for path in files_under(directory)])


def powertools_layer_size() -> tuple[int, int]:
    files: list[tuple[Path, str]] = []
    for name in POWERTOOLS_LAYER_DISTRIBUTIONS:
        try:
            distribution = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        for entry in distribution.files or []:
            path = Path(str(distribution.locate_file(entry)))
            if path.is_file() and "__pycache__" not in path.parts:
                files.append((path, f"python/{entry}"))
    return zipped_and_unzipped(files)


def function_names() -> dict[str, str]:
    """Function directory name → logical id, from template.yaml."""
    from local_runner.runner import DEFAULT_TEMPLATE
    from local_runner.template import Template

    return {Path(spec.code_uri.rstrip("/")).name: spec.logical_id for spec in Template(DEFAULT_TEMPLATE).functions()}


def pip_layer(scratch: Path) -> Path:
    """The layer as sam build makes it: python/ holding the requirements and the commerce_sync package."""
    target = scratch / "python"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--target",
            str(target),
            "-c",
            str(ROOT / "constraints.txt"),
            "-r",
            str(ROOT / "layers" / "commerce_sync" / "requirements.txt"),
        ],
        check=True,
    )
    code = ROOT / "layers" / "commerce_sync" / "commerce_sync"
    for path in files_under(code):
        destination = target / "commerce_sync" / path.relative_to(code)
        destination.parent.mkdir(parents=True, exist_ok=True)
        destination.write_bytes(path.read_bytes())
    return scratch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", action="store_true", help="run `make build` (sam build) first")
    args = parser.parse_args()
    if args.build:
        subprocess.run(["make", "build"], cwd=ROOT, check=True)
    names = function_names()
    with tempfile.TemporaryDirectory() as scratch:
        if (BUILD_DIR / LAYER_ID).is_dir() and all((BUILD_DIR / logical).is_dir() for logical in names.values()):
            method = "`sam build` (`make build`), .aws-sam/build"
            layer = directory_size(BUILD_DIR / LAYER_ID)
            code_dir = {name: BUILD_DIR / logical for name, logical in names.items()}
        else:
            method = "`pip install --target` of the layer's requirements.txt plus its code (no sam build output)"
            layer = directory_size(pip_layer(Path(scratch)))
            code_dir = {name: ROOT / "functions" / name for name in names}
        powertools = powertools_layer_size()
        rows: list[dict[str, Any]] = []
        print(f"package sizes from {method}; Powertools layer estimated from the venv's distributions")
        print(f"  commerce-sync layer: {layer[0]:,} bytes zipped, {layer[1]:,} unzipped")
        print(f"  Powertools layer (estimate): {powertools[0]:,} bytes zipped, {powertools[1]:,} unzipped")
        for name in sorted(names):
            code = directory_size(code_dir[name])
            total = code[1] + layer[1] + powertools[1]
            rows.append(
                {
                    "function": name,
                    "code_zipped_bytes": code[0],
                    "code_unzipped_bytes": code[1],
                    "layers_zipped_bytes": layer[0] + powertools[0],
                    "layers_unzipped_bytes": layer[1] + powertools[1],
                    "commerce_sync_layer_zipped_bytes": layer[0],
                    "commerce_sync_layer_unzipped_bytes": layer[1],
                    "powertools_layer_zipped_bytes": powertools[0],
                    "powertools_layer_unzipped_bytes": powertools[1],
                    "total_unzipped_bytes": total,
                }
            )
            verdict = "target met" if total <= LIMIT_BYTES else "target missed"
            print(
                f"  {name:18} code {code[0]:,} zipped / {code[1]:,} unzipped; with layers {total / 2**20:.1f} MB "
                f"unzipped of 250 MB ({total / LIMIT_BYTES:.3f}x the limit: {verdict})"
            )
    command = ".venv/bin/python bench/bench_package_size.py" + (" --build" if args.build else "")
    write_results("package_size", {"command": command, "method": method, "limit_bytes": LIMIT_BYTES, "rows": rows})


if __name__ == "__main__":
    main()
