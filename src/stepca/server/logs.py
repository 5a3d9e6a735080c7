"""Server logs: ``text`` (default) or ``json`` (one object per line), as ca.json ``logger.format``.

Request lines carry time, level, request-id, remote-address, method, path, status, duration,
provisioner, subject, serial, user-agent (json: always all of them, "" when unknown; text: the
known ones). Never a key, a password or a whole token (only a jti): handlers only put names,
serials and jtis in the fields; every value a client chose (request-id, user-agent, method, path,
subject, serial, error texts that quote input) goes through ``stepca.redact.clean``: printable,
secret-shaped parts replaced with ``[redacted]``, cut to 128 characters (errors: 512).
Lines are buffered and flushed several times a second, off the request path.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
import traceback
import uuid
from datetime import UTC, datetime
from typing import IO, Any

import orjson

from stepca.redact import clean, redact

FLUSH_INTERVAL = 0.2
#: error texts may quote a whole (redacted) input: longer than a header, still bounded
ERROR_LIMIT = 512


def scrub(text: str) -> str:
    """``text`` with every secret-shaped substring replaced (error messages may quote input)."""
    return redact(text)


_last_second = -1
_second_text = ""


def _now_text() -> str:
    """RFC 3339 UTC time with microseconds; the formatted second is cached (hot path)."""
    global _last_second, _second_text
    now = time.time()
    sec = int(now)
    if sec != _last_second:
        _last_second = sec
        _second_text = datetime.fromtimestamp(sec, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{_second_text}.{int((now - sec) * 1_000_000):06d}Z"


class ServerLog:
    def __init__(self, fmt: str = "text", stream: IO[str] | None = None) -> None:
        self.format = fmt if fmt in ("text", "json") else "text"
        self.stream = stream or sys.stderr
        self._buffer: list[str] = []
        self._id_prefix = f"{os.getpid():x}-{uuid.uuid4().hex[:6]}-"
        self._counter = 0

    # ------------------------------------------------------------------ output

    def _emit(self, fields: dict[str, Any]) -> None:
        if self.format == "json":
            try:
                line = orjson.dumps(fields, default=str).decode()
            except TypeError:  # e.g. an int wider than 64 bits
                line = json.dumps(fields, default=str, ensure_ascii=False)
        else:
            line = _text_line(fields)
        self._buffer.append(line + "\n")

    def flush(self) -> None:
        if not self._buffer:
            return
        data = "".join(self._buffer)
        self._buffer.clear()
        try:
            self.stream.write(data)
            self.stream.flush()
        except (OSError, ValueError):
            pass

    # ------------------------------------------------------------------ events

    def event(self, level: str, message: str, **fields: Any) -> None:
        clean = {k: scrub(v) if isinstance(v, str) else v for k, v in fields.items()}
        self._emit({"time": _now_text(), "level": level, "msg": scrub(message), **clean})
        if level in ("error", "warning", "warn", "critical"):
            self.flush()

    def notice(self, message: str) -> None:
        """A line operators and scripts wait for (``Serving HTTPS on ...``): Go-style, as
        smallstep prints it, in text format; a JSON object in json format. Written at once."""
        if self.format == "json":
            self._emit({"time": _now_text(), "level": "info", "msg": message})
        else:
            self._buffer.append(go_log_line(message) + "\n")
        self.flush()

    def info(self, message: str, **fields: Any) -> None:
        self.event("info", message, **fields)

    def warning(self, message: str, **fields: Any) -> None:
        self.event("warning", message, **fields)

    def error(self, message: str, **fields: Any) -> None:
        self.event("error", message, **fields)

    def request(self, request: Any, status: int, started: float, fields: dict[str, Any]) -> None:
        headers = request.headers
        request_id = headers.get("X-Request-Id") or headers.get("X-Smallstep-Id")
        if request_id:
            request_id = clean(request_id)
        else:
            self._counter += 1
            request_id = f"{self._id_prefix}{self._counter:x}"
        version = request.version
        record: dict[str, Any] = {
            "time": _now_text(),
            "level": "info" if status < 400 else ("warning" if status < 500 else "error"),
            "request-id": request_id,
            "remote-address": request.remote,
            "method": clean(request.method),
            "path": clean(request.path),
            "protocol": f"HTTP/{version.major}.{version.minor}",
            "status": status,
            "duration": round(time.perf_counter() - started, 6),
            "provisioner": "",
            "subject": "",
            "serial": "",
            "user-agent": clean(headers.get("User-Agent", "")),
        }
        if fields:
            record.update(fields)
            serial = fields.get("serial")
            if serial is not None:
                record["serial"] = clean(serial)  # 128-bit serials: a decimal string, as step logs them
            subject = fields.get("subject")
            if subject:
                record["subject"] = clean(subject)  # the CSR's common name: the client's choice
            error = fields.get("error")
            if error is not None:
                record["error"] = clean(error, ERROR_LIMIT)
        self._emit(record)

    def exception(self, request: Any, exc: BaseException) -> None:
        self.error(
            "internal error",
            path=clean(getattr(request, "path", "")),
            error=f"{exc.__class__.__name__}: {exc}",
            trace="".join(traceback.format_exception(exc)).replace("\n", " | "),
        )


_NEEDS_QUOTES = re.compile(r'[\s"=]')


def _text_line(fields: dict[str, Any]) -> str:
    """``key=value`` pairs of the set fields, one loop (a line per request: the hot path)."""
    needs_quotes = _NEEDS_QUOTES.search
    parts = []
    for key, value in fields.items():
        if value is None or value == "":
            continue
        text = value if type(value) is str else str(value)
        if not text or needs_quotes(text):
            text = '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
        parts.append(f"{key}={text}")
    return " ".join(parts)


def go_log_line(message: str) -> str:
    """A line like Go's log package prints: ``2019/02/21 12:09:51 message``."""
    return f"{datetime.now().strftime('%Y/%m/%d %H:%M:%S')} {message}"
