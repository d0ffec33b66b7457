"""`make build` (sam build, without Docker) makes every function and the layer for arm64: the built template says
so, and the layer's compiled modules (charset_normalizer's, through requests) are aarch64 machine code."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
ELF_MACHINE_AARCH64 = 0xB7


def elf_machine(path: Path) -> int:
    header = path.read_bytes()[:20]
    assert header[:4] == b"\x7fELF", f"{path} is not an ELF object"
    return int.from_bytes(header[18:20], "little")


def test_sam_build_makes_the_functions_and_the_layer_for_arm64(tmp_path: Path) -> None:
    pyenv = shutil.which("pyenv")
    assert pyenv, "pyenv (with Python 3.13, which sam build needs) is on these machines"
    prefix = subprocess.run([pyenv, "prefix", "3.13"], capture_output=True, text=True, check=True).stdout.strip()
    build_dir = tmp_path / "build"
    environment = {**os.environ, "PATH": f"{prefix}/bin:{os.environ['PATH']}", "SAM_CLI_TELEMETRY": "0"}
    sam = ROOT / ".venv" / "bin" / "sam"
    result = subprocess.run(
        [str(sam), "build", "--template", "template.yaml", "--build-dir", str(build_dir)],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr

    built = yaml.load((build_dir / "template.yaml").read_text(), Loader=yaml.BaseLoader)
    assert built["Globals"]["Function"]["Architectures"] == ["arm64"]
    compiled = list((build_dir / "CommerceSyncLayer").rglob("*.so"))
    assert compiled, "requests brings charset_normalizer's compiled modules"
    assert {elf_machine(module) for module in compiled} == {ELF_MACHINE_AARCH64}
    assert all("aarch64" in module.name for module in compiled)
