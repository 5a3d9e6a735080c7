"""`step ca crl` and `step ssh krl`: fetch the CA's revocation lists (docs/revocation.md)."""

from __future__ import annotations

import sys

import click

from stepca.cli._ca import ca_options, resolve_ca
from stepca.cli._ui import fail, info


def _emit(data: bytes, out: str | None, what: str, binary: bool) -> None:
    """Write ``data`` to ``out`` atomically (a reader such as sshd never sees half a file) or to
    standard output; binary data is not printed on a terminal."""
    if out:
        from stepca._fs import atomic_write

        try:
            atomic_write(out, data, 0o644)
        except OSError as exc:
            fail(f"cannot write {out}: {exc.strerror or exc}")
        info(f"The {what} has been saved in {out}.")
        return
    if binary and sys.stdout.isatty():
        fail(f"the {what} is binary: use --out FILE" + (" or --pem" if "CRL" in what else ""))
    sys.stdout.buffer.write(data)
    sys.stdout.flush()


@click.command("crl")
@click.option("--out", metavar="FILE", help="Write the CRL to FILE (replaced atomically) instead of stdout.")
@click.option("--delta", is_flag=True, help="Fetch the delta CRL (changes since its base CRL).")
@click.option("--pem", is_flag=True, help="PEM instead of DER.")
@ca_options
def crl(out: str | None, delta: bool, pem: bool, ca_url: str | None, root: str | None) -> None:
    """Download the CA's certificate revocation list (RFC 5280), or with --delta its delta CRL.

    The CRL's signature is checked with the CA's intermediate certificate before it is written.

    \b
      $ step ca crl --out crl.der
      $ step ca crl --pem > crl.pem
      $ step ca crl --delta --pem --out delta.pem
      $ openssl verify -crl_check -CRLfile crl.pem -CAfile root_ca.crt -untrusted intermediate_ca.crt leaf.crt
    """
    from cryptography import x509

    from stepca.client.http import CAError
    from stepca.crypto.pem import der_to_pem

    ctx = resolve_ca(ca_url, root)
    what = "delta CRL" if delta else "CRL"
    try:
        with ctx.client() as client:
            der = client.crl(delta=delta)
            intermediates = client.intermediates()
    except CAError as exc:
        fail(f"error downloading the {what}: {exc.summary()}")
    try:
        parsed = x509.load_der_x509_crl(der)
    except ValueError:
        fail(f"the CA answered with something that is not a {what}")
    issuers = [x509.load_pem_x509_certificate(p.encode()) for p in intermediates]
    if not any(c.subject == parsed.issuer and parsed.is_signature_valid(c.public_key()) for c in issuers):  # type: ignore[arg-type]
        fail(f"the {what} is not signed by the CA's intermediate certificate")
    _emit(der_to_pem(der, "X509 CRL").encode() if pem else der, out, what, binary=not pem)


@click.command("krl")
@click.option("--out", metavar="FILE", help="Write the KRL to FILE (replaced atomically) instead of stdout.")
@ca_options
def krl(out: str | None, ca_url: str | None, root: str | None) -> None:
    """Download the OpenSSH Key Revocation List of the SSH certificates the CA revoked.

    Point sshd's RevokedKeys (users) or ssh's RevokedHostKeys (hosts) at the file and refresh it
    periodically; the file is replaced atomically.

    \b
      $ step ssh krl --out /etc/ssh/revoked_keys
      $ ssh-keygen -Q -f /etc/ssh/revoked_keys id_ecdsa-cert.pub
    """
    from stepca.client.http import CAError

    ctx = resolve_ca(ca_url, root)
    try:
        with ctx.client() as client:
            data = client.ssh_krl()
    except CAError as exc:
        fail(f"error downloading the KRL: {exc.summary()}")
    if not data.startswith(b"SSHKRL\n\0"):
        fail("the CA answered with something that is not a KRL")
    _emit(data, out, "KRL", binary=True)
