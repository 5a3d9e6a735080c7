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
    JWK file (JWE-encrypted, compact or JSON serialization, or a plain private JWK). The key is
    written back in the same kind of file, to KEY_FILE itself unless --out names another file
    (an existing --out file needs -f or a confirmation). The file is replaced atomically: it is
    never unencrypted (unless --no-password --insecure) nor half-written, and its mode is 0600.
    """
    from stepca._fs import SECRET_FILE_MODE, atomic_write, read_file
    from stepca.crypto.keyfile import KeyFileError, decrypt_key_file, needs_password, reencrypt

    if no_password and not insecure:
        fail("flag '--no-password' requires the '--insecure' flag")
    if no_password and new_password_file:
        fail("flags '--no-password' and '--new-password-file' cannot be used together")
    target = out or key_file
    data = read_file(key_file, "key file")
    if out:
        confirm_overwrite(out, force)
    old = b""
    if needs_password(data):
        old = read_password(
            password_file, f"Please enter the password to decrypt {key_file}", "--password-file"
        )
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
    try:
        output = reencrypt(opened, new)
    except KeyFileError as exc:
        fail(str(exc))
    atomic_write(target, output, SECRET_FILE_MODE)
    info(f"Your key has been saved in {target}.")
