"""Create a PKI the way smallstep's ``step ca init`` does, under a STEPPATH."""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from stepca._fs import (
    PUBLIC_FILE_MODE,
    SECRET_DIR_MODE,
    SECRET_FILE_MODE,
    atomic_write,
    ensure_dir,
    read_file,
)
from stepca.config import dump_json
from stepca.crypto import jose
from stepca.crypto.keys import (
    KeySpecError,
    PrivateKey,
    WrongPasswordError,
    check_key_spec,
    generate_private_key,
    load_private_key,
    private_key_to_pem,
    public_keys_equal,
)
from stepca.crypto.pem import sha256_fingerprint
from stepca.crypto.x509build import build_ca_certificate, ca_name
from stepca.pki.layout import StepLayout

DEFAULT_CIPHER_SUITES = [
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
]


class InitError(Exception):
    """A one-line reason `step ca init` cannot proceed."""


@dataclass
class InitOptions:
    name: str
    dns_names: list[str]
    address: str
    provisioner: str
    password: bytes
    step_path: Path
    provisioner_password: bytes | None = None
    ssh: bool = False
    kty: str = "EC"
    crv: str | None = None
    size: int | None = None
    root_crt: Path | None = None
    root_key: Path | None = None
    #: password of the existing --key (default: ``password``; an unencrypted key needs none)
    root_key_password: bytes | None = None
    force: bool = False
    #: ``--remote-management``: provisioners and admins in the database (authority.enableAdmin)
    remote_management: bool = False
    #: ``--admin-subject``: the first super-admin (smallstep's default ``step``)
    admin_subject: str = "step"


@dataclass
class InitResult:
    layout: StepLayout
    root_fingerprint: str
    provisioner_kid: str
    ssh: bool
    ca_url: str
    written: list[tuple[str, Path]] = field(default_factory=list)


def ca_url_for(dns_name: str, address: str) -> str:
    """``https://<first dns name>[:port]``; port 443 is left out, IPv6 literals are bracketed."""
    port = address.rsplit(":", 1)[1] if ":" in address else "443"
    host = f"[{dns_name}]" if ":" in dns_name and not dns_name.startswith("[") else dns_name
    return f"https://{host}" if port == "443" else f"https://{host}:{port}"


def validate_address(address: str) -> None:
    if ":" not in address:
        raise InitError(f"address {address!r} must be host:port or :port")
    port = address.rsplit(":", 1)[1]
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise InitError(f"address {address!r} has an invalid port")


_DNS_LABEL = re.compile(r"^(\*|[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)$")


def validate_dns_name(name: str) -> None:
    """A DNS name (wildcards allowed) or an IP literal, as the CA's ``dnsNames`` need."""
    try:
        ipaddress.ip_address(name.strip("[]"))
        return
    except ValueError:
        pass
    labels = name.rstrip(".").split(".")
    if not name or len(name) > 253 or not all(_DNS_LABEL.match(label) for label in labels):
        raise InitError(f"{name!r} is not a valid DNS name or IP address")


def validate_options(opts: InitOptions) -> None:
    """Everything that can be checked before any key is generated or any file written."""
    if not opts.name.strip():
        raise InitError("the PKI name cannot be empty")
    if not opts.dns_names:
        raise InitError("at least one DNS name or IP address is required")
    for dns_name in opts.dns_names:
        validate_dns_name(dns_name)
    if not opts.provisioner.strip():
        raise InitError("the provisioner name cannot be empty")
    validate_address(opts.address)
    if not opts.password:
        raise InitError("the password cannot be empty")
    if bool(opts.root_crt) != bool(opts.root_key):
        raise InitError("flags --root and --key must be used together")
    try:
        check_key_spec(opts.kty, opts.crv, opts.size)
    except KeySpecError as exc:
        raise InitError(str(exc)) from None


def check_can_write(layout: StepLayout, force: bool) -> None:
    existing = [p for p in (layout.ca_json, layout.root_crt, layout.root_key) if p.exists()]
    if existing and not force:
        raise InitError(
            f"a PKI already exists in {layout.base} ({existing[0]} is present); "
            "use --force to overwrite it or set STEPPATH to another directory"
        )


