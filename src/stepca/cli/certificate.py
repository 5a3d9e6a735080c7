"""`step certificate ...`: fingerprint, inspect, create, verify."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from stepca.cli._ui import confirm_overwrite, fail, info, read_password
from stepca.cli.main import CONTEXT_SETTINGS

if TYPE_CHECKING:
    from collections.abc import Callable

    from cryptography import x509

    from stepca.client.revcheck import Verdict


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
    from stepca.cli.fast import fingerprint_lines

    try:
        lines = fingerprint_lines(_read_input(crt_file), bundle=bundle, fmt=fmt)
    except ValueError as exc:
        fail(f"{crt_file}: {exc}")
    for line in lines:
        click.echo(line)


def load_certificates(path: str, data: bytes | None = None) -> list[x509.Certificate]:
    from cryptography import x509

    from stepca.crypto.pem import certificate_ders

    try:
        ders = certificate_ders(_read_input(path) if data is None else data)
    except ValueError as exc:
        fail(f"{path}: {exc}")
    certs = []
    for der in ders:
        try:
            certs.append(x509.load_der_x509_certificate(der))
        except ValueError:
            fail(f"{path}: invalid DER: not a valid X.509 certificate")
    return certs


def _load_csr(path: str, data: bytes) -> x509.CertificateSigningRequest | None:
    """The CSR in ``data`` (PEM or DER), None when ``data`` is not a CSR at all."""
    from cryptography import x509

    if b"-----BEGIN" in data:
        if b"CERTIFICATE REQUEST" not in data:
            return None
        try:
            return x509.load_pem_x509_csr(data)
        except ValueError:
            fail(f"{path}: not a valid certificate request")
    try:
        return x509.load_der_x509_csr(data)
    except ValueError:
        return None


def _dump_json(doc: object) -> str:
    import json

    return json.dumps(doc, indent=2, ensure_ascii=False)


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
    """Print the contents of a certificate (or certificate request) in CRT_FILE (PEM or DER)."""
    from cryptography.hazmat.primitives import serialization

    from stepca.crypto import inspect as render

    data = _read_input(crt_file)
    csr = _load_csr(crt_file, data)
    # the renderers raise ValueError for what they cannot show (an Ed448 key, say): one line
    try:
        if csr is not None:
            if fmt == "json":
                out = _dump_json(render.inspect_csr_json(csr)) + "\n"
            elif fmt == "pem":
                out = csr.public_bytes(serialization.Encoding.PEM).decode()
            elif short:
                out = render.inspect_csr_short(csr)
            else:
                out = render.inspect_csr_text(csr)
            click.echo(out, nl=False)
            return
        certs = load_certificates(crt_file, data)
        selected = certs if bundle else certs[:1]
        if fmt == "json":
            docs = [render.inspect_json(c) for c in selected]
            click.echo(_dump_json(docs if bundle else docs[0]))
            return
        parts = []
        for cert in selected:
            if fmt == "pem":
                parts.append(cert.public_bytes(serialization.Encoding.PEM).decode())
            elif short:
                parts.append(render.inspect_short(cert))
            else:
                parts.append(render.inspect_text(cert))
    except ValueError as exc:
        fail(f"{crt_file}: cannot inspect: {exc}")
    click.echo("".join(parts), nl=False)


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
@click.option("--not-before", help="Validity start: a duration from now (e.g. -5m) or RFC 3339 time.")
@click.option("--not-after", help="Validity end: a duration from now (e.g. 24h) or RFC 3339 time.")
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
    not_before: str | None,
    not_after: str | None,
    password_file: str | None,
    no_password: bool,
    insecure: bool,
    subtle: bool,
    force: bool,
) -> None:
    """Create a private key and a certificate (or, with --csr, a certificate signing request).

    Profiles: leaf (signed by --ca/--ca-key), intermediate-ca (signed by --ca/--ca-key),
    root-ca, and self-signed (a self-signed leaf, needs --subtle). The key is encrypted with a
    password unless --no-password --insecure is given.
    """
    from stepca._fs import SECRET_FILE_MODE, atomic_write
    from stepca.crypto.keys import KeySpecError, check_key_spec, generate_private_key, private_key_to_pem
    from stepca.crypto.x509build import build_csr, build_simple_certificate

    if no_password and not insecure:
        fail("flag '--no-password' requires the '--insecure' flag")
    if no_password and password_file:
        fail("flags '--no-password' and '--password-file' cannot be used together")
    if not make_csr:
        if profile in ("leaf", "intermediate-ca") and not (ca_file and ca_key_file):
            fail(f"flags '--ca' and '--ca-key' are required with '--profile {profile}'")
        if profile == "self-signed" and not subtle:
            fail("profile 'self-signed' requires the '--subtle' flag")
        if profile in ("root-ca", "self-signed") and (ca_file or ca_key_file):
            fail(f"flags '--ca' and '--ca-key' cannot be used with '--profile {profile}'")
    if crt_file == key_file:
        fail("the certificate and the key must go to different files")
    if not make_csr and (not_before or not_after):
        from datetime import timedelta

        from stepca.crypto.x509build import validity_window

        validity_window(not_before, not_after, timedelta(hours=24))  # bad times fail before any prompt
    try:
        check_key_spec(kty, crv, size)
    except KeySpecError as exc:
        fail(str(exc))
    confirm_overwrite(crt_file, force)
    confirm_overwrite(key_file, force)
    password = None
    if not no_password:
        password = read_password(
            password_file,
            "Please enter the password to encrypt the private key",
            "--password-file",
            confirm=True,
        )
        if not password:
            fail("the password cannot be empty: use --no-password --insecure for an unencrypted key")
    key = generate_private_key(kty, crv, size)
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
            # asked for (or read) only when the CA key is encrypted
            ca_password=lambda: read_password(
                ca_password_file,
                f"Please enter the password to decrypt {ca_key_file}",
                "--ca-password-file",
            ),
            not_before=not_before,
            not_after=not_after,
            subtle=subtle,
        )
        what = "certificate"
    atomic_write(crt_file, pem, 0o644)
    atomic_write(key_file, private_key_to_pem(key, password), SECRET_FILE_MODE)
    info(f"Your {what} has been saved in {crt_file}.")
    info(f"Your private key has been saved in {key_file}.")


@certificate.command("verify")
@click.argument("crt_file")
@click.option(
    "--roots",
    help="Trusted root certificate(s): a file, a comma-separated list of files, or a directory "
    "(default: the root in defaults.json).",
)
@click.option("--host", help="Also check that the certificate is valid for this host name or IP.")
@click.option(
    "--issuing-ca",
    metavar="FILE",
    help="The issuer's certificate, for the CRL and OCSP checks (default: the certificate after the "
    "leaf in CRT_FILE, else the one the chain was verified with).",
)
@click.option(
    "--verify-crl",
    "--crl",
    "verify_crl",
    is_flag=True,
    help="Also check that the certificate is not on its issuer's CRL (and delta CRL), fetched from "
    "its CRL Distribution Point.",
)
@click.option("--crl-endpoint", metavar="URL", help="Fetch the CRL from URL instead (implies --verify-crl).")
@click.option(
    "--verify-ocsp",
    "--ocsp",
    "verify_ocsp",
    is_flag=True,
    help="Also ask the issuer's OCSP responder (the certificate's Authority Information Access), "
    "with a nonce, whether the certificate is revoked.",
)
@click.option(
    "--ocsp-endpoint", metavar="URL", help="Ask the OCSP responder at URL instead (implies --verify-ocsp)."
)
def verify(
    crt_file: str,
    roots: str | None,
    host: str | None,
    issuing_ca: str | None,
    verify_crl: bool,
    crl_endpoint: str | None,
    verify_ocsp: bool,
    ocsp_endpoint: str | None,
) -> None:
    """Verify CRT_FILE (a leaf, optionally followed by intermediates) against trusted roots.

    Exits 0 and prints nothing when the chain is valid; otherwise prints why and exits 1. With
    --verify-crl or --verify-ocsp the certificate must also not be revoked: each check prints its
    verdict, and a revoked (or, for OCSP, unknown) certificate, or a check that cannot be made,
    exits 1.
    """
    from stepca.config import load_defaults
    from stepca.crypto.x509verify import ChainError, verify_chain

    if not roots:
        roots = load_defaults().root
        if not roots:
            fail("flag --roots is required (no root in defaults.json)")
    chain = load_certificates(crt_file)
    trusted = [cert for path in _root_files(roots) for cert in load_certificates(path)]
    try:
        path = verify_chain(chain[0], chain[1:], trusted, host=host)
    except ChainError as exc:
        fail(f"failed to verify certificate: {exc}")
    if not (verify_crl or crl_endpoint or verify_ocsp or ocsp_endpoint):
        return
    from stepca.client.revcheck import RevocationCheckError, check_crl, check_ocsp

    if issuing_ca:
        issuer = load_certificates(issuing_ca)[0]
    elif len(path) > 1:
        issuer = path[1]
    else:
        fail("the certificate is self-signed: it cannot be revoked by an issuer (no CRL or OCSP check)")
    checks: list[Callable[[], Verdict]] = []
    if verify_crl or crl_endpoint:
        checks.append(lambda: check_crl(chain[0], issuer, trusted, crl_endpoint))
    if verify_ocsp or ocsp_endpoint:
        checks.append(lambda: check_ocsp(chain[0], issuer, trusted, ocsp_endpoint))
    for check in checks:
        try:
            verdict = check()
        except RevocationCheckError as exc:
            fail(f"failed to check revocation: {exc}")
        if verdict.status == "revoked":
            fail(f"certificate is revoked: {verdict.describe()}")
        if verdict.status == "unknown":
            fail(f"certificate status is unknown: {verdict.describe()}")
        info(verdict.describe())


def _root_files(roots: str) -> list[str]:
    """``--roots``: files separated by commas, or a directory (its .crt/.pem/.cer files)."""
    import os

    files: list[str] = []
    for item in (part.strip() for part in roots.split(",")):
        if not item:
            continue
        if os.path.isdir(item):
            found = sorted(
                os.path.join(item, name)
                for name in os.listdir(item)
                if name.endswith((".crt", ".pem", ".cer")) and os.path.isfile(os.path.join(item, name))
            )
            if not found:
                fail(f"directory {item} has no certificate files (.crt, .pem, .cer)")
            files.extend(found)
        else:
            files.append(item)
    if not files:
        fail("flag --roots names no file")
    return files
