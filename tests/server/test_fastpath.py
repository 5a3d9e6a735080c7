"""The issuance routes' fast path (``server/fastpath.py``): which bytes it takes and which it
leaves to aiohttp, and, against a real step-ca over TLS, that both paths answer the same way on
one connection, in order, with every refusal kept."""

from __future__ import annotations

import json
import socket
import ssl
import time
from typing import Any

import pytest
from aiohttp import web
from cryptography import x509

from stepca.server.fastpath import FastPath
from tests.helpers import PKI, CAProcess
from tests.tokens import csr_for, signer_for

# ------------------------------------------------------------------------------ the parser


async def _dummy(request: Any) -> web.Response:
    return web.Response(body=b"{}", content_type="application/json")


def _fast(max_body: int = 4096) -> FastPath:
    app = web.Application()
    for path in ("sign", "renew", "ssh/sign", "revoke"):
        for prefix in ("/", "/1.0/"):
            app.router.add_post(prefix + path, _dummy)
    app.router.add_get("/1.0/health", _dummy)
    return FastPath(app, max_body)


class _Conn:
    transport = None


def _request(head: bytes = b"", body: bytes = b'{"a":1}', line: bytes = b"POST /1.0/sign HTTP/1.1") -> bytes:
    return (
        line + b"\r\nHost: localhost\r\nContent-Type: application/json\r\n" + head
        + b"Content-Length: %d\r\n\r\n" % len(body) + body
    )  # fmt: skip


def test_a_plain_request_is_taken_with_its_headers_and_body() -> None:
    taken = _fast().take(_request(b"User-Agent:  step/0.19  \r\nX-Request-Id: abc\r\n"), _Conn())
    assert taken is not None
    _, request, rest = taken
    assert (request.method, request.path, rest) == ("POST", "/1.0/sign", b"")
    assert request.headers["user-agent"] == "step/0.19"  # case-insensitive, whitespace trimmed
    assert request.headers["X-Request-Id"] == "abc"
    assert request.content_length == 7 and not request.close
    assert request.match_info.route.resource.canonical == "/1.0/sign"
    for path in (b"/sign", b"/renew", b"/1.0/renew", b"/ssh/sign", b"/1.0/ssh/sign"):
        assert _fast().take(_request(line=b"POST " + path + b" HTTP/1.1"), _Conn()) is not None, path


def test_a_request_without_a_length_has_no_body() -> None:
    taken = _fast().take(b"POST /1.0/renew HTTP/1.1\r\nHost: x\r\n\r\nGET /", _Conn())
    assert taken is not None and taken[1].content_length == 0 and taken[2] == b"GET /"


def test_pipelined_bytes_are_left_for_the_next_request() -> None:
    second = _request(body=b'{"b":2}')
    taken = _fast().take(_request() + second, _Conn())
    assert taken is not None and taken[2] == second


def test_connection_close_is_taken_and_remembered() -> None:
    taken = _fast().take(_request(b"Connection: close\r\n") + _request(), _Conn())
    assert taken is not None and taken[1].close and taken[2] == b""  # nothing after a close
    assert _fast().take(_request(b"Connection: Keep-Alive\r\n"), _Conn()) is not None


@pytest.mark.parametrize(
    "data",
    [
        _request(line=b"GET /1.0/sign HTTP/1.1"),
        _request(line=b"POST /1.0/sign?x=1 HTTP/1.1"),
        _request(line=b"POST /1.0/Sign HTTP/1.1"),
        _request(line=b"POST /1.0/sign/ HTTP/1.1"),
        _request(line=b"POST /1.0/revoke HTTP/1.1"),  # not a hot route
        _request(line=b"POST  /1.0/sign HTTP/1.1"),
        _request(line=b"POST /1.0/sign HTTP/1.0"),
        _request(b"Transfer-Encoding: chunked\r\n"),
        _request(b"Content-Encoding: gzip\r\n"),
        _request(b"Expect: 100-continue\r\n"),
        _request(b"Upgrade: h2c\r\n"),
        _request(b"Connection: upgrade\r\n"),
        _request(b"Content-Length: 7\r\n"),  # a second one
        _request(b"X-Folded: a\r\n continued\r\n"),  # obs-fold
        _request(b"Bad Name: x\r\n"),
        _request(b"X-Latin: caf\xc3\xa9\r\n"),
        _request(b"X-Bare: a\nb\r\n"),
        _request(b"X-Nul: a\x00b\r\n"),
        b'POST /1.0/sign HTTP/1.1\r\nContent-Length: +7\r\n\r\n{"a":1}',
        b'POST /1.0/sign HTTP/1.1\r\nContent-Length: 0x7\r\n\r\n{"a":1}',
        b"POST /1.0/sign HTTP/1.1\r\nContent-Length:\r\n\r\n",
        _request()[:-3],  # the body has not all arrived
        _request().split(b"\r\n\r\n")[0],  # nor the header block
        _request(body=b"x" * 5000),  # above the body limit
        b"",
    ],
)
def test_anything_else_is_left_to_aiohttp(data: bytes) -> None:
    assert _fast().take(data, _Conn()) is None