def load_existing_root(
    crt_path: Path, key_path: Path, passwords: list[bytes]
) -> tuple[x509.Certificate, PrivateKey]:
    """The root certificate and its key for ``--root``/``--key``.

    The key is tried unencrypted or with each of ``passwords``; a key none of them opens raises
    WrongPasswordError (so the caller can ask for ``--key-password-file``).
    """
    try:
        crt_data = read_file(crt_path, "root certificate")
        key_data = read_file(key_path, "root key")
    except OSError as exc:
        raise InitError(str(exc)) from None
    try:
        root = (
            x509.load_pem_x509_certificate(crt_data)
            if b"-----BEGIN" in crt_data
            else x509.load_der_x509_certificate(crt_data)
        )
    except ValueError:
        raise InitError(f"{crt_path} is not a valid certificate") from None
    key: PrivateKey | None = None
    error: WrongPasswordError | None = None
    for password in passwords or [b""]:
        try:
            key = load_private_key(key_data, password or None, name=str(key_path))
            break
        except WrongPasswordError as exc:
            error = exc
        except ValueError as exc:
            raise InitError(str(exc)) from None
    if key is None:
        assert error is not None
        raise error
    if not public_keys_equal(root.public_key(), key.public_key()):  # type: ignore[arg-type]
        raise InitError(f"{key_path} is not the private key of {crt_path}")
    try:
        bc = root.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        bc = None
    if bc is None or not bc.ca:
        raise InitError(f"{crt_path} is not a CA certificate")
    if bc.path_length == 0:
        raise InitError(f"{crt_path} cannot sign an intermediate CA (its path length is 0)")
    return root, key


def _ssh_public_line(key: PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)


def _authority_block(provisioners: list[dict[str, Any]], opts: InitOptions) -> dict[str, Any]:
    """ca.json's authority: with remote management, the provisioners are imported into the
    database at the first start and the first super-admin belongs to the first one."""
    if not opts.remote_management:
        return {"provisioners": provisioners}
    block: dict[str, Any] = {"enableAdmin": True, "provisioners": provisioners}
    if opts.admin_subject != "step":
        block["adminSubject"] = opts.admin_subject
    return block


