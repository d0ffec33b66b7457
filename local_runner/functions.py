"""Loads a function's handler from its CodeUri and invokes it in this process with a real context object.

The local runner normally runs each function in worker processes of its own (local_runner.workers), as
Lambda does; `LocalFunction` is the in-process form: the runner's `--serial` mode, and the operator CLI's
local invocations (sync-products, rotate), which run one invocation at a time."""

from __future__ import annotations

import importlib.util
import os
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol

from local_runner.template import FunctionSpec


class Invocable(Protocol):
    """A function the runner can invoke: in this process (LocalFunction) or in containers (FunctionPool)."""

    spec: FunctionSpec

    def invoke(self, event: Any) -> Any: ...

    @property
    def busy(self) -> int:
        """Invocations running now."""
        ...


@dataclass
class LambdaContext:
    """The attributes and method the Lambda runtime's context object offers."""

    function_name: str
    memory_limit_in_mb: int
    timeout_seconds: int
    function_version: str = "$LATEST"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    started: float = field(default_factory=time.monotonic)

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:us-east-1:123456789012:function:{self.function_name}"

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.function_name}"

    @property
    def log_stream_name(self) -> str:
        return f"local/{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.timeout_seconds - (time.monotonic() - self.started)) * 1000))


# In-process functions share one Python process, and Powertools' logger and metrics are process-wide
# singletons: running two invocations at once would mix their log keys and metrics. So in this form every
# invocation of every function waits for the one before: `--serial`, for debugging, not for finding races.
_INVOCATION_LOCK = threading.Lock()


def load_handler_module(code_dir: Path, module_file: str, function_name: str) -> ModuleType:
    """The handler's module from the function's CodeUri, under a name of its own (each function's
    `app.py` would otherwise be the same module)."""
    path = code_dir / f"{module_file.replace('.', '/')}.py"
    name = f"lambda_{function_name}_{module_file}"
    module_spec = importlib.util.spec_from_file_location(name, path)
    if module_spec is None or module_spec.loader is None:
        raise RuntimeError(f"cannot load {path}")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[name] = module
    module_spec.loader.exec_module(module)
    return module


class LocalFunction:
    def __init__(self, spec: FunctionSpec, project_root: Path, environment: dict[str, str] | None = None) -> None:
        self.spec = spec
        self._root = project_root
        self._module: ModuleType | None = None
        # The function's own variables (not Globals'): set around each invocation, since the
        # functions share one process environment here.
        self.environment = environment or {}
        self._waiting_or_running = 0
        self._count_lock = threading.Lock()

    @property
    def busy(self) -> int:
        return self._waiting_or_running

    def _load(self) -> ModuleType:
        if self._module is None:
            module_file, _, _ = self.spec.handler.rpartition(".")
            self._module = load_handler_module(self._root / self.spec.code_uri, module_file, self.spec.logical_id)
        return self._module

    def invoke(self, event: Any) -> Any:
        # The HTTP API's threads call in at once: the count of callers must not lose an update.
        with self._count_lock:
            self._waiting_or_running += 1
        try:
            return self._invoke(event)
        finally:
            with self._count_lock:
                self._waiting_or_running -= 1

    def _invoke(self, event: Any) -> Any:
        with _INVOCATION_LOCK:
            saved = {name: os.environ.get(name) for name in self.environment}
            os.environ.update(self.environment)
            try:
                handler = getattr(self._load(), self.spec.handler.rpartition(".")[2])
                context = LambdaContext(
                    function_name=self.spec.logical_id,
                    memory_limit_in_mb=self.spec.memory_size,
                    timeout_seconds=self.spec.timeout,
                )
                return handler(event, context)
            finally:
                for name, value in saved.items():
                    if value is None:
                        os.environ.pop(name, None)
                    else:
                        os.environ[name] = value
