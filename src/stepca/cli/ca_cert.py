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
@click.option(
    "--acme", "acme_url", metavar="URL", help="Get the certificate from this ACME directory URL (http-01)."
)
@click.option(
    "--standalone", is_flag=True, help="ACME: answer http-01 with a server on --http-listen (default)."
)
@click.option(
    "--webroot", type=click.Path(file_okay=False), help="ACME: write http-01 files under this directory."
)
@click.option("--contact", multiple=True, help="ACME: the account's contact email (repeatable).")
@click.option("--http-listen", default=":80", show_default=True, help="ACME: where --standalone listens.")
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
    acme_url: str | None,
    standalone: bool,
    webroot: str | None,
    contact: tuple[str, ...],
    http_listen: str,
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

    With --acme the certificate comes from an ACME server (any RFC 8555 CA, step-ca's ACME
    provisioners included) through http-01: --standalone answers on --http-listen (port 80),
    --webroot writes the challenge files for the web server already on port 80:
    `step ca certificate foo.example.com foo.crt foo.key --acme https://ca:9000/acme/acme/directory`.
    """
    if acme_url:
        if key_file is None:
            fail("KEY_FILE is required with --acme")
        if standalone and webroot:
            fail("use either --standalone or --webroot, not both")
        _acme_certificate(
            acme_url, subject, crt_file, key_file, list(san) or [subject], webroot, list(contact), http_listen,
            root, (kty, crv, size), force,
        )  # fmt: skip
        return
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


def _acme_certificate(
    directory: str,
    subject: str,
    crt_file: str,
    key_file: str,
    sans: list[str],
    webroot: str | None,
    contact: list[str],
    http_listen: str,
    root: str | None,
    key_spec: tuple[str, str | None, int | None],
    force: bool,
) -> None:
    import ipaddress
    import os
    import ssl

    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    from stepca._fs import atomic_write
    from stepca.client import acme
    from stepca.config import load_defaults
    from stepca.crypto.keys import KeySpecError, generate_private_key
    from stepca.crypto.x509build import build_csr

    confirm_overwrite(crt_file, force)
    confirm_overwrite(key_file, force)
    root_path = root or os.environ.get("STEP_ROOT") or load_defaults().root
    context = ssl.create_default_context(cafile=str(root_path) if root_path else None)
    names = list(dict.fromkeys([subject, *sans]))  # the CSR's CN is one of the order's names
    identifiers = []
    for name in names:
        try:
            identifiers.append({"type": "ip", "value": str(ipaddress.ip_address(name))})
        except ValueError:
            identifiers.append({"type": "dns", "value": name})
    try:
        private_key = generate_private_key(*key_spec)
    except KeySpecError as exc:
        fail(str(exc))
    csr_pem = build_csr(subject, names, private_key)
    csr_der = x509.load_pem_x509_csr(csr_pem).public_bytes(Encoding.DER)
    account_key = generate_private_key("EC", "P-256", None)
    client = acme.AcmeClient(directory, context, account_key)
    ok("ACME", directory)
    serve = (lambda t: acme.webroot(webroot, t)) if webroot else (lambda t: acme.standalone(http_listen, t))
    chain = acme.obtain(client, identifiers, csr_der, contact=contact, serve=serve)
    atomic_write(crt_file, chain, 0o644)
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
