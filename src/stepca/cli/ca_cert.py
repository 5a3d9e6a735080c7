"""`step ca certificate` and `step ca sign`."""

from __future__ import annotations

import click

from stepca.cli._ca import (
    ca_options,
    provisioner_options,
    resolve_ca,
    select_signer,
    token_sans,
    write_certificate,
    write_key,
)
from stepca.cli._ui import confirm_overwrite, fail, ok


@click.command("certificate")
@click.argument("subject")
@click.argument("crt_file")
@click.argument("key_file", required=False)
@click.option("--token", help="A one-time token from 'step ca token' (otherwise one is generated).")
@provisioner_options
@click.option("--password-file", type=click.Path(), help="Alias of --provisioner-password-file.")
@click.option("--san", multiple=True, help="Subject alternative name (repeatable; default: SUBJECT).")
@click.option("--not-before", help="Certificate validity start: RFC 3339 time or duration.")
@click.option("--not-after", help="Certificate validity end: RFC 3339 time or duration (e.g. 12h).")
@click.option("--kty", default="EC", show_default=True, help="Key type: EC, OKP or RSA.")
@click.option("--crv", help="Curve: P-256 (default), P-384, P-521; Ed25519 for OKP.")
@click.option("--size", type=int, help="RSA key size in bits (default 2048).")
@click.option("-f", "--force", is_flag=True, help="Overwrite CRT_FILE and KEY_FILE without asking.")
@ca_options
def certificate(
    subject: str,
    crt_file: str,
    key_file: str | None,
    token: str | None,
    token_key: str | None,
    provisioner: str | None,
    kid: str | None,
    provisioner_password_file: str | None,
    password_file: str | None,
    san: tuple[str, ...],
    not_before: str | None,
    not_after: str | None,
    kty: str,
    crv: str | None,
    size: int | None,
    force: bool,
    ca_url: str | None,
    root: str | None,
) -> None:
    """Generate a new private key and a certificate for SUBJECT signed by the CA.

    Writes CRT_FILE (the certificate followed by the intermediate) and KEY_FILE (unencrypted,
    mode 0600).

    With an OIDC provisioner, a browser opens to log in with the OpenID Provider (--console prints
    the URL instead); its ID token authorizes the certificate, whose names come from the token
    (the subject, the email and the issuer#subject URI). SUBJECT may then be left out:
    `step ca certificate CRT_FILE KEY_FILE --provisioner NAME`.
    """
    from stepca.cli._ca import OIDCSigner
    from stepca.crypto.keys import KeySpecError, generate_private_key
    from stepca.crypto.x509build import build_csr

    if key_file is None:  # `step ca certificate crt key`: the subject comes from an OIDC login
        subject, crt_file, key_file = "", subject, crt_file
    ctx = resolve_ca(ca_url, root)
    confirm_overwrite(crt_file, force)
    confirm_overwrite(key_file, force)
    if token:
        tok_sub, tok_sans = token_sans(token)
        subject = subject or tok_sub or ""
        sans = list(san) or tok_sans or ([subject] if subject else [])
    else:
        signer = select_signer(
            ctx,
            provisioner=provisioner,
            kid=kid,
            password_file=provisioner_password_file or password_file,
            key_file=token_key,
        )
        if isinstance(signer, OIDCSigner):
            token = signer.token(ctx, subject, "sign")
            subject, oidc_sans = oidc_names(token)
            sans = list(san) or oidc_sans
        else:
            if not subject:
                fail("SUBJECT is required (only an OIDC login can tell it)")
            sans = list(san) or [subject]
            token = signer.token(ctx, subject, "sign", sans=sans)
    if not subject and not sans:
        fail("SUBJECT is required: the token names no subject")
    try:
        private_key = generate_private_key(kty, crv, size)
    except KeySpecError as exc:
        fail(str(exc))
    csr = build_csr(subject, sans, private_key).decode()
    with ctx.client() as client:
        resp = client.sign(csr, token, not_before or "", not_after or "")
    ok("CA", ctx.ca_url)
    write_certificate(crt_file, resp)
    ok("Certificate", crt_file)
    write_key(key_file, private_key)
    ok("Private Key", key_file)


def oidc_names(id_token: str) -> tuple[str, list[str]]:
    """The certificate names an ID token gives, as the CA computes them: ``sub`` as the subject,
    the email and ``{iss}#{sub}`` as SANs (read without verification: the CA verifies)."""
    from stepca.crypto.jose import CompactJWS, JOSEError
    from stepca.provisioner.oidc import certificate_names

    try:
        claims = CompactJWS(id_token).claims()
    except JOSEError as exc:
        fail(f"invalid ID token: {exc}")
    return certificate_names(claims)


@click.command("sign")
@click.argument("csr_file")
@click.argument("crt_file")
@click.option("--token", help="A one-time token from 'step ca token' (otherwise one is generated).")
@provisioner_options
@click.option("--password-file", type=click.Path(), help="Alias of --provisioner-password-file.")
@click.option("--not-before", help="Certificate validity start: RFC 3339 time or duration.")
@click.option("--not-after", help="Certificate validity end: RFC 3339 time or duration.")
@click.option("-f", "--force", is_flag=True, help="Overwrite CRT_FILE without asking.")
@ca_options
def sign(
    csr_file: str,
    crt_file: str,
    token: str | None,
    token_key: str | None,
    provisioner: str | None,
    kid: str | None,
    provisioner_password_file: str | None,
    password_file: str | None,
    not_before: str | None,
    not_after: str | None,
    force: bool,
    ca_url: str | None,
    root: str | None,
) -> None:
    """Sign the certificate signing request in CSR_FILE and write the certificate to CRT_FILE."""
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    from stepca._fs import read_file

    ctx = resolve_ca(ca_url, root)
    data = read_file(csr_file, "certificate request")
    try:
        csr = x509.load_pem_x509_csr(data)
    except ValueError:
        fail(f"{csr_file} is not a valid PEM certificate request")
    if not csr.is_signature_valid:
        fail(f"{csr_file}: the certificate request signature is not valid")
    confirm_overwrite(crt_file, force)
    if not token:
        cns = csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        subject = str(cns[0].value) if cns else ""
        try:
            san_ext = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            sans = [str(getattr(n, "value", n)) for n in san_ext]
        except x509.ExtensionNotFound:
            sans = [subject] if subject else []
        if not subject and not sans:
            fail("the certificate request has no common name and no SANs")
        signer = select_signer(
            ctx,
            provisioner=provisioner,
            kid=kid,
            password_file=provisioner_password_file or password_file,
            key_file=token_key,
        )
        token = signer.token(ctx, subject or sans[0], "sign", sans=sans)
    with ctx.client() as client:
        resp = client.sign(data.decode(), token, not_before or "", not_after or "")
    ok("CA", ctx.ca_url)
    write_certificate(crt_file, resp)
    ok("Certificate", crt_file)
