"""Remote administration from the CLI: the ``--admin-*`` flags, whether a command runs in remote
mode, and the admin login (an admin certificate from the admin provisioner when
``--admin-cert``/``--admin-key`` are not given, as smallstep's step gets one)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from stepca.client.admin import AdminClient

F = TypeVar("F", bound=Callable[..., Any])

ADMIN_FLAGS = ("admin_cert", "admin_key", "admin_subject", "admin_provisioner", "admin_password_file")
DEFAULT_ADMIN_SUBJECT = "step"


def admin_options(fn: F) -> F:
    """The flags of every remote-administration command (smallstep's names)."""
    opts = [
        click.option(
            "--admin-cert", type=click.Path(dir_okay=False), help="The admin certificate (PEM chain)."
        ),
        click.option("--admin-key", type=click.Path(dir_okay=False), help="The private key of --admin-cert."),
        click.option(
            "--admin-subject",
            "--admin-name",
            "admin_subject",
            help="The admin subject to log in as (default: step).",
        ),
        click.option(
            "--admin-provisioner",
            "--admin-issuer",
            "admin_provisioner",
            help="The JWK provisioner of the admin, to get an admin certificate.",
        ),
        click.option(
            "--admin-password-file",
            type=click.Path(dir_okay=False),
            help="The password of the admin provisioner's key.",
        ),
        click.option("--ca-url", "ca_url", help="URI of the certificate authority (default: defaults.json)."),
        click.option(
            "--root", type=click.Path(), help="The root certificate to trust (default: defaults.json)."
        ),
    ]
    for opt in reversed(opts):
        fn = opt(fn)
    return fn


def remote_mode(opts: dict[str, Any], ca_config: str | None) -> bool:
    """Remote when an admin flag is given, or, without --ca-config, when the local ca.json has
    ``authority.enableAdmin`` (its provisioners are then in the database, not in the file)."""
    if any(opts.get(name) for name in ADMIN_FLAGS):
        return True
    if ca_config:
        return False
    import json

    from stepca.errors import ConfigError, UserError
    from stepca.pki.provisioners import default_ca_config

    try:
        path = default_ca_config()
        raw = json.loads(Path(path).read_text())
    except (OSError, ValueError, UserError, ConfigError):
        return False
    return bool((raw.get("authority") or {}).get("enableAdmin")) if isinstance(raw, dict) else False


def admin_client(opts: dict[str, Any]) -> AdminClient:
    """Log in: --admin-cert/--admin-key, or a certificate for --admin-subject from the admin
    provisioner (its key decrypted with --admin-password-file or a prompt)."""
    from stepca.cli._ca import resolve_ca, select_signer
    from stepca.cli._ui import fail
    from stepca.client.admin import AdminClient

    ctx = resolve_ca(opts.get("ca_url"), opts.get("root"))
    client = ctx.client()
    subject = opts.get("admin_subject") or DEFAULT_ADMIN_SUBJECT
    cert, key_file = opts.get("admin_cert"), opts.get("admin_key")
    if bool(cert) != bool(key_file):
        fail("flags --admin-cert and --admin-key go together")
    if cert and key_file:
        from stepca._fs import read_file
        from stepca.crypto.keys import WrongPasswordError, load_private_key
        from stepca.crypto.pem import certificate_ders

        ders = certificate_ders(read_file(cert, "admin certificate"))
        if not ders:
            fail(f"{cert} holds no certificate")
        try:
            key = load_private_key(read_file(key_file, "admin key"), None, name=key_file)
        except WrongPasswordError:
            fail(f"{key_file} is encrypted: give the admin key unencrypted")
        except ValueError as exc:
            fail(str(exc))
        if not opts.get("admin_subject"):
            from cryptography import x509
            from cryptography.x509.oid import NameOID

            cns = x509.load_der_x509_certificate(ders[0]).subject.get_attributes_for_oid(NameOID.COMMON_NAME)
            subject = str(cns[0].value) if cns else subject
        return AdminClient(client, ctx.ca_url, ders, key, subject)
    signer = select_signer(
        ctx,
        provisioner=opts.get("admin_provisioner"),
        kid=None,
        password_file=opts.get("admin_password_file"),
        key_file=None,
        announce=False,
        allow_oidc=False,
        password_flag="--admin-password-file",
    )
    from stepca.crypto.keys import generate_private_key
    from stepca.crypto.pem import certificate_ders
    from stepca.crypto.x509build import build_csr

    key = generate_private_key()
    token = signer.token(ctx, subject, "sign", sans=[subject])
    issued = client.sign(build_csr(subject, [subject], key).decode(), token)
    ders = [d for pem in issued.cert_chain for d in certificate_ders(pem.encode())]
    return AdminClient(client, ctx.ca_url, ders, key, subject)
