"""A minimal DER reader/writer for the few small structures cryptography does not model
(the step provisioner extension). Everything else goes through cryptography."""

from __future__ import annotations

from functools import lru_cache

SEQUENCE = 0x30
INTEGER = 0x02
OCTET_STRING = 0x04
UTF8_STRING = 0x0C
PRINTABLE_STRING = 0x13
IA5_STRING = 0x16


def _length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def tlv(tag: int, value: bytes) -> bytes:
    n = len(value)
    if n < 0x80:
        return bytes((tag, n)) + value
    return bytes((tag,)) + _length(n) + value


def integer(n: int) -> bytes:
    raw = n.to_bytes(max(1, (n.bit_length() + 8) // 8), "big", signed=True)
    return tlv(INTEGER, raw)


def sequence(*items: bytes) -> bytes:
    return tlv(SEQUENCE, b"".join(items))


def read_tlv(data: bytes, pos: int = 0) -> tuple[int, bytes, int]:
    """Read one TLV at ``pos``: returns (tag, value, next_pos). Raises ValueError on bad input."""
    if pos + 2 > len(data):
        raise ValueError("truncated DER")
    tag = data[pos]
    first = data[pos + 1]
    pos += 2
    if first < 0x80:
        length = first
    else:
        count = first & 0x7F
        if count == 0 or count > 4 or pos + count > len(data):
            raise ValueError("bad DER length")
        length = int.from_bytes(data[pos : pos + count], "big")
        pos += count
    end = pos + length
    if end > len(data):
        raise ValueError("truncated DER")
    return tag, data[pos:end], end


def read_sequence(data: bytes) -> list[tuple[int, bytes]]:
    """Decode a SEQUENCE into its direct children ``[(tag, value), ...]``."""
    tag, body, end = read_tlv(data)
    if tag != SEQUENCE or end != len(data):
        raise ValueError("expected a DER SEQUENCE")
    items = []
    pos = 0
    while pos < len(body):
        t, v, pos = read_tlv(body, pos)
        items.append((t, v))
    return items


def read_integer(value: bytes) -> int:
    return int.from_bytes(value, "big", signed=True)


@lru_cache(maxsize=512)
def oid(dotted: str) -> bytes:
    """DER OBJECT IDENTIFIER from dotted notation (memoized: the same few OIDs come back)."""
    arcs = [int(a) for a in dotted.split(".")]
    if len(arcs) < 2:
        raise ValueError("an OID needs at least two arcs")
    body = bytearray([40 * arcs[0] + arcs[1]])
    for arc in arcs[2:]:
        chunk = [arc & 0x7F]
        rest = arc >> 7
        while rest:
            chunk.append(0x80 | (rest & 0x7F))
            rest >>= 7
        body.extend(reversed(chunk))
    return tlv(0x06, bytes(body))
