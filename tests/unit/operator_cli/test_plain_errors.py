"""Errors no command handles itself are told in plain words with what to do, never as a traceback: a missing
`--env-file`, AWS out of reach (the local runner not started), no AWS region, the local runner not answering
`status`. Each runs the real CLI against a closed port on the loopback: nothing is mocked."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from operator_cli import main as operator_main


def closed_port() -> int:
    """A port nothing listens on (bound, then released): a connection to it is refused at once."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.fixture
def settings_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An env file (empty: what it would set is set here, so the test process gets it back as it was) and AWS at a
    closed port, as when the local runner wrote its settings and was stopped."""
    url = f"http://127.0.0.1:{closed_port()}"
    for name, value in {
        "AWS_ENDPOINT_URL": url,
        "LOCAL_RUNNER_URL": url,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_MAX_ATTEMPTS": "1",
    }.items():
        monkeypatch.setenv(name, value)
    path = tmp_path / "runner.env"
    path.write_text("")
    return path


def test_a_missing_env_file_is_named_with_how_to_get_one(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / ".local" / "runner.env"
    assert operator_main.main(["--env-file", str(missing), "stores", "list"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"commerce-sync stores list: error: {missing} does not exist: start the local runner")
    assert "commerce-sync-local --port 3000" in err and "--stack NAME" in err and "Traceback" not in err


def test_aws_out_of_reach_says_so_and_what_to_start(settings_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert operator_main.main(["--env-file", str(settings_file), "stores", "show", "my-shop"]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("commerce-sync stores show: error: AWS could not be reached at http://127.0.0.1:")
    assert "is the local runner running?" in err and "commerce-sync-local --port 3000" in err
    assert "Traceback" not in err and "EndpointConnectionError" not in err


def test_no_region_says_how_to_give_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("AWS_DEFAULT_REGION", "AWS_REGION", "AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    assert operator_main.main(["rotation-status"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("commerce-sync rotation-status: error: no AWS region is set: give --env-file")
    assert "Traceback" not in err


def test_status_without_the_local_runner_says_it_did_not_answer_on_stderr(
    settings_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert operator_main.main(["--env-file", str(settings_file), "status"]) == 1
    out, err = capsys.readouterr()
    assert out == "", "stdout is for the status, not for the error"
    assert err.startswith("commerce-sync status: error: the local runner at http://127.0.0.1:")
    assert "is it running?" in err and "commerce-sync-local --port 3000" in err
