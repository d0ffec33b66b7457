"""`commerce-sync-local --state-dir`: two runners in one checkout each write their own runner.env, and the
operator CLI reaches each one through its own file."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from local_runner.runner import PROJECT_ROOT

COMMAND = [sys.executable, "-m", "local_runner.main", "--port", "0"]


def wait_for(path: Path, process: subprocess.Popen[str], timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert process.poll() is None, f"the runner exited with {process.returncode}"
        assert time.monotonic() < deadline, f"{path} was not written"
        time.sleep(0.1)
    return path.read_text()


def test_two_runners_in_one_checkout_keep_their_settings_apart(tmp_path: Path) -> None:
    runners = [
        subprocess.Popen(
            [*COMMAND, "--state-dir", str(tmp_path / name)],
            cwd=PROJECT_ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        for name in ("one", "two")
    ]
    try:
        files = [
            wait_for(tmp_path / name / "runner.env", runner)
            for name, runner in zip(("one", "two"), runners, strict=True)
        ]
        urls = [next(line for line in text.splitlines() if "LOCAL_RUNNER_URL=" in line) for text in files]
        assert urls[0] != urls[1], "each file leads to its own runner"
        for name in ("one", "two"):
            status = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "operator_cli.main",
                    "--env-file",
                    str(tmp_path / name / "runner.env"),
                    "status",
                    # The exit code then answers only the wait (0 once idle), not what needs attention.
                    "--wait-idle",
                    # A fresh runner's Mailchimp is no emulator: nothing to read there.
                    "--skip-mailchimp",
                ],
                cwd=PROJECT_ROOT,
                capture_output=True,
                text=True,
                timeout=180,
            )
            assert status.returncode == 0 and status.stdout.startswith("idle"), status.stderr
        assert not (PROJECT_ROOT / ".local" / "runner.env").exists() or all(
            url not in (PROJECT_ROOT / ".local" / "runner.env").read_text() for url in urls
        ), "nothing written to the default place"
    finally:
        for runner in runners:
            runner.send_signal(signal.SIGINT)
        for runner in runners:
            try:
                runner.wait(timeout=20)
            except subprocess.TimeoutExpired:
                runner.kill()
