"""Each function as Lambda runs it: a pool of warm containers, each a process of its own
(local_runner.container), one invocation at a time per container, as many at once as the function's
concurrency allows.

- A container starts on demand (a real cold start: a new Python process imports the handler) when every
  warm one is busy and the function is below its concurrency; beyond that an invocation waits for a
  container to come free. (Lambda would throttle instead; waiting keeps a local burst from failing.)
- Containers stay warm between invocations, so module-level clients, caches and Powertools state behave
  as in AWS, and two containers never share them.
- An invocation that runs past the function's Timeout is ended as Lambda ends it: the container is
  killed and the invocation fails with "Task timed out after N seconds". A container that dies is replaced.
- A container's environment is fixed when it starts. When the function's configuration (its environment)
  changes, as after UpdateFunctionConfiguration, warm containers are retired and new ones start.

Python's multiprocessing pools are not used: a pool worker cannot be killed at a timeout without
losing the pool, and its workers are forked from a process that runs threads.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import queue
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from local_runner.container import END_OF_LINES
from local_runner.template import FunctionSpec

log = logging.getLogger("local_runner.workers")

# How long a new container may take to import its handler (Lambda's own init limit is 10 s; a loaded
# 2-core machine starting several containers at once needs more).
INIT_TIMEOUT_SECONDS = 60.0
# How long the runner waits, after a result, for the invocation's last log lines to be passed on.
LOG_DRAIN_SECONDS = 5.0


class FunctionError(Exception):
    """An invocation failed: the handler raised, timed out, or its container died (as Lambda reports it)."""

    def __init__(self, function_name: str, error_type: str, message: str) -> None:
        super().__init__(f"{function_name} failed: {error_type}: {message}")
        self.error_type = error_type
        self.error_message = message


class LogStream:
    """Where every container's output lines go. A line comes as `FunctionName request-id message`: it is
    echoed whole to a stream (the runner's stderr), and its message alone (what CloudWatch stores as the
    event, the function and request id being the stream's and the event's metadata there) goes to every
    capture that is open."""

    def __init__(self, echo: Callable[[], TextIO | None] = lambda: sys.__stderr__) -> None:
        self._echo = echo
        self._captures: list[tuple[Any, bool]] = []
        self._lock = threading.Lock()

    def write_line(self, line: str) -> None:
        with self._lock:
            target = self._echo()
            if target is not None:
                target.write(line + "\n")
            message = line.split(" ", 2)[2] if line.count(" ") >= 2 else line
            for capture, whole in self._captures:
                capture.write((line if whole else message) + "\n")

    @contextlib.contextmanager
    def capture(self, into: Any = None, whole_lines: bool = False) -> Iterator[Any]:
        """Every line's message, while open, to `into` (anything with `write`), or to a new StringIO; with
        `whole_lines`, the line as echoed (`FunctionName request-id message`), for counting by function."""
        stream = io.StringIO() if into is None else into
        entry = (stream, whole_lines)
        with self._lock:
            self._captures.append(entry)
        try:
            yield stream
        finally:
            with self._lock:
                self._captures.remove(entry)


@dataclass(frozen=True)
class InvocationReport:
    """What Lambda's REPORT line says of an invocation that answered: its duration (the handler's run, without a cold
    start or a wait for a free container) and, apart, the CPU time its handler used."""

    function: str
    seconds: float
    cpu_seconds: float
    event: Any

    @property
    def records(self) -> int:
        """SQS records in the batch; 1 for any other event."""
        records = self.event.get("Records") if isinstance(self.event, dict) else None
        return len(records) if isinstance(records, list) and records else 1


class Container:
    """One process running one function's handler."""

    def __init__(self, spec: FunctionSpec, project_root: Path, environment: dict[str, str], logs: LogStream) -> None:
        self.spec = spec
        self.environment = environment
        self._logs = logs
        self._answers: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._lines_ended: queue.Queue[str] = queue.Queue()
        self._ready = False
        # Seconds the last invocation ran, and the CPU seconds its handler used (set once it answers).
        self.last_duration = 0.0
        self.last_cpu_seconds = 0.0
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "local_runner.container",
                spec.logical_id,
                spec.code_uri,
                spec.handler,
                str(spec.memory_size),
                str(spec.timeout),
            ],
            cwd=project_root,
            env=environment,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            bufsize=1,
        )
        threading.Thread(target=self._read_answers, name=f"{spec.logical_id}-answers", daemon=True).start()
        threading.Thread(target=self._read_logs, name=f"{spec.logical_id}-logs", daemon=True).start()

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def _read_answers(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._answers.put(json.loads(line))
        self._answers.put(None)  # the container exited

    def _read_logs(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            if line.startswith(END_OF_LINES):
                self._lines_ended.put(line[len(END_OF_LINES) :].strip())
                continue
            self._logs.write_line(line.rstrip("\n"))

    def _next_answer(self, timeout: float, what: str) -> dict[str, Any]:
        try:
            answer = self._answers.get(timeout=timeout)
        except queue.Empty:
            self.kill()
            raise FunctionError(self.spec.logical_id, "Timeout", what) from None
        if answer is None:
            raise FunctionError(
                self.spec.logical_id, "Runtime.ExitError", f"the container exited (code {self.process.wait()})"
            )
        return answer

    def invoke(self, event: Any, request_id: str) -> Any:
        if not self._ready:
            self._next_answer(INIT_TIMEOUT_SECONDS, f"the handler did not load in {INIT_TIMEOUT_SECONDS:.0f} s")
            self._ready = True
        request = {"request_id": request_id, "event": event, "started_at": time.time()}
        assert self.process.stdin is not None
        # What Lambda's REPORT line calls Duration: the handler's run, without the cold start or a wait for a container.
        started = time.perf_counter()
        try:
            self.process.stdin.write(json.dumps(request) + "\n")
            self.process.stdin.flush()
        except (BrokenPipeError, OSError) as error:
            raise FunctionError(self.spec.logical_id, "Runtime.ExitError", f"the container is gone: {error}") from None
        answer = self._next_answer(self.spec.timeout, f"Task timed out after {self.spec.timeout:.2f} seconds")
        self.last_duration = time.perf_counter() - started
        self.last_cpu_seconds = float(answer.get("cpu_seconds") or 0.0)
        self._wait_for_lines(request_id)
        if "error" in answer:
            failure = answer["error"]
            raise FunctionError(self.spec.logical_id, str(failure["errorType"]), str(failure["errorMessage"]))
        return answer.get("result")

    def _wait_for_lines(self, request_id: str) -> None:
        """Until the invocation's log lines are passed on: a caller reading them after the result (a test,
        like someone reading CloudWatch) then finds every one."""
        deadline = time.monotonic() + LOG_DRAIN_SECONDS
        while (left := deadline - time.monotonic()) > 0:
            try:
                if self._lines_ended.get(timeout=left) == request_id:
                    return
            except queue.Empty:
                return

    def kill(self) -> None:
        if self.alive:
            self.process.kill()
        with contextlib.suppress(Exception):
            self.process.wait(timeout=5)

    def stop(self) -> None:
        """Ends the container after the invocation it runs (closing stdin ends its loop)."""
        with contextlib.suppress(Exception):
            assert self.process.stdin is not None
            self.process.stdin.close()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.kill()


class FunctionPool:
    """A function's containers, at most `concurrency` of them, each running one invocation at a time."""

    def __init__(
        self,
        spec: FunctionSpec,
        project_root: Path,
        environment: Callable[[], dict[str, str]],
        concurrency: int,
        logs: LogStream,
    ) -> None:
        self.spec = spec
        self.concurrency = concurrency
        self._root = project_root
        self._environment_now = environment
        self._environment: dict[str, str] | None = None
        self._logs = logs
        self._idle: list[Container] = []
        self._all: set[Container] = set()
        self._starting = 0
        self._busy = 0
        self._stopped = False
        self._condition = threading.Condition()
        self.cold_starts = 0
        self.peak_concurrency = 0
        # Called after each invocation that answered.
        self.listeners: list[Callable[[InvocationReport], None]] = []

    def invoke(self, event: Any) -> Any:
        container = self._acquire()
        try:
            result = container.invoke(event, str(uuid.uuid4()))
            report = InvocationReport(self.spec.logical_id, container.last_duration, container.last_cpu_seconds, event)
            for listener in list(self.listeners):
                listener(report)
            return result
        finally:
            self._release(container)

    @property
    def busy(self) -> int:
        return self._busy

    def _acquire(self) -> Container:
        environment = self._environment_now()
        with self._condition:
            while True:
                if self._stopped:
                    raise FunctionError(self.spec.logical_id, "Stopped", "the runner is stopping")
                if environment != self._environment:
                    # A new configuration: containers started with the old one are not used again.
                    self._environment = environment
                    self._retire(self._idle)
                    self._idle = []
                if self._idle:
                    container = self._idle.pop()  # the most recently used: the warmest
                    self._mark_busy()
                    return container
                if len(self._all) + self._starting < self.concurrency:
                    self._starting += 1
                    break
                self._condition.wait()
        try:
            container = Container(self.spec, self._root, environment, self._logs)
        except BaseException:
            with self._condition:
                self._starting -= 1
                self._condition.notify()
            raise
        with self._condition:
            self._starting -= 1
            self._all.add(container)
            self.cold_starts += 1
            self._mark_busy()
        return container

    def _mark_busy(self) -> None:
        self._busy += 1
        self.peak_concurrency = max(self.peak_concurrency, self._busy)

    def _release(self, container: Container) -> None:
        with self._condition:
            self._busy -= 1
            if container.alive and container.environment == self._environment and not self._stopped:
                self._idle.append(container)
            else:
                self._retire([container])
            self._condition.notify()

    def _retire(self, containers: list[Container]) -> None:
        for container in containers:
            self._all.discard(container)
            threading.Thread(target=container.stop, daemon=True).start()

    def stop(self) -> None:
        with self._condition:
            self._stopped = True
            containers = list(self._all)
            self._all.clear()
            self._idle = []
            self._condition.notify_all()
        for container in containers:
            container.kill()
