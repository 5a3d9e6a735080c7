"""`step ca renew`, `step ca rekey`, `step ca revoke`."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import click

from stepca.cli._ca import (
    CAContext,
    ca_options,
    resolve_ca,
    select_signer,
    write_certificate,
    write_key,
)
from stepca.cli._ui import confirm_overwrite, fail, info

if TYPE_CHECKING:
    from stepca.messages import SignResponse


def _load_pair(
    crt_file: str, key_file: str, password_file: str | None
) -> tuple[list[Any], Any, bytes | None]:
    from cryptography import x509

    from stepca._fs import read_file, read_password_file
    from stepca.crypto.keys import WrongPasswordError, load_private_key
    from stepca.crypto.pem import certificate_ders

    try:
        chain = [
            x509.load_der_x509_certificate(d) for d in certificate_ders(read_file(crt_file, "certificate"))
        ]
    except ValueError:
        fail(f"{crt_file} is not a valid certificate")
    key_data = read_file(key_file, "key")
    password = read_password_file(password_file) if password_file else None
    try:
        key = load_private_key(key_data, password, name=key_file)
    except WrongPasswordError:
        if password is not None or not sys.stdin.isatty():
            fail(f"{key_file} is encrypted: use --password-file with the right password")
        from stepca.cli._ui import prompt_password

        password = prompt_password(f"Please enter the password to decrypt {key_file}", "--password-file")
        try:
            key = load_private_key(key_data, password, name=key_file)
        except ValueError as exc:
            fail(str(exc))
    except ValueError as exc:
        fail(str(exc))
    return chain, key, password


def _renew_once(ctx: CAContext, crt_file: str, key_file: str, password_file: str | None) -> SignResponse:
    from cryptography.hazmat.primitives import serialization

    from stepca.client.http import CAError
    from stepca.client.token import audience, x5c_token

    chain, key, password = _load_pair(crt_file, key_file, password_file)
    leaf = chain[0]
    try:
        if datetime.now(UTC) >= leaf.not_valid_after_utc:
            # TLS refuses an expired client certificate: prove possession with an x5c token instead
            from cryptography.x509.oid import NameOID

            cns = leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
            tok = x5c_token(
                subject=str(cns[0].value) if cns else "",
                audience=audience(ctx.ca_url, "renew"),
                chain_ders=[c.public_bytes(serialization.Encoding.DER) for c in chain],
                key=key,
            )
            with ctx.client() as client:
                return client.renew(token=tok)
        with ctx.client(cert_file=crt_file, key_file=key_file, key_password=password) as client:
            return client.renew()
    except CAError as exc:
        fail(f"error renewing certificate: {exc.summary()}")


@click.command("renew")
@click.argument("crt_file")
@click.argument("key_file")
@click.option(
    "--out", "-o", "out", type=click.Path(), help="Write the renewed certificate here instead of CRT_FILE."
)
@click.option("-f", "--force", is_flag=True, help="Overwrite the certificate file without asking.")
@click.option("--expires-in", help="Renew only if the certificate expires within this duration (e.g. 8h).")
@click.option("--daemon", is_flag=True, help="Keep running and renew at 2/3 of each certificate's lifetime.")
@click.option("--renew-period", help="With --daemon: renew this often instead of at 2/3 of the lifetime.")
@click.option("--exec", "exec_cmd", help="Run this command after each renewal (through /bin/sh).")
@click.option("--password-file", type=click.Path(), help="File with the password of KEY_FILE, if encrypted.")
@ca_options
def renew(
    crt_file: str,
    key_file: str,
    out: str | None,
    force: bool,
    expires_in: str | None,
    daemon: bool,
    renew_period: str | None,
    exec_cmd: str | None,
    password_file: str | None,
    ca_url: str | None,
    root: str | None,
) -> None:
    """Renew the certificate in CRT_FILE using its key KEY_FILE (mutual TLS with the CA).

    The new certificate has the same subject, SANs, key and lifetime. An expired certificate is
    renewed with an x5c token when the provisioner allows renewal after expiry.
    """
    from stepca._durations import parse_duration

    ctx = resolve_ca(ca_url, root)
    target = out or crt_file
    if daemon:
        period = parse_duration(renew_period) if renew_period else None
        _daemon(ctx, crt_file, key_file, target, password_file, exec_cmd, period)
        return
    if expires_in:
        remaining = _remaining(crt_file)
        try:
            window = parse_duration(expires_in)
        except ValueError as exc:
            fail(f"flag --expires-in: {exc}")
        if remaining > window:
            info(f"certificate not renewed: it expires in {_fmt(remaining)}, more than {expires_in}")
            return
    resp = _renew_once(ctx, crt_file, key_file, password_file)
    confirm_overwrite(target, force)
    write_certificate(target, resp)
    info(f"Your certificate has been saved in {target}.")
    if exec_cmd:
        _run_exec(exec_cmd)


def _remaining(crt_file: str) -> timedelta:
    from cryptography import x509

    from stepca._fs import read_file
    from stepca.crypto.pem import certificate_ders

    cert = x509.load_der_x509_certificate(certificate_ders(read_file(crt_file, "certificate"))[0])
    return cert.not_valid_after_utc - datetime.now(UTC)


def _fmt(d: timedelta) -> str:
    from stepca._durations import format_duration

    return format_duration(timedelta(seconds=int(d.total_seconds())))


def _run_exec(cmd: str) -> None:
    result = subprocess.run(["/bin/sh", "-c", cmd], check=False)
    if result.returncode != 0:
        info(f"error running '{cmd}': exit status {result.returncode}")


def next_renewal(not_before: datetime, not_after: datetime, now: datetime, period: timedelta | None) -> float:
    """Seconds until the next renewal: 2/3 of the lifetime, minus up to 1/20 of it as jitter."""
    lifetime = not_after - not_before
    if period is not None:
        return max(1.0, period.total_seconds())
    at = not_before + lifetime * 2 / 3 - lifetime / 20 * random.random()
    return max(1.0, (at - now).total_seconds())


def _daemon(
    ctx: CAContext,
    crt_file: str,
    key_file: str,
    target: str,
    password_file: str | None,
    exec_cmd: str | None,
    period: timedelta | None,
) -> None:
    from cryptography import x509

    from stepca._fs import read_file
    from stepca.crypto.pem import certificate_ders

    stop = {"flag": False}

    def _stop(*_: object) -> None:
        stop["flag"] = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    current = crt_file
    failures = 0
    while not stop["flag"]:
        cert = x509.load_der_x509_certificate(certificate_ders(read_file(current, "certificate"))[0])
        now = datetime.now(UTC)
        wait = next_renewal(cert.not_valid_before_utc, cert.not_valid_after_utc, now, period)
        if failures:
            wait = min(wait, 60.0, 2.0**failures)
        info(f"{now:%Y/%m/%d %H:%M:%S} next renewal in {_fmt(timedelta(seconds=wait))}")
        deadline = time.monotonic() + wait
        while not stop["flag"] and time.monotonic() < deadline:
            time.sleep(min(1.0, deadline - time.monotonic()))
        if stop["flag"]:
            break
        try:
            resp = _renew_once(ctx, current, key_file, password_file)
        except (click.ClickException, Exception) as exc:
            failures += 1
            info(f"{datetime.now(UTC):%Y/%m/%d %H:%M:%S} {exc}")
            continue
        failures = 0
        write_certificate(target, resp)
        current = target
        info(f"{datetime.now(UTC):%Y/%m/%d %H:%M:%S} Your certificate has been saved in {target}.")
        if exec_cmd:
            _run_exec(exec_cmd)


@click.command("rekey")
@click.argument("crt_file")
@click.argument("key_file")
@click.option("--out-cert", type=click.Path(), help="Write the new certificate here instead of CRT_FILE.")
@click.option("--out-key", type=click.Path(), help="Write the new private key here instead of KEY_FILE.")
@click.option("--kty", default="EC", show_default=True, help="Key type of the new key: EC, OKP or RSA.")
@click.option("--crv", help="Curve of the new key.")
@click.option("--size", type=int, help="RSA key size of the new key.")
@click.option("-f", "--force", is_flag=True, help="Overwrite files without asking.")
@click.option("--password-file", type=click.Path(), help="File with the password of KEY_FILE, if encrypted.")
@ca_options
def rekey(
    crt_file: str,
    key_file: str,
    out_cert: str | None,
    out_key: str | None,
    kty: str,
    crv: str | None,
    size: int | None,
    force: bool,
    password_file: str | None,
    ca_url: str | None,
    root: str | None,
) -> None:
    """Renew the certificate in CRT_FILE with a new private key."""
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    from stepca.client.http import CAError
    from stepca.crypto.keys import KeySpecError, generate_private_key
    from stepca.crypto.x509build import build_csr

    ctx = resolve_ca(ca_url, root)
    chain, _key, password = _load_pair(crt_file, key_file, password_file)
    leaf = chain[0]
    cns = leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    try:
        sans = [
            str(getattr(n, "value", n))
            for n in leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        ]
    except x509.ExtensionNotFound:
        sans = []
    try:
        new_key = generate_private_key(kty, crv, size)
    except KeySpecError as exc:
        fail(str(exc))
    csr = build_csr(str(cns[0].value) if cns else "", sans, new_key).decode()
    try:
        with ctx.client(cert_file=crt_file, key_file=key_file, key_password=password) as client:
            resp = client.rekey(csr)
    except CAError as exc:
        fail(f"error rekeying certificate: {exc.summary()}")
    crt_target, key_target = out_cert or crt_file, out_key or key_file
    confirm_overwrite(crt_target, force)
    confirm_overwrite(key_target, force)
    write_certificate(crt_target, resp)
    write_key(key_target, new_key)
    info(f"Your certificate has been saved in {crt_target}.")
    info(f"Your private key has been saved in {key_target}.")


def reason_code_from_flag(value: str | None) -> int:
    """``--reasonCode`` as a number or an RFC 5280 name (one table: ``stepca.reasons``)."""
    from stepca.reasons import reason_from_flag

    try:
        return int(reason_from_flag(value))
    except ValueError as exc:
        fail(str(exc))


@click.command("revoke")
@click.argument("serial", required=False)
@click.option("--token", help="A revoke token from 'step ca token SERIAL --revoke'.")
@click.option(
    "--cert", "cert_file", type=click.Path(), help="Revoke with mutual TLS using this certificate..."
)
@click.option("--key", "cert_key", type=click.Path(), help="...and its private key.")
@click.option("--reason", default="", help="A free-form reason for the revocation.")
@click.option("--reasonCode", "--reason-code", "reason_code", help="RFC 5280 reason code (number or name).")
@click.option(
    "--invalidity-date",
    "--invalidityDate",
    "invalidity_date",
    metavar="TIME",
    help="When the key is known or suspected compromised (RFC 3339, e.g. 2024-05-01T10:00:00Z): "
    "the CRL entry's invalidity date.",
)
@click.option(
    "--provisioner-password-file", type=click.Path(), help="File with the password of the provisioner key."
)
@click.option("--provisioner", "--issuer", "provisioner", help="The provisioner that signs the revoke token.")
@click.option("--kid", help="The kid of the provisioner that signs the revoke token.")
@click.option("--password-file", type=click.Path(), help="Alias of --provisioner-password-file.")
@ca_options
def revoke(
    serial: str | None,
    token: str | None,
    cert_file: str | None,
    cert_key: str | None,
    reason: str,
    reason_code: str | None,
    invalidity_date: str | None,
    provisioner_password_file: str | None,
    provisioner: str | None,
    kid: str | None,
    password_file: str | None,
    ca_url: str | None,
    root: str | None,
) -> None:
    """Revoke the certificate with serial number SERIAL (passive revocation: renewals refused).

    Authorize with a revoke token (--token, or one generated with a provisioner key) or with the
    certificate itself (--cert and --key, mutual TLS).
    """
    from stepca.client.http import CAError

    ctx = resolve_ca(ca_url, root)
    code = reason_code_from_flag(reason_code)
    if invalidity_date:
        from stepca.errors import BadRequest
        from stepca.messages import rfc3339_seconds

        try:
            rfc3339_seconds(invalidity_date, "flag --invalidity-date")
        except BadRequest as exc:
            fail(exc.detail)
    try:
        if cert_file or cert_key:
            if not (cert_file and cert_key):
                fail("flags --cert and --key must be used together")
            chain, _key, password = _load_pair(cert_file, cert_key, None)
            serial = serial or str(chain[0].serial_number)
            with ctx.client(cert_file=cert_file, key_file=cert_key, key_password=password) as client:
                client.revoke(serial, reason_code=code, reason=reason, invalidity_date=invalidity_date or "")
        else:
            if not serial:
                fail("the serial number to revoke is required")
            if not token:
                signer = select_signer(
                    ctx,
                    provisioner=provisioner,
                    kid=kid,
                    password_file=provisioner_password_file or password_file,
                    key_file=None,
                )
                token = signer.token(ctx, serial, "revoke")
            with ctx.client() as client:
                client.revoke(
                    serial, ott=token, reason_code=code, reason=reason, invalidity_date=invalidity_date or ""
                )
    except CAError as exc:
        fail(f"error revoking certificate: {exc.summary()}")
    info(f"Certificate with Serial Number {serial} has been revoked.")
