"""One sanitizer for values a client controls, before they reach a log line or a response.

Clients put anything in headers, paths and JSON fields, including (by mistake or to probe us)
tokens and private keys. ``clean`` makes such a value safe to write down: control characters
are dropped (no forged log lines), anything shaped like a secret is replaced with
``[redacted]``, and the result is cut to a bounded length. ``redact`` does the replacing only,
for texts of our own that may quote input (error messages).

Secret-shaped means: a compact JWS/JWE or any base64url JSON (``eyJ...``, dot-separated parts),
a PEM block (from ``-----BEGIN`` to its ``END`` line, or to the end if cut), a JWK (a JSON
object with a ``kty`` member), or an unarmored base64 blob of 100 characters or more that is not
plain hex (DER keys; hex fingerprints stay readable). Shorter opaque values (a key id, a
request id) are kept: they identify, they do not authorize.

Standard library only: the CLI may import this without paying for anything heavy.
"""

from __future__ import annotations

import re

PLACEHOLDER = "[redacted]"
#: default length of a cleaned value (the ellipsis is added past it)
LIMIT = 128
#: error messages sent to clients (they may quote input)
MESSAGE_LIMIT = 512
#: a value is cut to this many characters before it is searched (bounds the work per value)
PRE_LIMIT = 1024

_JOSE = re.compile(r"eyJ[A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]*)*")
_PEM = re.compile(r"-----\s*BEGIN[^-]*-----.*?(?:-----\s*END[^-]*-----|$)", re.DOTALL)
_BLOB = re.compile(r"[A-Za-z0-9+/_-]{100,}={0,2}")
_HEX = re.compile(r"[0-9A-Fa-f]+")
#: what may hide a secret: checked first so that ordinary values cost one scan
_SUSPECT = re.compile(r"eyJ|-----|kty|[A-Za-z0-9+/_-]{100}")


def _blob(match: re.Match[str]) -> str:
    text = match.group(0)
    return text if _HEX.fullmatch(text) else PLACEHOLDER


def _redact_jwks(text: str) -> str:
    """Each JSON object holding a ``kty`` member (or, unbalanced, the brace-free stretch around
    it) becomes the placeholder. Linear: one search per occurrence."""
    while (at := text.find("kty")) >= 0:
        start = max(text.rfind("{", 0, at), text.rfind("}", 0, at) + 1, 0)
        end = text.find("}", at)
        stop = text.find("{", at)
        if end < 0 or 0 <= stop < end:
            end = stop - 1 if stop >= 0 else len(text) - 1
        text = text[:start] + PLACEHOLDER + text[end + 1 :]
    return text


def redact(text: str) -> str:
    """``text`` with every secret-shaped part replaced by ``[redacted]``; nothing else changes."""
    if not _SUSPECT.search(text):
        return text
    text = _PEM.sub(PLACEHOLDER, text)
    text = _redact_jwks(text)
    text = _JOSE.sub(PLACEHOLDER, text)
    return _BLOB.sub(_blob, text)


def clean(value: object, limit: int = LIMIT) -> str:
    """A client-sent ``value`` as it may be logged: printable, redacted, at most ``limit``
    characters (then ``…``)."""
    text = value if type(value) is str else str(value)
    if len(text) <= limit and text.isascii() and text.isprintable() and not _SUSPECT.search(text):
        return text  # the common case: a short plain value
    text = text[: max(PRE_LIMIT, 8 * limit)]  # what is past it is never written anyway
    if not text.isprintable():
        text = "".join(ch for ch in text if ch.isprintable())
    text = redact(text)
    return text if len(text) <= limit else text[:limit] + "…"
