"""The local runner's containers (local_runner.workers) behave as Lambda's: one process per concurrent
invocation, warm between invocations, never more at once than the function's concurrency, a timeout that
kills the container, a failure reported with its type and message, logs carrying function and request id,
and new containers once the configuration changes."""

from __future__ import annotations

import contextlib
import io
import os
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from local_runner.runner import PROJECT_ROOT
from local_runner.template import FunctionSpec
from local_runner.workers import FunctionError, FunctionPool, LogStream

CODE_URI = "tests/integration/local_functions/sleeper"


def spec(timeout: int = 10) -> FunctionSpec:
    return FunctionSpec(
        logical_id="SleeperFunction",
        code_uri=CODE_URI,
        handler="app.lambda_handler",
        environment={},
        own_environment={},
        timeout=timeout,
        memory_size=128,
    )


@pytest.fixture
def settings() -> dict[str, str]:
    return {**os.environ, "SLEEPER_SETTING": "first"}


@pytest.fixture
def logs() -> LogStream:
    return LogStream(lambda: None)


@pytest.fixture
def pool(settings: dict[str, str], logs: LogStream) -> Iterator[FunctionPool]:
    functions = FunctionPool(spec(), PROJECT_ROOT, lambda: dict(settings), concurrency=3, logs=logs)
    yield functions
    functions.stop()


def invoke_at_once(pool: FunctionPool, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    results: list[Any] = [None] * len(events)

    def run(index: int) -> None:
        results[index] = pool.invoke(events[index])

    threads = [threading.Thread(target=run, args=(index,)) for index in range(len(events))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


def test_invocations_at_once_run_in_processes_of_their_own_up_to_the_concurrency(pool: FunctionPool) -> None:
    results = invoke_at_once(pool, [{"sleep": 1}] * 5)

    pids = {result["pid"] for result in results}
    assert len(pids) == 3 and os.getpid() not in pids, "three containers, none of them this process"
    assert pool.peak_concurrency == 3 and pool.cold_starts == 3
    warm = pool.invoke({})
    assert warm["pid"] in pids and warm["loaded_in"] == warm["pid"], "a warm container is reused"
    assert pool.cold_starts == 3


def test_a_failure_is_reported_with_its_type_and_message_and_the_container_stays_warm(pool: FunctionPool) -> None:
    first = pool.invoke({})
    with pytest.raises(FunctionError, match="ValueError: asked to fail: on purpose"):
        pool.invoke({"fail": "on purpose"})
    assert pool.invoke({})["pid"] == first["pid"]


def test_an_invocation_past_its_timeout_kills_its_container(settings: dict[str, str], logs: LogStream) -> None:
    pool = FunctionPool(spec(timeout=1), PROJECT_ROOT, lambda: dict(settings), concurrency=1, logs=logs)
    try:
        first = pool.invoke({})
        assert 0 < first["remaining_ms"] <= 1000
        with pytest.raises(FunctionError, match=r"Task timed out after 1\.00 seconds"):
            pool.invoke({"sleep": 5})
        assert pool.invoke({})["pid"] != first["pid"], "a new container after the timeout"
    finally:
        pool.stop()


def test_every_line_a_function_prints_names_the_function_and_the_request(
    settings: dict[str, str], echoed: list[str]
) -> None:
    logs = LogStream(lambda: _Lines(echoed))
    pool = FunctionPool(spec(), PROJECT_ROOT, lambda: dict(settings), concurrency=1, logs=logs)
    try:
        with logs.capture() as captured:
            result = pool.invoke({"tag": "hello"})
            # No waiting: an invocation's lines are passed on before its result is returned.
            lines_when_it_returned = list(echoed)
    finally:
        pool.stop()

    (line,) = lines_when_it_returned
    assert line == f"SleeperFunction {result['request_id']} invoked: hello\n", "the runner's stderr: who and which"
    assert captured.getvalue() == "invoked: hello\n", "a capture holds the message, as CloudWatch stores it"


@pytest.fixture
def echoed() -> list[str]:
    return []


class _Lines:
    """A text stream that keeps what is written (the runner's stderr, here)."""

    def __init__(self, lines: list[str]) -> None:
        self._lines = lines

    def write(self, text: str) -> None:
        self._lines.append(text)


def test_a_changed_configuration_retires_warm_containers(pool: FunctionPool, settings: dict[str, str]) -> None:
    before = pool.invoke({})
    settings["SLEEPER_SETTING"] = "second"

    after = pool.invoke({})

    assert (before["setting"], after["setting"]) == ("first", "second")
    assert after["pid"] != before["pid"]


def test_echoed_lines_go_to_the_process_stderr_not_to_an_output_being_captured_in_the_meantime() -> None:
    # A late delivery's log line used to be written into the stderr a test had captured from the operator CLI
    # (the echo followed sys.stderr as it was when the line arrived), and the CLI's error message compared wrong.
    logs = LogStream()
    captured = io.StringIO()
    with contextlib.redirect_stderr(captured), logs.capture() as messages:
        logs.write_line("CartEventsFunction 0b1c request seen")

    assert captured.getvalue() == ""
    assert messages.getvalue() == "request seen\n"
