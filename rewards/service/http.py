"""A deadline on request headers for uvicorn's HTTP protocol (httptools or h11, whichever
uvicorn picks).

uvicorn waits for a request's headers forever: of 200 slowloris connections (headers sent a
byte at a time) none was closed, and each held a socket and a file descriptor. This protocol
closes a connection whose request line and headers have not all arrived `header_timeout_s`
after the connection opened (or, on a kept-alive connection, after the next request's first
byte), with a 408 and one INFO line. The body has its own deadline in the app
(`ServiceConfig.body_timeout_s`). The mixin relies on what both uvicorn implementations share:
`data_received`, `connection_made`/`connection_lost`, and `self.cycle`, the request whose
headers are complete.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

log = logging.getLogger("rewards.serve")

_RESPONSE = (b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain\r\n"
             b"connection: close\r\ncontent-length: 36\r\n\r\nrequest headers not received in time")


class _HeaderDeadline:
    header_timeout_s: float = 10.0
    on_timeout: Callable[[], None] | None = None
    _deadline = None
    _seen = None  # the last request cycle whose headers completed

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        # a new request starts once the previous one's response is complete
        if self._deadline is None and (self.cycle is None or self.cycle.response_complete):
            self._arm()
        super().data_received(data)
        if self.cycle is not None and self.cycle is not self._seen:  # its headers are in
            self._seen = self.cycle
            self._disarm()

    def connection_lost(self, exc) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._deadline = self.loop.call_later(self.header_timeout_s, self._too_slow)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _too_slow(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        log.info("closed a connection from %s: request headers not complete after %g s",
                 self.client[0] if self.client else "?", self.header_timeout_s)
        if self.on_timeout is not None:
            self.on_timeout()
        self.transport.write(_RESPONSE)
        self.transport.close()


def protocol(header_timeout_s: float, on_timeout: Callable[[], None] | None = None) -> type:
    """uvicorn's HTTP protocol class (httptools when installed, else h11) with the header
    deadline; pass it as `uvicorn.run(..., http=...)`."""
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol as base
    except ImportError:  # uvicorn without its [standard] extras
        from uvicorn.protocols.http.h11_impl import H11Protocol as base
    return type("HeaderDeadlineProtocol", (_HeaderDeadline, base),
                {"header_timeout_s": header_timeout_s,
                 "on_timeout": staticmethod(on_timeout) if on_timeout else None})
