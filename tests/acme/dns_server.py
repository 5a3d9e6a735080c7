"""A DNS server on loopback for ACME tests (dnslib): every A query answers 127.0.0.1, AAAA
nothing; TXT and CAA records are set by the test (``txt``, ``caa``) or by lego's ``exec``
provider through ``tests/acme/lego_exec.py`` writing into ``records_dir``."""

from __future__ import annotations

import socket
import tempfile
import threading
from pathlib import Path
from typing import Any

from dnslib import CAA, QTYPE, RR, TXT, A
from dnslib.server import BaseResolver, DNSLogger, DNSServer


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Resolver(BaseResolver):  # type: ignore[misc]
    def __init__(self, owner: LoopbackDNS) -> None:
        self.owner = owner

    def resolve(self, request: Any, handler: Any) -> Any:
        reply = request.reply()
        qname = str(request.q.qname).lower()
        qtype = QTYPE[request.q.qtype]
        if qtype == "A":
            reply.add_answer(RR(qname, QTYPE.A, rdata=A("127.0.0.1"), ttl=1))
        elif qtype == "TXT":
            for value in self.owner.txt_records(qname):
                reply.add_answer(RR(qname, QTYPE.TXT, rdata=TXT(value), ttl=1))
        elif qtype == "CAA":
            for flags, tag, value in self.owner.caa.get(qname, []):
                reply.add_answer(RR(qname, QTYPE.CAA, rdata=CAA(flags, tag, value), ttl=1))
        return reply


class LoopbackDNS:
    def __init__(self) -> None:
        self.port = _free_udp_port()
        self.txt: dict[str, list[str]] = {}
        self.caa: dict[str, list[tuple[int, str, str]]] = {}
        self.records_dir = Path(tempfile.mkdtemp(prefix="acme-dns-"))
        self._server = DNSServer(
            _Resolver(self), port=self.port, address="127.0.0.1", logger=DNSLogger(logf=lambda _: None)
        )
        self._lock = threading.Lock()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def txt_records(self, qname: str) -> list[str]:
        found = list(self.txt.get(qname, []))
        path = self.records_dir / qname.rstrip(".")
        if path.exists():
            found += [line for line in path.read_text().splitlines() if line]
        return found

    def start(self) -> None:
        self._server.start_thread()

    def stop(self) -> None:
        self._server.stop()
        self._server.server.server_close()
