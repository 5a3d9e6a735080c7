"""`step ca token`."""

from __future__ import annotations

from typing import Any

import click

from stepca.cli._ca import ca_options, provisioner_options, resolve_ca, select_signer
from stepca.cli._ui import fail


def time_flag(value: str | None, flag: str) -> int | None:
    """A unix time from an RFC 3339 time or a duration from now."""
    if not value:
        return None
    from datetime import UTC, datetime

    from stepca.crypto.x509build import parse_time_or_duration
    from stepca.errors import UserError

    try:
        return int(parse_time_or_duration(value, datetime.now(UTC)).timestamp())
    except UserError as exc:
        fail(f"flag {flag}: {exc}")


@click.command("token")
@click.argument("subject")
@provisioner_options
@click.option("--password-file", type=click.Path(), help="Alias of --provisioner-password-file.")
@click.option(
    "--san", multiple=True, help="Subject alternative name to authorize (repeatable; default: SUBJECT)."
)
@click.option("--not-before", help="When the token becomes valid: RFC 3339 time or duration.")
@click.option("--not-after", help="When the token expires: RFC 3339 time or duration (default 5m).")
@click.option(
    "--revoke", is_flag=True, help="Create a token for revoking the certificate with serial SUBJECT."
)
@click.option(
    "--ssh", is_flag=True, help="Create a token for an SSH certificate (or, with --revoke, its revocation)."
)
@click.option("--host", is_flag=True, help="With --ssh: a host certificate token.")
@click.option("--principal", "-n", "principals", multiple=True, help="With --ssh: principals to authorize.")
@click.option("--output-file", type=click.Path(), help="Write the token to this file instead of printing it.")
@ca_options
def token(
    subject: str,
    token_key: str | None,
    provisioner: str | None,
    kid: str | None,
    provisioner_password_file: str | None,
    password_file: str | None,
    san: tuple[str, ...],
    not_before: str | None,
    not_after: str | None,
    revoke: bool,
    ssh: bool,
    host: bool,
    principals: tuple[str, ...],
    output_file: str | None,
    ca_url: str | None,
    root: str | None,
) -> None:
    """Generate a one-time token (OTT) granting access to the CA for SUBJECT.

    The token is signed by a JWK provisioner's key: chosen with --kid/--provisioner, or the only
    one, or picked with the arrow keys; its key is decrypted with --provisioner-password-file
    (or --password-file) or a prompt.
    """

    ctx = resolve_ca(ca_url, root)
    signer = select_signer(
        ctx,
        provisioner=provisioner,
        kid=kid,
        password_file=provisioner_password_file or password_file,
        key_file=token_key,
        announce=False,
    )
    nbf = time_flag(not_before, "--not-before")
    exp = time_flag(not_after, "--not-after")
    extra = None
    if revoke:
        endpoint, sans = ("ssh/revoke" if ssh else "revoke"), None
    elif ssh:
        endpoint, sans = "ssh/sign", None
        extra = ssh_step_claim(subject, host=host, principals=principals)
    else:
        endpoint, sans = "sign", list(san) or [subject]
    tok = signer.token(ctx, subject, endpoint, sans=sans, not_before=nbf, expires=exp, extra=extra)
    if output_file:
        from stepca._fs import SECRET_FILE_MODE, atomic_write

        atomic_write(output_file, tok + "\n", SECRET_FILE_MODE)
    else:
        click.echo(tok)


def ssh_step_claim(
    subject: str,
    *,
    host: bool,
    principals: tuple[str, ...] = (),
    valid_after: str = "",
    valid_before: str = "",
) -> dict[str, Any]:
    """The ``step.ssh`` claim of an SSH sign token. Default principals: SUBJECT for a host; the
    local part of an email SUBJECT and the email itself for a user."""
    if not principals:
        principals = (subject,) if host or "@" not in subject else (subject.split("@", 1)[0], subject)
    return {
        "step": {
            "ssh": {
                "certType": "host" if host else "user",
                "keyID": subject,
                "principals": list(principals),
                "validAfter": valid_after,
                "validBefore": valid_before,
            }
        }
    }
