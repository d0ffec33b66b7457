"""A boto3 session per thread, for the consumers that apply a batch's records on several threads
(commerce_sync.processing.batch_lanes).

boto3's module functions (`boto3.client`, `boto3.resource`) go through one process-wide default session, and a
boto3 Session is not thread-safe: two threads creating clients from it at once can fail inside botocore. Clients and
the requests they make are thread-safe; only their creation is not. Many modules of the layer create their clients
with those functions, lazily, on first use; rather than thread a session through every constructor, `install()`
makes the default session one per thread: the main thread keeps the session it had, and every other thread gets its
own on first use. The new sessions share the main session's loader of service models (a read-mostly cache), so a
thread does not parse DynamoDB's model again. boto3 has no switch for this, hence the stand-in.
"""

from __future__ import annotations

import threading
from typing import Any

import boto3
import boto3.session


class SessionPerThread:
    """Stands in for boto3.DEFAULT_SESSION: attribute access goes to the calling thread's session."""

    def __init__(self, main: boto3.session.Session) -> None:
        self.main = main
        self._local = threading.local()

    def session(self) -> boto3.session.Session:
        if threading.current_thread() is threading.main_thread():
            return self.main
        session: boto3.session.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = boto3.session.Session()
            # The loaded service models are shared: loading them is most of what creating a client costs.
            session._session.register_component("data_loader", self.main._session.get_component("data_loader"))
            self._local.session = session
        return session

    def __getattr__(self, name: str) -> Any:
        return getattr(self.session(), name)


_installing = threading.Lock()


def install() -> None:
    """Makes boto3's default session per thread (once; called from the main thread before other threads start)."""
    with _installing:
        current: object = boto3.DEFAULT_SESSION
        if isinstance(current, SessionPerThread):
            return
        boto3.DEFAULT_SESSION = SessionPerThread(boto3._get_default_session())  # type: ignore[assignment]
