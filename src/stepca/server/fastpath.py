"""The issuance routes without aiohttp's per-request machinery, for the plainest requests only.

Each certificate a client asks for is one small POST on a kept-alive connection: ``/1.0/sign``,
``/1.0/renew``, ``/1.0/ssh/sign`` (and the same without ``/1.0``). aiohttp spends about 30 µs of
Python on each (measured on this project's 2-core machines: its request and stream objects, its
response writer, the router, the task hand-offs), a tenth of what the whole certificate costs
besides the ECDSA operations. ``FastPath.take`` recognizes, byte for byte, a complete request of
the simplest form and hands it to the very same handler (``api.handlers.endpoint``: the same
checks, errors, log line and metrics); the response is serialized with the headers aiohttp
writes (``Content-Type``, ``Content-Length``, ``Date``, ``Server``).

Anything else goes to aiohttp, which parses it as it always did: another method or path, a query
string, HTTP/1.0, ``Transfer-Encoding``, ``Content-Encoding``, ``Expect``, ``Upgrade``, a
``Connection`` header other than ``keep-alive`` or ``close``, a repeated or non-numeric
``Content-Length``, a header name or value outside the plain characters, a header block or body
that has not fully arrived, a body larger than the API's limit. The first time a connection sends
such bytes, the connection is aiohttp's for good (``_Protocol`` in ``worker.py``): its parser then
starts at a message boundary, and answers are never reordered, since a fast request still in
flight is answered before anything that came after it is looked at.

``STEPCA_HTTP_FAST_PATH=0`` turns it off (every request through aiohttp).
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Awaitable, Callable
from email.utils import formatdate
from typing import Any

from aiohttp import web
from aiohttp.http import SERVER_SOFTWARE, HttpVersion11
from aiohttp.web_urldispatcher import UrlMappingMatchInfo
from multidict import CIMultiDict, CIMultiDictProxy, MultiDict, MultiDictProxy

#: the routes taken here (and the same under /1.0/): POST only
HOT_PATHS = ("sign", "renew", "ssh/sign")
MAX_HEAD = 8192
MAX_HEADERS = 64

# one header line: a token name, a colon, a value of visible ASCII, spaces and tabs
_HEADER_BLOCK = re.compile(
    rb"(?:[!#$%&'*+.^_`|~0-9A-Za-z-]+:[\t\x20-\x7e]*\r\n){0," + str(MAX_HEADERS).encode() + rb"}"
)
_REFUSED = frozenset({"transfer-encoding", "content-encoding", "expect", "upgrade", "te", "trailer"})
_EMPTY_QUERY: MultiDictProxy[str] = MultiDictProxy(MultiDict())
_SERVER = f"Server: {SERVER_SOFTWARE}\r\n".encode()

Handler = Callable[[Any], Awaitable[web.StreamResponse]]


def enabled() -> bool:
    return os.environ.get("STEPCA_HTTP_FAST_PATH", "1") != "0"


class FastRequest:
    """What the handlers of the hot routes read of a request, under ``web.Request``'s names."""

    __slots__ = (
        "_body",
        "close",
        "headers",
        "match_info",
        "method",
        "path",
        "protocol",
        "remote",
        "transport",
    )

    version = HttpVersion11
    body_exists = True
    can_read_body = True
    query = _EMPTY_QUERY

    def __init__(
        self,
        path: str,
        headers: CIMultiDictProxy[str],
        body: bytes,
        match_info: UrlMappingMatchInfo,
        protocol: Any,
        close: bool,
    ) -> None:
        self.method = "POST"
        self.path = path
        self.headers = headers
        self._body = body
        self.match_info = match_info
        self.protocol = protocol
        self.transport = protocol.transport
        #: the client sent ``Connection: close``: answered, then closed
        self.close = close
        peer = self.transport.get_extra_info("peername") if self.transport is not None else None
        #: the peer's address, as aiohttp's ``remote``
        self.remote = None if peer is None else str(peer[0]) if isinstance(peer, list | tuple) else str(peer)

    @property
    def path_qs(self) -> str:
        return self.path

    @property
    def content_length(self) -> int:
        return len(self._body)

    async def read(self) -> bytes:
        return self._body