def init_pki(opts: InitOptions, progress: Callable[[str], None] | None = None) -> InitResult:
    """Create the whole PKI under ``opts.step_path``.

    Every key, certificate and config document is built in memory first; only then are the
    files written, each atomically with its final mode. So a bad option or a failure while
    generating writes nothing (and an existing PKI replaced with ``force`` is left whole).
    ``progress`` receives "root" (generated or loaded), "intermediate" and "ssh" as each is ready.
    """
    validate_options(opts)
    layout = StepLayout(opts.step_path)
    check_can_write(layout, opts.force)
    report = progress or (lambda _step: None)

    # --- root
    if opts.root_crt and opts.root_key:
        # an explicit root key password is the only one tried; else the CA password (or none)
        candidates = [opts.root_key_password] if opts.root_key_password else [opts.password]
        root_cert, root_key = load_existing_root(opts.root_crt, opts.root_key, candidates)
    else:
        root_key = generate_private_key(opts.kty, opts.crv, opts.size)
        root_subject = ca_name(opts.name, f"{opts.name} Root CA")
        root_cert = build_ca_certificate(
            subject=root_subject,
            public_key=root_key.public_key(),
            issuer=root_subject,
            issuer_key=root_key,
            path_length=1,
        )
    report("root")
    fingerprint = sha256_fingerprint(root_cert.public_bytes(serialization.Encoding.DER))

    # --- intermediate
    int_key = generate_private_key(opts.kty, opts.crv, opts.size)
    int_cert = build_ca_certificate(
        subject=ca_name(opts.name, f"{opts.name} Intermediate CA"),
        public_key=int_key.public_key(),
        issuer=root_cert.subject,
        issuer_key=root_key,
        issuer_public_key=root_cert.public_key(),  # type: ignore[arg-type]
        issuer_certificate=root_cert,
        path_length=0,
    )
    report("intermediate")

    # what goes to disk, in order: (label for the summary or None, path, content, mode)
    files: list[tuple[str | None, Path, bytes, int]] = [
        (
            "Root certificate",
            layout.root_crt,
            root_cert.public_bytes(serialization.Encoding.PEM),
            PUBLIC_FILE_MODE,
        ),
        ("Root private key", layout.root_key, private_key_to_pem(root_key, opts.password), SECRET_FILE_MODE),
        (
            "Intermediate certificate",
            layout.intermediate_crt,
            int_cert.public_bytes(serialization.Encoding.PEM),
            PUBLIC_FILE_MODE,
        ),
        (
            "Intermediate private key",
            layout.intermediate_key,
            private_key_to_pem(int_key, opts.password),
            SECRET_FILE_MODE,
        ),
    ]

    # --- SSH CA keys (EC P-256, as smallstep's step)
    if opts.ssh:
        for label, pub_path, key_path in (
            ("SSH user", layout.ssh_user_pub, layout.ssh_user_key),
            ("SSH host", layout.ssh_host_pub, layout.ssh_host_key),
        ):
            ssh_key = generate_private_key("EC", "P-256")
            files.append(
                (f"{label} public key", pub_path, _ssh_public_line(ssh_key) + b"\n", PUBLIC_FILE_MODE)
            )
            files.append(
                (
                    f"{label} private key",
                    key_path,
                    private_key_to_pem(ssh_key, opts.password),
                    SECRET_FILE_MODE,
                )
            )
        report("ssh")

    # --- provisioner (EC P-256 JWK, private key as PBES2 JWE)
    prov_key = generate_private_key("EC", "P-256")
    pub_jwk = jose.public_jwk(prov_key)
    encrypted_key = jose.encrypt_with_password(
        json.dumps(jose.private_jwk(prov_key), separators=(",", ":")).encode(),
        opts.provisioner_password or opts.password,
    )
    provisioner: dict[str, Any] = {
        "type": "JWK",
        "name": opts.provisioner,
        "key": pub_jwk,
        "encryptedKey": encrypted_key,
    }
    provisioners: list[dict[str, Any]] = [provisioner]
    if opts.ssh:
        provisioner["claims"] = {"enableSSHCA": True}
        provisioners.append({"type": "SSHPOP", "name": "sshpop", "claims": {"enableSSHCA": True}})

    ca_json: dict[str, Any] = {
        "root": str(layout.root_crt),
        "federatedRoots": None,
        "crt": str(layout.intermediate_crt),
        "key": str(layout.intermediate_key),
        "address": opts.address,
        "insecureAddress": "",
        "dnsNames": list(opts.dns_names),
    }
    if opts.ssh:
        ca_json["ssh"] = {"hostKey": str(layout.ssh_host_key), "userKey": str(layout.ssh_user_key)}
    ca_json.update(
        {
            "logger": {"format": "text"},
            "db": {"type": "sqlite", "dataSource": str(layout.sqlite_db)},
            "authority": _authority_block(provisioners, opts),
            "tls": {
                "cipherSuites": DEFAULT_CIPHER_SUITES,
                "minVersion": 1.2,
                "maxVersion": 1.3,
                "renegotiation": False,
            },
        }
    )
    ca_url = ca_url_for(opts.dns_names[0], opts.address)
    defaults = {
        "ca-url": ca_url,
        "ca-config": str(layout.ca_json),
        "fingerprint": fingerprint,
        "root": str(layout.root_crt),
    }
    files.append(
        ("Default configuration", layout.defaults_json, dump_json(defaults).encode(), PUBLIC_FILE_MODE)
    )
    # ca.json may hold a password later: keep it private to the CA user
    files.append(
        ("Certificate Authority configuration", layout.ca_json, dump_json(ca_json).encode(), SECRET_FILE_MODE)
    )

    # --- write
    ensure_dir(layout.base, SECRET_DIR_MODE)
    for d in (layout.certs, layout.secrets, layout.config, layout.db):
        ensure_dir(d, SECRET_DIR_MODE)
    written: list[tuple[str, Path]] = []
    for summary_label, path, content, mode in files:
        atomic_write(path, content, mode)
        if summary_label:
            written.append((summary_label, path))
        if path == layout.root_key:
            written.append(("Root fingerprint", Path(fingerprint)))
    # the summary lists the database folder just before the configuration files, as step does
    position = next(i for i, (label, _) in enumerate(written) if label == "Default configuration")
    written.insert(position, ("Database folder", layout.db))
    return InitResult(
        layout=layout,
        root_fingerprint=fingerprint,
        provisioner_kid=pub_jwk["kid"],
        ssh=opts.ssh,
        ca_url=ca_url,
        written=written,
    )
