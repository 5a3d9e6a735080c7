"""A small ssh-agent client (draft-miller-ssh-agent): list, add (with a lifetime) and remove
identities over ``$SSH_AUTH_SOCK``, as `step ssh login` / `step ssh logout` need.

Keys are added as certificates: the agent gets the certificate blob and the private key, and
offers the certificate to servers. Supported keys: ECDSA (P-256/P-384/P-521) and Ed25519.
"""

from __future__ import annotations

import os
import socket
import struct
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

from stepca.crypto.keys import PrivateKey
from stepca.crypto.sshcert import blob_type, read_string, wire_string
from stepca.errors import StepError

SSH_AGENT_FAILURE = 5
SSH_AGENT_SUCCESS = 6
SSH_AGENTC_REQUEST_IDENTITIES = 11
SSH_AGENT_IDENTITIES_ANSWER = 12
SSH_AGENTC_ADD_IDENTITY = 17
SSH_AGENTC_REMOVE_IDENTITY = 18
SSH_AGENTC_ADD_ID_CONSTRAINED = 25
SSH_AGENT_CONSTRAIN_LIFETIME = 1
MAX_MESSAGE = 256 * 1024


class AgentError(StepError):
    """The agent is not reachable or refused a request."""


@dataclass(frozen=True, slots=True)
class Identity:
    blob: bytes
    comment: str

    @property
    def key_type(self) -> str:
        return blob_type(self.blob)


def _mpint(n: int) -> bytes:
    raw = n.to_bytes((n.bit_length() + 8) // 8, "big") if n else b""
    return wire_string(raw)


class Agent:
    """One connection to the agent at ``path`` (default ``$SSH_AUTH_SOCK``)."""

    def __init__(self, path: str | None = None, *, timeout: float = 10.0) -> None:
        path = path or os.environ.get("SSH_AUTH_SOCK", "")
        if not path:
            raise AgentError("no ssh-agent: SSH_AUTH_SOCK is not set (start one with: eval $(ssh-agent))")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        try:
            self.sock.connect(path)
        except OSError as exc:
            self.sock.close()
            raise AgentError(f"cannot connect to the ssh-agent at {path}: {exc.strerror or exc}") from None

    def __enter__(self) -> Agent:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.sock.close()

    def _recv_exact(self, n: int) -> bytes:
        out = b""
        while len(out) < n:
            chunk = self.sock.recv(n - len(out))
            if not chunk:
                raise AgentError("the ssh-agent closed the connection")
            out += chunk
        return out

    def _call(self, kind: int, payload: bytes = b"") -> tuple[int, bytes]:
        msg = bytes([kind]) + payload
        try:
            self.sock.sendall(struct.pack(">I", len(msg)) + msg)
            (length,) = struct.unpack(">I", self._recv_exact(4))
            if not 0 < length <= MAX_MESSAGE:
                raise AgentError("the ssh-agent sent an invalid answer")
            body = self._recv_exact(length)
        except OSError as exc:
            raise AgentError(f"ssh-agent: {exc}") from None
        return body[0], body[1:]

    def identities(self) -> list[Identity]:
        kind, body = self._call(SSH_AGENTC_REQUEST_IDENTITIES)
        if kind != SSH_AGENT_IDENTITIES_ANSWER or len(body) < 4:
            raise AgentError("the ssh-agent did not list its identities")
        (count,) = struct.unpack(">I", body[:4])
        offset, out = 4, []
        for _ in range(count):
            blob, offset = read_string(body, offset)
            comment, offset = read_string(body, offset)
            out.append(Identity(blob, comment.decode(errors="replace")))
        return out

    def add_certificate(
        self, key: PrivateKey, certificate_blob: bytes, comment: str, *, lifetime: int | None = None
    ) -> None:
        """Add ``key`` with its certificate; the agent forgets it after ``lifetime`` seconds."""
        cert_type = blob_type(certificate_blob).encode()
        if isinstance(key, ec.EllipticCurvePrivateKey):
            private = _mpint(key.private_numbers().private_value)
        elif isinstance(key, ed25519.Ed25519PrivateKey):
            seed = key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
            public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
            private = wire_string(public) + wire_string(seed + public)
        else:
            raise AgentError("only ECDSA and Ed25519 keys can be added to the ssh-agent by step")
        payload = (
            wire_string(cert_type) + wire_string(certificate_blob) + private + wire_string(comment.encode())
        )
        kind = SSH_AGENTC_ADD_IDENTITY
        if lifetime is not None and lifetime > 0:
            kind = SSH_AGENTC_ADD_ID_CONSTRAINED
            payload += bytes([SSH_AGENT_CONSTRAIN_LIFETIME]) + struct.pack(">I", min(lifetime, 0xFFFFFFFF))
        answer, _ = self._call(kind, payload)
        if answer != SSH_AGENT_SUCCESS:
            raise AgentError("the ssh-agent refused the key and certificate")

    def remove(self, blob: bytes) -> None:
        answer, _ = self._call(SSH_AGENTC_REMOVE_IDENTITY, wire_string(blob))
        if answer != SSH_AGENT_SUCCESS:
            raise AgentError("the ssh-agent refused to remove the identity")


__all__ = ["Agent", "AgentError", "Identity"]