class _Date:
    """``Date: ...`` of the current second (aiohttp's format, RFC 7231 IMF-fixdate)."""

    __slots__ = ("_line", "_second")

    def __init__(self) -> None:
        self._second = -1
        self._line = b""

    def line(self) -> bytes:
        now = int(time.time())
        if now != self._second:
            self._second = now
            self._line = f"Date: {formatdate(now, usegmt=True)}\r\n".encode()
        return self._line


class FastPath:
    """The hot routes of one application: request bytes in, (handler, request, rest) out."""

    def __init__(self, app: web.Application, max_body: int) -> None:
        self.max_body = max_body
        self.routes: dict[bytes, tuple[Handler, UrlMappingMatchInfo]] = {}
        wanted = {prefix + path for path in HOT_PATHS for prefix in ("/", "/1.0/")}
        for route in app.router.routes():
            canonical = route.resource.canonical if route.resource is not None else ""
            if route.method == "POST" and canonical in wanted:
                info = UrlMappingMatchInfo({}, route)
                self.routes[canonical.encode()] = (route.handler, info)
        self.date = _Date()

    def take(self, data: bytes | bytearray, protocol: Any) -> tuple[Handler, FastRequest, bytes] | None:
        """A complete plain request at the start of ``data``: its handler, the request and the
        bytes after it; None when aiohttp must parse ``data``."""
        end = data.find(b"\r\n\r\n", 0, MAX_HEAD)
        if end < 0:
            return None
        line_end = data.find(b"\r\n", 0, end + 2)
        parts = bytes(data[:line_end]).split(b" ")
        if len(parts) != 3 or parts[0] != b"POST" or parts[2] != b"HTTP/1.1":
            return None
        route = self.routes.get(parts[1])
        if route is None:
            return None
        block = bytes(data[line_end + 2 : end + 2])
        if _HEADER_BLOCK.fullmatch(block) is None:
            return None
        headers: CIMultiDict[str] = CIMultiDict()
        length = -1
        close = False
        for raw in block.split(b"\r\n")[:-1]:
            name_b, _, value_b = raw.partition(b":")
            name = name_b.decode("ascii")
            value = value_b.strip(b" \t").decode("ascii")
            low = name.lower()
            if low == "content-length":
                if length >= 0 or not value.isdigit():
                    return None
                length = int(value)
            elif low == "connection":
                token = value.lower()
                if token == "close":
                    close = True
                elif token != "keep-alive":
                    return None
            elif low in _REFUSED:
                return None
            headers.add(name, value)
        length = max(length, 0)  # neither a length nor a transfer coding: no body (RFC 9112 6.3)
        if length > self.max_body or len(data) < end + 4 + length:
            return None
        body = bytes(data[end + 4 : end + 4 + length])
        rest = bytes(data[end + 4 + length :])
        path = parts[1].decode("ascii")
        request = FastRequest(path, CIMultiDictProxy(headers), body, route[1], protocol, close)
        return route[0], request, b"" if close else rest

    def serialize(self, response: web.StreamResponse, close: bool = False) -> tuple[bytes, bool] | None:
        """The response's bytes as aiohttp writes them, and whether the connection stays open
        (not when ``close``: the client asked); None for a response this path does not write (a
        stream, cookies, compression)."""
        if (
            not isinstance(response, web.Response)
            or response.cookies
            or response.compression
            or response.chunked
        ):
            return None
        body = response.body
        if body is None:
            body = b""
        elif not isinstance(body, bytes | bytearray):
            return None
        keep_alive = response.keep_alive is not False and not close
        out = [f"HTTP/1.1 {response.status} {response.reason}\r\n".encode("latin-1")]
        headers = response.headers
        for name, value in headers.items():
            low = name.lower()
            if low in ("content-length", "date", "server", "connection", "transfer-encoding"):
                continue
            out.append(f"{name}: {value}\r\n".encode("latin-1"))
        if body or response.status not in (204, 304):
            out.append(b"Content-Length: %d\r\n" % len(body))
        out.append(self.date.line())
        out.append(f"Server: {headers['Server']}\r\n".encode("latin-1") if "Server" in headers else _SERVER)
        if not keep_alive:
            out.append(b"Connection: close\r\n")
        out.append(b"\r\n")
        out.append(bytes(body))
        return b"".join(out), keep_alive


__all__ = ["HOT_PATHS", "FastPath", "FastRequest", "enabled"]
