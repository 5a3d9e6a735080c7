"""Edit ca.json safely: validate before writing, write atomically, keep the previous version.

Used by ``step ca provisioner add|remove``. The file stays readable for the people who also edit
it by hand: key order, unknown fields and the indentation (a tab, like step, or the spaces the
file already uses) are kept. One editor at a time (a lock on the directory); a file changed by
someone else between our read and our write is never overwritten.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stepca._fs import SECRET_FILE_MODE, atomic_write
from stepca.config import CAConfig, parse_ca_config, read_json_document
from stepca.errors import ConfigError

BACKUP_SUFFIX = ".bak"
LOCK_TIMEOUT = 10.0
_INDENT = re.compile(r"\n([ \t]+)\S")


@dataclass
class CAConfigDocument:
    """ca.json as read: the parsed JSON (edit ``raw``), its text, and how it is indented."""

    path: Path
    raw: dict[str, Any]
    text: str
    indent: str | int

    @property
    def provisioners(self) -> list[dict[str, Any]]:
        """The ``authority.provisioners`` list of ``raw`` (created if missing), edited in place."""
        authority = self.raw.get("authority")
        if not isinstance(authority, dict):
            authority = self.raw["authority"] = {}
        provs = authority.get("provisioners")
        if not isinstance(provs, list):
            provs = authority["provisioners"] = []
        return provs

    def render(self) -> str:
        """``raw`` as JSON, indented like the file was, ending like it did (step writes no final
        newline; an editor usually adds one)."""
        end = "\n" if self.text.endswith("\n") or not self.text else ""
        return json.dumps(self.raw, indent=self.indent, ensure_ascii=False) + end


def _detect_indent(text: str) -> str | int:
    m = _INDENT.search(text)
    if m is None or "\t" in m.group(1):
        return "\t"
    return len(m.group(1))


def read_document(path: Path | str) -> CAConfigDocument:
    path = Path(path)
    raw, text = read_json_document(path)
    return CAConfigDocument(path=path, raw=raw, text=text, indent=_detect_indent(text))


# ------------------------------------------------------------------------------------ validation


def provisioner_credential(entry: dict[str, Any]) -> str:
    """What tells provisioners of one type and name apart: the JWK kid, the OIDC client id."""
    kind = str(entry.get("type", "")).upper()
    if kind == "JWK":
        key = entry.get("key")
        return str(key.get("kid", "")) if isinstance(key, dict) else ""
    if kind == "OIDC":
        return str(entry.get("clientID", ""))
    return ""


def describe(entry: dict[str, Any]) -> str:
    """``jim@example.com (JWK) [kid: abc]`` for messages."""
    kind = str(entry.get("type", "")).upper()
    text = f"{entry.get('name', '')} ({kind})"
    cred = provisioner_credential(entry)
    if cred:
        text += f" [{'kid' if kind == 'JWK' else 'client id'}: {cred}]"
    return text


def check_provisioners(provs: list[dict[str, Any]], filename: str) -> None:
    """One provisioner per (type, name, kid / client id); a JWK kid used once in the whole file;
    JWK keys that parse; encrypted keys that look like compact JWEs."""
    from stepca.crypto import jose

    seen: dict[tuple[str, str, str], int] = {}
    kids: dict[str, int] = {}
    for i, entry in enumerate(provs):
        where = f"{filename}: authority.provisioners.{i}"
        ident = (
            str(entry.get("type", "")).upper(),
            str(entry.get("name", "")),
            provisioner_credential(entry),
        )
        if ident in seen:
            raise ConfigError(
                f"{where}: duplicated provisioner {describe(entry)}: "
                f"authority.provisioners.{seen[ident]} has the same type, name and key"
            )
        seen[ident] = i
        if ident[0] != "JWK":
            continue
        kid = ident[2]
        if kid in kids:
            raise ConfigError(
                f"{where}: provisioner {describe(entry)} uses the key of authority.provisioners.{kids[kid]}: "
                "each provisioner needs its own key"
            )
        kids[kid] = i
        try:
            public = jose.key_from_jwk(entry["key"])
        except jose.JOSEError as exc:
            raise ConfigError(f"{where}.key: {exc}") from None
        if hasattr(public, "private_bytes"):
            raise ConfigError(f"{where}.key: must be a public key")
        encrypted = entry.get("encryptedKey")
        if encrypted is not None and (not isinstance(encrypted, str) or encrypted.count(".") != 4):
            raise ConfigError(f"{where}.encryptedKey: must be a compact JWE")


def check_claims(config: CAConfig, filename: str) -> None:
    """The claims the CA will use must be consistent (min <= default <= max), authority and
    provisioner level, as step-ca checks them at start-up."""
    from stepca.authority.claims import EffectiveClaims

    base = EffectiveClaims().merged(config.authority.claims)
    try:
        base.check_consistent(f"{filename}: authority.claims")
        for i, prov in enumerate(config.authority.provisioners):
            base.merged(prov.claims).check_consistent(
                f"{filename}: authority.provisioners.{i} ({prov.name}) claims"
            )
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def validate(raw: dict[str, Any], filename: str) -> CAConfig:
    """Everything ``step-ca`` would refuse in the provisioners and claims, as a ConfigError."""
    config = parse_ca_config(raw, filename)
    provs = (raw.get("authority") or {}).get("provisioners") or []
    check_provisioners(provs, filename)
    check_claims(config, filename)
    return config


# ------------------------------------------------------------------------------------ writing


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """An exclusive lock on the config directory: one `step ca provisioner` edit at a time."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        deadline = time.monotonic() + LOCK_TIMEOUT
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise ConfigError(f"{directory}: another process is editing the configuration") from None
                time.sleep(0.05)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _keep_owner(path: Path, stat: os.stat_result) -> None:
    """When root edits a file another user owns (e.g. the `step` service user), give it back."""
    if os.geteuid() == 0 and (stat.st_uid, stat.st_gid) != (0, 0):
        os.chown(path, stat.st_uid, stat.st_gid)


@contextlib.contextmanager
def edit(path: Path | str) -> Iterator[CAConfigDocument]:
    """Read, let the caller change ``doc.raw``, validate, keep ``<path>.bak``, write atomically.

    Nothing is written if the block raises, if the result does not validate, or if the file was
    changed by someone else meanwhile. The written file has mode 0600 (it may hold a password).
    """
    path = Path(path).expanduser()
    directory = path.parent if str(path.parent) else Path(".")
    with _locked(directory):
        doc = read_document(path)
        yield doc
        new_text = doc.render()
        validate(json.loads(new_text), str(path))
        stat = path.stat()
        if path.read_text() != doc.text:
            raise ConfigError(f"{path}: changed by another program while editing: nothing written, try again")
        backup = path.with_name(path.name + BACKUP_SUFFIX)
        atomic_write(backup, doc.text, SECRET_FILE_MODE)
        _keep_owner(backup, stat)
        atomic_write(path, new_text, SECRET_FILE_MODE)
        _keep_owner(path, stat)
