"""Create a PKI the way smallstep's ``step ca init`` does, under a STEPPATH."""

from __future__ import annotations

import json
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
    PrivateKey,
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
    force: bool = False


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


def check_can_write(layout: StepLayout, force: bool) -> None:
    existing = [p for p in (layout.ca_json, layout.root_crt, layout.root_key) if p.exists()]
    if existing and not force:
        raise InitError(
            f"a PKI already exists in {layout.base} ({existing[0]} is present); "
            "use --force to overwrite it or set STEPPATH to another directory"
        )


def _load_existing_root(opts: InitOptions) -> tuple[x509.Certificate, PrivateKey]:
    assert opts.root_crt is not None and opts.root_key is not None
    try:
        crt_data = read_file(opts.root_crt, "root certificate")
        key_data = read_file(opts.root_key, "root key")
    except OSError as exc:
        raise InitError(str(exc)) from None
    try:
        root = (
            x509.load_pem_x509_certificate(crt_data)
            if b"-----BEGIN" in crt_data
            else x509.load_der_x509_certificate(crt_data)
        )
    except ValueError:
        raise InitError(f"{opts.root_crt} is not a valid certificate") from None
    try:
        key = load_private_key(key_data, opts.password, name=str(opts.root_key))
    except ValueError as exc:
        raise InitError(str(exc)) from None
    if not public_keys_equal(root.public_key(), key.public_key()):  # type: ignore[arg-type]
        raise InitError(f"{opts.root_key} is not the private key of {opts.root_crt}")
    bc = root.extensions.get_extension_for_class(x509.BasicConstraints).value if _has_bc(root) else None
    if bc is None or not bc.ca:
        raise InitError(f"{opts.root_crt} is not a CA certificate")
    return root, key


def _has_bc(cert: x509.Certificate) -> bool:
    try:
        cert.extensions.get_extension_for_class(x509.BasicConstraints)
    except x509.ExtensionNotFound:
        return False
    return True


def _ssh_public_line(key: PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)


def init_pki(opts: InitOptions) -> InitResult:
    """Write the whole tree. Files are written atomically with their final modes."""
    if not opts.name.strip():
        raise InitError("the PKI name cannot be empty")
    if not opts.dns_names:
        raise InitError("at least one DNS name or IP address is required")
    if not opts.provisioner.strip():
        raise InitError("the provisioner name cannot be empty")
    validate_address(opts.address)
    if bool(opts.root_crt) != bool(opts.root_key):
        raise InitError("--root and --key must be used together")
    layout = StepLayout(opts.step_path)
    check_can_write(layout, opts.force)

    ensure_dir(layout.base, SECRET_DIR_MODE)
    for d in (layout.certs, layout.config, layout.db):
        ensure_dir(d, SECRET_DIR_MODE)
    ensure_dir(layout.secrets, SECRET_DIR_MODE)
    result_written: list[tuple[str, Path]] = []

    # --- root
    if opts.root_crt:
        root_cert, root_key = _load_existing_root(opts)
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
    root_der = root_cert.public_bytes(serialization.Encoding.DER)
    atomic_write(layout.root_crt, root_cert.public_bytes(serialization.Encoding.PEM), PUBLIC_FILE_MODE)
    result_written.append(("Root certificate", layout.root_crt))
    if not opts.root_crt:
        atomic_write(layout.root_key, private_key_to_pem(root_key, opts.password), SECRET_FILE_MODE)
        result_written.append(("Root private key", layout.root_key))
    fingerprint = sha256_fingerprint(root_der)
    result_written.append(("Root fingerprint", Path(fingerprint)))

    # --- intermediate
    int_key = generate_private_key(opts.kty, opts.crv, opts.size)
    int_cert = build_ca_certificate(
        subject=ca_name(opts.name, f"{opts.name} Intermediate CA"),
        public_key=int_key.public_key(),
        issuer=root_cert.subject,
        issuer_key=root_key,
        issuer_public_key=root_cert.public_key(),  # type: ignore[arg-type]
        path_length=0,
    )
    atomic_write(layout.intermediate_crt, int_cert.public_bytes(serialization.Encoding.PEM), PUBLIC_FILE_MODE)
    atomic_write(layout.intermediate_key, private_key_to_pem(int_key, opts.password), SECRET_FILE_MODE)
    result_written.append(("Intermediate certificate", layout.intermediate_crt))
    result_written.append(("Intermediate private key", layout.intermediate_key))

    # --- SSH CA keys
    if opts.ssh:
        for label, pub_path, key_path in (
            ("SSH user", layout.ssh_user_pub, layout.ssh_user_key),
            ("SSH host", layout.ssh_host_pub, layout.ssh_host_key),
        ):
            ssh_key = generate_private_key("EC", "P-256")
            atomic_write(pub_path, _ssh_public_line(ssh_key) + b"\n", PUBLIC_FILE_MODE)
            atomic_write(key_path, private_key_to_pem(ssh_key, opts.password), SECRET_FILE_MODE)
            result_written.append((f"{label} public key", pub_path))
            result_written.append((f"{label} private key", key_path))

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

    result_written.append(("Database folder", layout.db))
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
            "authority": {"provisioners": provisioners},
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
    atomic_write(layout.defaults_json, dump_json(defaults), PUBLIC_FILE_MODE)
    result_written.append(("Default configuration", layout.defaults_json))
    # ca.json may hold a password later: keep it private to the CA user
    atomic_write(layout.ca_json, dump_json(ca_json), SECRET_FILE_MODE)
    result_written.append(("Certificate Authority configuration", layout.ca_json))
    return InitResult(
        layout=layout,
        root_fingerprint=fingerprint,
        provisioner_kid=pub_jwk["kid"],
        ssh=opts.ssh,
        ca_url=ca_url,
        written=result_written,
    )
