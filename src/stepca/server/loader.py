"""The composition root: from a ca.json path (and a password) to everything a worker needs.

Used at start-up and on every SIGHUP; a failure raises ``LoadError`` with one line saying why,
and a reload that fails keeps the old configuration.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography import x509

from stepca._fs import read_password_file
from stepca.config import CAConfig, parse_ca_config, read_json_file, resolve_path
from stepca.crypto.keys import PrivateKey, WrongPasswordError, load_private_key
from stepca.crypto.pem import certificate_ders
from stepca.errors import ConfigError

if TYPE_CHECKING:
    from stepca.authority.ssh_issuer import SSHSettings


class LoadError(Exception):
    """The configuration cannot be loaded: the message says which file and why."""


@dataclass
class Secrets:
    """Where the key password comes from, in order: --password-file, ca.json password, a prompt
    answered at start-up (kept in memory so a reload does not need a terminal)."""

    password_file: str | None = None
    prompted: bytes | None = None
    ssh_host_password_file: str | None = None
    ssh_user_password_file: str | None = None

    def password(self, config: CAConfig) -> bytes | None:
        if self.password_file:
            return read_password_file(self.password_file)
        if config.password:
            return config.password.encode()
        return self.prompted


@dataclass
class Loaded:
    path: Path
    config: CAConfig
    raw: dict[str, Any]
    roots: list[x509.Certificate]
    federated_roots: list[x509.Certificate]
    intermediate: x509.Certificate
    intermediate_key: PrivateKey
    ssh_host_key: PrivateKey | None = None
    ssh_user_key: PrivateKey | None = None
    step_path: Path = field(default_factory=Path)
    #: templates and extra keys of the SSH CA, when ca.json has an ``ssh`` block
    ssh_settings: SSHSettings | None = None


def step_path_for(config_path: Path) -> Path:
    """STEPPATH for resolving relative paths: $STEPPATH, else the parent of config/ca.json."""
    env = os.environ.get("STEPPATH")
    if env:
        return Path(env).expanduser()
    parent = config_path.resolve().parent
    return parent.parent if parent.name == "config" else parent


def _certs(path: Path, what: str) -> list[x509.Certificate]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise LoadError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    try:
        return [x509.load_der_x509_certificate(d) for d in certificate_ders(data)]
    except ValueError:
        raise LoadError(f"{what} {path} is not a valid certificate") from None


def _key(path: Path, password: bytes | None, what: str) -> PrivateKey:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise LoadError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    try:
        return load_private_key(data, password, name=str(path))
    except WrongPasswordError:
        if password is None:
            raise LoadError(
                f"{path} is encrypted: use --password-file, the ca.json password, or run on a terminal"
            ) from None
        raise LoadError(f"error decrypting {path}: wrong password") from None
    except ValueError as exc:
        raise LoadError(str(exc)) from None


def needs_password(config_path: Path) -> tuple[bool, Path]:
    """Whether the intermediate key is encrypted and no password is configured."""
    raw = read_json_file(config_path)
    config = parse_ca_config(raw, str(config_path))
    key_path = resolve_path(config.key, step_path_for(config_path))
    try:
        head = key_path.read_bytes()[:4096]
    except OSError:
        return False, key_path
    encrypted = b"ENCRYPTED" in head
    return encrypted and not config.password, key_path


def load(config_path: Path, secrets: Secrets) -> Loaded:
    try:
        raw = read_json_file(config_path)
        config = parse_ca_config(raw, str(config_path))
    except ConfigError as exc:
        raise LoadError(str(exc)) from None
    base = step_path_for(config_path)
    roots: list[x509.Certificate] = []
    for root in config.root_paths:
        roots += _certs(resolve_path(root, base), "root certificate")
    federated: list[x509.Certificate] = []
    for fed in config.federated_roots or []:
        federated += _certs(resolve_path(fed, base), "federated root")
    chain = _certs(resolve_path(config.crt, base), "intermediate certificate")
    password = secrets.password(config)
    key = _key(resolve_path(config.key, base), password, "intermediate key")
    from stepca.crypto.keys import public_keys_equal

    if not public_keys_equal(chain[0].public_key(), key.public_key()):  # type: ignore[arg-type]
        raise LoadError(f"{config.key} is not the private key of {config.crt}")
    loaded = Loaded(
        path=config_path,
        config=config,
        raw=raw,
        roots=roots,
        federated_roots=federated,
        intermediate=chain[0],
        intermediate_key=key,
        step_path=base,
    )
    if config.ssh is not None:
        if config.ssh.host_key:
            pw = (
                read_password_file(secrets.ssh_host_password_file)
                if secrets.ssh_host_password_file
                else password
            )
            loaded.ssh_host_key = _key(resolve_path(config.ssh.host_key, base), pw, "SSH host key")
        if config.ssh.user_key:
            pw = (
                read_password_file(secrets.ssh_user_password_file)
                if secrets.ssh_user_password_file
                else password
            )
            loaded.ssh_user_key = _key(resolve_path(config.ssh.user_key, base), pw, "SSH user key")
        from stepca.authority.ssh_issuer import load_ssh_settings

        try:
            loaded.ssh_settings = load_ssh_settings(raw, base)
        except ValueError as exc:
            raise LoadError(str(exc)) from None
    return loaded
