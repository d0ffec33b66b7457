"""One warm Lambda container: a process that loads one function's handler once and then runs
invocations one at a time, as the Lambda runtime does. `local_runner.workers` starts it and talks to it.

The protocol is JSON lines, as Lambda's runtime API is JSON: the parent writes
`{"request_id", "event", "deadline"}` on stdin; the container answers `{"result": ...}` or
`{"error": {"errorType", "errorMessage", "stackTrace"}}` on the stdout it was started with. Everything
the function prints or logs goes to stderr instead, each line prefixed with the function's name and the
request id of the invocation that wrote it (what CloudWatch shows beside each line), so the parent can
pass the lines on without mixing up whose they are.

    python -m local_runner.container FUNCTION_NAME CODE_URI HANDLER MEMORY_MB TIMEOUT_S
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import IO, Any

from local_runner.functions import LambdaContext, load_handler_module

# Starts the line that closes an invocation's output (NUL: never the start of a line a function prints).
END_OF_LINES = "\x00end-of-invocation "


class _RequestLines:
    """A text stream that writes each complete line with `FunctionName request-id ` in front."""

    def __init__(self, target: IO[str], function_name: str) -> None:
        self._target = target
        self._function_name = function_name
        self._pending = ""
        self._lock = threading.Lock()
        self.request_id = "-"

    def write(self, text: str) -> int:
        with self._lock:
            self._pending += text
            *lines, self._pending = self._pending.split("\n")
            for line in lines:
                self._target.write(f"{self._function_name} {self.request_id} {line}\n")
            if lines:
                self._target.flush()
        return len(text)

    def flush(self) -> None:
        self._target.flush()

    def end_invocation(self, request_id: str) -> None:
        """Writes what is left of an unfinished line, then the end marker of the invocation's lines, so
        the runner passes on every line of an invocation before it returns the invocation's result."""
        with self._lock:
            if self._pending:
                self._target.write(f"{self._function_name} {self.request_id} {self._pending}\n")
                self._pending = ""
            self._target.write(f"{END_OF_LINES}{request_id}\n")
            self._target.flush()

    def isatty(self) -> bool:
        return False

    @property
    def encoding(self) -> str:
        return "utf-8"


def _answer(channel: IO[str], message: dict[str, Any]) -> None:
    channel.write(json.dumps(message, default=str) + "\n")
    channel.flush()


def serve(function_name: str, code_uri: str, handler_path: str, memory_mb: int, timeout_s: int) -> None:
    # Ctrl-C in the runner's terminal reaches its whole process group; the runner stops its containers.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # The protocol keeps the stdout we were started with; the handler's own prints and logs (Powertools'
    # Logger writes to sys.stdout, bound when the Logger is built at import) go to stderr, line-prefixed.
    channel = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    lines = _RequestLines(sys.__stderr__ or sys.stderr, function_name)
    sys.stdout = sys.stderr = lines

    from local_runner import aws_limits

    # Before the handler builds its boto3 clients: they copy the session's hooks when made.
    aws_limits.enforce()
    module_name, _, attribute = handler_path.rpartition(".")
    handler = getattr(load_handler_module(Path.cwd() / code_uri, module_name, function_name), attribute)
    _answer(channel, {"ready": True})

    for raw in sys.stdin:
        request = json.loads(raw)
        lines.request_id = request["request_id"]
        context = LambdaContext(
            function_name=function_name,
            memory_limit_in_mb=memory_mb,
            timeout_seconds=timeout_s,
            aws_request_id=request["request_id"],
            started=time.monotonic() - (time.time() - float(request["started_at"])),
        )
        # The handler's own CPU time (this process's, every thread's): what the invocation computed, apart from the
        # time it waited on AWS and Mailchimp, which a loaded local machine stretches (bench/cost_model.py).
        cpu_started = time.process_time()
        try:
            result = handler(request["event"], context)
        except Exception as error:
            traceback.print_exc()
            lines.end_invocation(request["request_id"])
            _answer(
                channel,
                {
                    "error": {
                        "errorType": type(error).__name__,
                        "errorMessage": str(error),
                        "stackTrace": traceback.format_tb(error.__traceback__),
                    }
                },
            )
        else:
            lines.end_invocation(request["request_id"])
            _answer(channel, {"result": result, "cpu_seconds": time.process_time() - cpu_started})
        finally:
            lines.request_id = "-"


if __name__ == "__main__":
    name, code, handler_name, memory, timeout = sys.argv[1:6]
    serve(name, code, handler_name, int(memory), int(timeout))
