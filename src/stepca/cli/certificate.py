"""`step certificate ...`: fingerprint, inspect, create, verify."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from stepca.cli._ui import confirm_overwrite, fail, info, read_password
from stepca.cli.main import CONTEXT_SETTINGS

if TYPE_CHECKING:
    from cryptography import x509


@click.group(context_settings=CONTEXT_SETTINGS)
def certificate() -> None:
    """Create, inspect, verify and fingerprint X.509 certificates."""


def _read_input(path: str) -> bytes:
    from stepca._fs import read_file

    if path == "-":
        return sys.stdin.buffer.read()
    return read_file(path, "file")


@certificate.command("fingerprint")
@click.argument("crt_file")
@click.option("--bundle", is_flag=True, help="Print the fingerprint of every certificate in the file.")
@click.option(
    "--format", "fmt", type=click.Choice(["hex", "base64", "base64-url"]), default="hex", show_default=True
)
def fingerprint(crt_file: str, bundle: bool, fmt: str) -> None:
    """Print the SHA-256 fingerprint of the certificate in CRT_FILE (lowercase hex of the DER)."""
    import base64
    import hashlib

    from stepca.crypto.pem import certificate_ders

    try:
        ders = certificate_ders(_read_input(crt_file))
    except ValueError as exc:
        fail(f"{crt_file}: {exc}")
    for der in ders if bundle else ders[:1]:
        digest = hashlib.sha256(der).digest()
        if fmt == "hex":
            click.echo(digest.hex())
        elif fmt == "base64":
            click.echo(base64.b64encode(digest).decode())
        else:
            click.echo(base64.urlsafe_b64encode(digest).decode().rstrip("="))


def load_certificates(path: str) -> list[x509.Certificate]:
    from cryptography import x509

    from stepca.crypto.pem import certificate_ders

    try:
        return [x509.load_der_x509_certificate(der) for der in certificate_ders(_read_input(path))]
    except ValueError as exc:
        fail(f"{path}: {exc}" if str(exc) else f"{path}: not a valid certificate")


@certificate.command("inspect")
@click.argument("crt_file")
@click.option("--short", is_flag=True, help="Print a short summary.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "pem"]),
    default="text",
    show_default=True,
    help="Output format.",
)
@click.option("--bundle", is_flag=True, help="Inspect every certificate in the file, not only the first.")
def inspect(crt_file: str, short: bool, fmt: str, bundle: bool) -> None:
    """Print the contents of a certificate (or certificate request) in CRT_FILE."""
    import json

    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    from stepca.crypto import inspect as render

    data = _read_input(crt_file)
    if b"CERTIFICATE REQUEST" in data:
        try:
            csr = x509.load_pem_x509_csr(data)
        except ValueError:
            fail(f"{crt_file}: not a valid certificate request")
        if fmt == "json":
            click.echo(json.dumps(render.inspect_csr_json(csr), indent=2))
        elif fmt == "pem":
            click.echo(csr.public_bytes(serialization.Encoding.PEM).decode(), nl=False)
        else:
            click.echo(render.inspect_csr_text(csr), nl=False)
        return
    certs = load_certificates(crt_file)
    selected = certs if bundle else certs[:1]
    if fmt == "json":
        docs = [render.inspect_json(c) for c in selected]
        click.echo(json.dumps(docs if bundle else docs[0], indent=2))
        return
    for cert in selected:
        if fmt == "pem":
            click.echo(cert.public_bytes(serialization.Encoding.PEM).decode(), nl=False)
        elif short:
            click.echo(render.inspect_short(cert), nl=False)
        else:
            click.echo(render.inspect_text(cert), nl=False)


@certificate.command("create")
@click.argument("subject")
@click.argument("crt_file")
@click.argument("key_file")
@click.option(
    "--csr", "make_csr", is_flag=True, help="Create a certificate signing request instead of a certificate."
)
@click.option(
    "--profile",
    type=click.Choice(["leaf", "intermediate-ca", "root-ca", "self-signed"]),
    default="leaf",
    show_default=True,
    help="The kind of certificate to create (ignored with --csr).",
)
@click.option(
    "--ca", "ca_file", type=click.Path(), help="Issuer certificate (leaf and intermediate-ca profiles)."
)
@click.option("--ca-key", "ca_key_file", type=click.Path(), help="Issuer private key.")
@click.option("--ca-password-file", type=click.Path(), help="File with the password of --ca-key.")
@click.option(
    "--san", multiple=True, help="Subject alternative name: DNS name, IP, email or URI (repeatable)."
)
@click.option("--kty", default="EC", show_default=True, help="Key type: EC, OKP or RSA.")
@click.option("--crv", help="Curve: P-256 (default), P-384, P-521, Ed25519.")
@click.option("--size", type=int, help="RSA key size in bits.")
@click.option("--not-after", help="Validity end: a duration (e.g. 24h) or RFC 3339 time.")
@click.option("--password-file", type=click.Path(), help="File with the password to encrypt the new key.")
@click.option("--no-password", is_flag=True, help="Do not encrypt the private key (needs --insecure).")
@click.option("--insecure", is_flag=True, help="Allow --no-password.")
@click.option("--subtle", is_flag=True, help="Allow self-signed leaf certificates.")
@click.option("-f", "--force", is_flag=True, help="Overwrite existing files.")
def create(
    subject: str,
    crt_file: str,
    key_file: str,
    make_csr: bool,
    profile: str,
    ca_file: str | None,
    ca_key_file: str | None,
    ca_password_file: str | None,
    san: tuple[str, ...],
    kty: str,
    crv: str | None,
    size: int | None,
    not_after: str | None,
    password_file: str | None,
    no_password: bool,
    insecure: bool,
    subtle: bool,
    force: bool,
) -> None:
    """Create a private key and a certificate (or, with --csr, a certificate signing request).

    The key is encrypted with a password unless --no-password --insecure is given.
    """
    from stepca._fs import SECRET_FILE_MODE, atomic_write
    from stepca.crypto.keys import KeySpecError, generate_private_key, private_key_to_pem
    from stepca.crypto.x509build import build_csr, build_simple_certificate

    if no_password and not insecure:
        fail("flag '--no-password' requires the '--insecure' flag")
    confirm_overwrite(crt_file, force)
    confirm_overwrite(key_file, force)
    try:
        key = generate_private_key(kty, crv, size)
    except KeySpecError as exc:
        fail(str(exc))
    sans = list(san) if san else [subject]
    if make_csr:
        pem = build_csr(subject, sans, key)
        what = "certificate signing request"
    else:
        pem = build_simple_certificate(
            profile=profile,
            subject=subject,
            sans=sans,
            key=key,
            ca_file=ca_file,
            ca_key_file=ca_key_file,
            ca_password=(
                read_password(
                    ca_password_file,
                    f"Please enter the password to decrypt {ca_key_file}",
                    "--ca-password-file",
                )
                if ca_key_file
                else None
            ),
            not_after=not_after,
            subtle=subtle,
        )
        what = "certificate"
    password = None
    if not no_password:
        password = read_password(
            password_file,
            "Please enter the password to encrypt the private key",
            "--password-file",
            confirm=True,
        )
    atomic_write(crt_file, pem, 0o644)
    atomic_write(key_file, private_key_to_pem(key, password), SECRET_FILE_MODE)
    info(f"Your {what} has been saved in {crt_file}.")
    info(f"Your private key has been saved in {key_file}.")


@certificate.command("verify")
@click.argument("crt_file")
@click.option(
    "--roots", type=click.Path(), help="File with the trusted root certificate(s) (default: STEPPATH root)."
)
@click.option("--host", help="Also check that the certificate is valid for this host name or IP.")
def verify(crt_file: str, roots: str | None, host: str | None) -> None:
    """Verify CRT_FILE (a leaf, optionally followed by intermediates) against trusted roots.

    Exits 0 and prints nothing when the chain is valid; otherwise prints why and exits 1.
    """
    from stepca.config import load_defaults
    from stepca.crypto.x509verify import ChainError, verify_chain

    if not roots:
        roots = load_defaults().root
        if not roots:
            fail("flag --roots is required (no root in defaults.json)")
    chain = load_certificates(crt_file)
    trusted = load_certificates(roots)
    try:
        verify_chain(chain[0], chain[1:], trusted, host=host)
    except ChainError as exc:
        fail(f"failed to verify certificate: {exc}")
