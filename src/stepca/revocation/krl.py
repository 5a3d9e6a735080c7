"""OpenSSH Key Revocation Lists (OpenSSH's PROTOCOL.krl), for sshd's ``RevokedKeys`` and the
client's ``RevokedHostKeys``.

The KRL is a header (magic, format version 1, ``krl_version``, generation date, no flags, an
empty reserved field, a comment) and one certificate section per CA key: the key's wire blob,
an empty reserved field, then serial subsections: runs of three or more consecutive serials as
a range (0x21), the others in one serial list (0x20). No signature section (OpenSSH 9.4 and
later refuse KRLs that carry one): the KRL is fetched over TLS from the CA.
"""

from __future__ import annotations

import contextlib
import hashlib
import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from stepca.crypto.sshcert import SSHFormatError, certificate_from_blob, key_blob, wire_string
from stepca.db.records import SSHRevokedEntry

KRL_MAGIC = 0x5353484B524C0A00  # "SSHKRL\n\0"
KRL_FORMAT_VERSION = 1
SECTION_CERTIFICATES = 1
CERT_SERIAL_LIST = 0x20
CERT_SERIAL_RANGE = 0x21
_MAX_SERIAL = (1 << 64) - 1
#: a KRL has no expiry: it is rebuilt at least this often (seconds) all the same
KRL_REFRESH = 86400


@dataclass(frozen=True)
class KRLSettings:
    """The SSH CA keys (wire blobs) of this configuration: a revoked serial whose certificate
    the CA did not store is listed under each of them."""

    ca_keys: tuple[bytes, ...]
    scope: str = "ssh"

    @property
    def tag(self) -> str:
        return hashlib.sha256(b"".join(wire_string(k) for k in sorted(self.ca_keys))).hexdigest()[:32]


def _serial_subsections(serials: Iterable[int]) -> bytes:
    ordered = sorted({s for s in serials if 0 < s <= _MAX_SERIAL})  # 0 means "no serial" to OpenSSH
    singles: list[int] = []
    ranges: list[tuple[int, int]] = []
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        if j - i >= 2:
            ranges.append((ordered[i], ordered[j]))
        else:
            singles.extend(ordered[i : j + 1])
        i = j + 1
    out = b""
    if singles:
        out += bytes([CERT_SERIAL_LIST]) + wire_string(struct.pack(f">{len(singles)}Q", *singles))
    for lo, hi in ranges:
        out += bytes([CERT_SERIAL_RANGE]) + wire_string(struct.pack(">QQ", lo, hi))
    return out


def encode_krl(
    *, version: int, generated: int, revoked: Mapping[bytes, Iterable[int]], comment: str = ""
) -> bytes:
    """The KRL revoking, for each CA key blob of ``revoked``, the certificates with those serials."""
    out = struct.pack(">QIQQQ", KRL_MAGIC, KRL_FORMAT_VERSION, version, generated, 0)
    out += wire_string(b"") + wire_string(comment.encode())
    for ca_key in sorted(revoked):
        subsections = _serial_subsections(revoked[ca_key])
        if subsections:
            section = wire_string(ca_key) + wire_string(b"") + subsections
            out += bytes([SECTION_CERTIFICATES]) + wire_string(section)
    return out


def group_by_ca(entries: Sequence[SSHRevokedEntry], ca_keys: Sequence[bytes]) -> dict[bytes, list[int]]:
    """CA key blob → revoked serials. A certificate the CA stored is listed under the key that
    signed it; an unknown one under every CA key of the configuration."""
    out: dict[bytes, list[int]] = {}
    for e in entries:
        try:
            serial = int(e.serial)
        except ValueError:
            continue
        signers: Sequence[bytes] = ca_keys
        if e.certificate is not None:
            with contextlib.suppress(SSHFormatError, ValueError):  # unreadable: as if unknown
                signers = (key_blob(certificate_from_blob(e.certificate).signature_key()),)
        for key in signers:
            out.setdefault(key, []).append(serial)
    return out


def build_krl(
    s: KRLSettings, *, version: int, now: int, entries: Sequence[SSHRevokedEntry]
) -> tuple[bytes, int]:
    """(the KRL, when to rebuild it: the first listed certificate's expiry, or a day)."""
    der = encode_krl(
        version=version,
        generated=now,
        revoked=group_by_ca(entries, s.ca_keys),
        comment=f"stepca KRL {version}",
    )
    expiries = [e.not_after for e in entries if e.not_after]
    refresh_at = min([now + KRL_REFRESH, *(x + 1 for x in expiries)])
    return der, refresh_at


__all__ = ["KRLSettings", "build_krl", "encode_krl", "group_by_ca"]
