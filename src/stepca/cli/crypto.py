"""`step crypto ...`: change-pass (PEM keys and JWE-encrypted JWK files)."""

from __future__ import annotations

import click

from stepca.cli._ui import confirm_overwrite, fail, info, read_password
from stepca.cli.main import CONTEXT_SETTINGS


@click.group(context_settings=CONTEXT_SETTINGS)
def crypto() -> None:
    """Useful cryptographic plumbing."""


@crypto.command("change-pass")
@click.argument("key_file")
@click.option("--password-file", type=click.Path(), help="File with the current password.")
@click.option("--new-password-file", type=click.Path(), help="File with the new password.")
@click.option(
    "--out", "-o", "out", type=click.Path(), help="Write the re-encrypted key here instead of KEY_FILE."
)
@click.option("--no-password", is_flag=True, help="Write the key unencrypted (needs --insecure).")
@click.option("--insecure", is_flag=True, help="Allow --no-password.")
@click.option("-f", "--force", is_flag=True, help="Overwrite the output file without asking.")
def change_pass(
    key_file: str,
    password_file: str | None,
    new_password_file: str | None,
    out: str | None,
    no_password: bool,
    insecure: bool,
    force: bool,
) -> None:
    """Change the password of an encrypted private key.

    KEY_FILE is a PEM private key (PKCS#8, SEC1/PKCS#1 with Proc-Type encryption, OpenSSH) or a
    JWE-encrypted JWK (a provisioner key file). The file is replaced atomically: it never exists
    unencrypted and never half-written; its mode is kept at 0600.
    """
    from stepca._fs import SECRET_FILE_MODE, atomic_write, read_file
    from stepca.crypto.keyfile import KeyFileError, decrypt_key_file, reencrypt

    if no_password and not insecure:
        fail("flag '--no-password' requires the '--insecure' flag")
    target = out or key_file
    data = read_file(key_file, "key file")
    old = read_password(password_file, f"Please enter the password to decrypt {key_file}", "--password-file")
    try:
        opened = decrypt_key_file(data, old, name=key_file)
    except KeyFileError as exc:
        fail(str(exc))
    new = None
    if not no_password:
        new = read_password(
            new_password_file,
            f"Please enter the password to encrypt {target}",
            "--new-password-file",
            confirm=True,
        )
        if not new:
            fail("the new password cannot be empty")
    confirm_overwrite(target, force)
    try:
        output = reencrypt(opened, new)
    except KeyFileError as exc:
        fail(str(exc))
    atomic_write(target, output, SECRET_FILE_MODE)
    info(f"Your key has been saved in {target}.")