def test_responses_are_written_as_aiohttp_writes_them() -> None:
    fast = _fast()
    response = web.Response(body=b'{"crt":"x"}', status=201, content_type="application/json")
    wire = fast.serialize(response)
    assert wire is not None
    head, _, body = wire[0].partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"HTTP/1.1 201 Created" and wire[1] is True and body == b'{"crt":"x"}'
    assert [h.split(b":")[0] for h in lines[1:]] == [b"Content-Type", b"Content-Length", b"Date", b"Server"]
    assert b"Content-Length: 11" in lines and lines[-1].startswith(b"Server: Python/")
    closing = fast.serialize(response, close=True)
    assert (
        closing is not None
        and closing[1] is False
        and closing[0].split(b"\r\n\r\n")[0].endswith(b"Connection: close")
    )
    allow = web.Response(body=b"{}", status=405, content_type="application/json", headers={"Allow": "POST"})
    assert b"\r\nAllow: POST\r\n" in fast.serialize(allow)[0]  # type: ignore[index]
    assert fast.serialize(web.StreamResponse()) is None


# ------------------------------------------------------------------------------ a real step-ca


def _connect(ca: CAProcess) -> ssl.SSLSocket:
    raw = socket.create_connection(("127.0.0.1", ca.pki.port), timeout=15)
    return ca.ssl_context().wrap_socket(raw, server_hostname="localhost")


class _Reader:
    def __init__(self, conn: ssl.SSLSocket) -> None:
        self.conn, self.buf = conn, b""

    def response(self) -> tuple[int, dict[str, str], bytes]:
        while b"\r\n\r\n" not in self.buf:
            chunk = self.conn.recv(65536)
            assert chunk, "the server closed the connection"
            self.buf += chunk
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        length = int(headers["content-length"])
        while len(self.buf) < length:
            self.buf += self.conn.recv(65536)
        body, self.buf = self.buf[:length], self.buf[length:]
        return int(lines[0].split()[1]), headers, body


def _sign_bytes(pki: PKI, subject: str, token: str | None = None, extra: bytes = b"") -> tuple[bytes, str]:
    csr, _ = csr_for(subject, [subject])
    ott = token or signer_for(pki).token(subject, sans=[subject])
    body = json.dumps({"csr": csr, "ott": ott}).encode()
    head = b"POST /1.0/sign HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n" + extra
    return head + b"Content-Length: %d\r\n\r\n" % len(body) + body, ott


def _cn(body: bytes) -> str:
    cert = x509.load_pem_x509_certificate(json.loads(body)["crt"].encode())
    return str(cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value)


def test_one_connection_mixes_both_paths_in_order(session_ca: CAProcess) -> None:
    pki = session_ca.pki
    conn = _connect(session_ca)
    reader = _Reader(conn)
    try:
        for i in range(3):  # kept alive, one after the other
            data, _ = _sign_bytes(pki, f"keep{i}.example.com")
            conn.sendall(data)
            status, headers, body = reader.response()
            assert status == 201 and _cn(body) == f"keep{i}.example.com", body
            assert headers["content-type"] == "application/json" and "connection" not in headers
        # two pipelined in one write: answered in the order asked
        first, _ = _sign_bytes(pki, "pipe-a.example.com")
        second, _ = _sign_bytes(pki, "pipe-b.example.com")
        conn.sendall(first + second)
        assert [_cn(reader.response()[2]) for _ in range(2)] == ["pipe-a.example.com", "pipe-b.example.com"]
        # a route the fast path does not take: aiohttp's from here on, on the same connection
        conn.sendall(b"GET /1.0/health HTTP/1.1\r\nHost: localhost\r\n\r\n")
        status, _, body = reader.response()
        assert status == 200 and json.loads(body) == {"status": "ok"}
        data, _ = _sign_bytes(pki, "after.example.com")
        conn.sendall(data)
        status, _, body = reader.response()
        assert status == 201 and _cn(body) == "after.example.com"
    finally:
        conn.close()


