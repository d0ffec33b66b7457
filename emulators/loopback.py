"""Serving an emulator's WSGI app on the loopback in a background thread: the lifecycle every emulator
(Mailchimp, Shopify, WooCommerce, BigCommerce) shares."""

from __future__ import annotations

import threading
from types import TracebackType
from typing import Any, Self

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server


class QuietRequestHandler(WSGIRequestHandler):
    """No access log: request lines and query strings can carry e-mail addresses."""

    def log(self, type: str, message: str, *args: Any) -> None:
        return


class LoopbackServer:
    """Subclasses set `host` and `port` (0 picks a free one) and return their app from `wsgi_app()`;
    `_after_start` / `_before_stop` start and stop any worker of their own."""

    host: str
    port: int
    _server: BaseWSGIServer | None = None
    _thread: threading.Thread | None = None

    def wsgi_app(self) -> Any:
        raise NotImplementedError

    def _after_start(self) -> None:
        return

    def _before_stop(self) -> None:
        return

    def start(self) -> Self:
        if self._server is not None:
            return self
        self._server = make_server(
            self.host, self.port, self.wsgi_app(), threaded=True, request_handler=QuietRequestHandler
        )
        self.port = self._server.server_port
        # A short poll interval makes stop() quick, so a test can run an emulator of its own.
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"{type(self).__name__}-http",
            daemon=True,
        )
        self._thread.start()
        self._after_start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._before_stop()
        self._server = None
        self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def root_url(self) -> str:
        return f"http://{self.host}:{self.port}"