def test_a_replayed_token_is_refused_on_the_fast_path(session_ca: CAProcess) -> None:
    conn = _connect(session_ca)
    reader = _Reader(conn)
    try:
        data, ott = _sign_bytes(session_ca.pki, "replay.example.com")
        conn.sendall(data)
        assert reader.response()[0] == 201
        again, _ = _sign_bytes(session_ca.pki, "replay.example.com", token=ott)
        conn.sendall(again)
        status, _, body = reader.response()
        assert status == 401 and json.loads(body)["status"] == 401, body
        conn.sendall(b"POST /1.0/sign HTTP/1.1\r\nHost: x\r\nContent-Length: 8\r\n\r\nnot json")
        status, _, body = reader.response()
        assert status == 400 and set(json.loads(body)) == {"status", "message"}
    finally:
        conn.close()


def test_requests_the_fast_path_leaves_are_answered_by_aiohttp(session_ca: CAProcess) -> None:
    pki = session_ca.pki
    # a chunked body
    data, _ = _sign_bytes(pki, "chunked.example.com")
    head, _, body = data.partition(b"\r\n\r\n")
    head = head.rsplit(b"\r\nContent-Length", 1)[0] + b"\r\nTransfer-Encoding: chunked"
    conn = _connect(session_ca)
    try:
        conn.sendall(head + b"\r\n\r\n" + b"%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n")
        status, _, answer = _Reader(conn).response()
        assert status == 201 and _cn(answer) == "chunked.example.com"
    finally:
        conn.close()
    # a body that arrives after its headers
    data, _ = _sign_bytes(pki, "late.example.com")
    conn = _connect(session_ca)
    try:
        cut = data.index(b"\r\n\r\n") + 10
        conn.sendall(data[:cut])
        time.sleep(0.2)
        conn.sendall(data[cut:])
        status, _, answer = _Reader(conn).response()
        assert status == 201 and _cn(answer) == "late.example.com"
    finally:
        conn.close()
    # a folded header: aiohttp's own 400, which quotes nothing
    conn = _connect(session_ca)
    try:
        data, _ = _sign_bytes(pki, "folded.example.com", extra=b"X-Folded: a\r\n b\r\n")
        conn.sendall(data)
        status, _, answer = _Reader(conn).response()
        assert status == 400 and b"folded" not in answer
    finally:
        conn.close()


def test_connection_close_is_answered_then_closed(session_ca: CAProcess) -> None:
    conn = _connect(session_ca)
    try:
        data, _ = _sign_bytes(session_ca.pki, "close.example.com", extra=b"Connection: close\r\n")
        conn.sendall(data)
        reader = _Reader(conn)
        status, headers, _ = reader.response()
        assert status == 201 and headers["connection"] == "close"
        assert conn.recv(65536) == b"" and reader.buf == b""  # closed by the server
    finally:
        conn.close()


# ------------------------------------------------------------------------------ which path ran


def test_the_connection_takes_the_fast_path_until_it_sees_other_bytes() -> None:
    """The worker's protocol over a real loopback connection (no TLS), with handlers that record
    which kind of request object reached them: the fast path's while the bytes are plain, then,
    after one request the fast path leaves, aiohttp's for the rest of that connection."""
    import asyncio

    from stepca.server.worker import _Protocol

    seen: list[str] = []

    async def record(request: Any) -> web.Response:
        seen.append(type(request).__name__)
        return web.Response(body=b'{"ok":true}', status=201, content_type="application/json")

    async def gate(request: web.BaseRequest, handler: Any) -> web.StreamResponse:
        await request.read()
        return await handler(request)

    async def scenario() -> list[int]:
        loop = asyncio.get_running_loop()
        app = web.Application()
        app.router.add_post("/1.0/sign", record)
        app.router.add_get("/1.0/health", record)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        assert runner.server is not None
        fast = FastPath(app, 4096)
        server = await loop.create_server(
            lambda: _Protocol(runner.server, gate, lambda: None, lambda: None, fast, loop=loop),
            "127.0.0.1",
            0,
        )
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        statuses = []
        for data in (_request(), _request(), b"GET /1.0/health HTTP/1.1\r\nHost: x\r\n\r\n", _request()):
            writer.write(data)
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
            await reader.readexactly(length)
            statuses.append(int(head.split()[1]))
        writer.close()
        server.close()
        await runner.cleanup()
        return statuses

    assert asyncio.run(scenario()) == [201, 201, 201, 201]
    assert seen == ["FastRequest", "FastRequest", "Request", "Request"]
