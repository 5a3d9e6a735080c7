"""`step ca init`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import click

from stepca.cli._ui import (
    choose,
    fail,
    generate_password,
    info,
    is_interactive,
    ok,
    prompt_password,
    prompt_text,
)


def _split_names(values: tuple[str, ...]) -> list[str]:
    names: list[str] = []
    for value in values:
        names.extend(n.strip() for n in value.split(",") if n.strip())
    return names


@click.command("init")
@click.option("--name", help="The name of the new PKI (appears in the CA certificates).")
@click.option(
    "--dns", "dns", multiple=True, help="DNS name or IP address of the CA (repeatable, or comma-separated)."
)
@click.option("--address", help="The address the CA listens on, e.g. :443 or 127.0.0.1:9443.")
@click.option("--provisioner", help="The name of the first provisioner, e.g. you@example.com.")
@click.option(
    "--password-file",
    type=click.Path(),
    help="File with the password for the CA keys (and the first provisioner).",
)
@click.option(
    "--provisioner-password-file",
    type=click.Path(),
    help="File with the password for the first provisioner's key.",
)
@click.option("--ssh", is_flag=True, help="Also create the SSH user and host CA keys.")
@click.option(
    "--deployment-type",
    type=click.Choice(["standalone"], case_sensitive=False),
    help="The deployment type (only 'standalone' is supported).",
)
@click.option(
    "--root",
    "root_crt",
    type=click.Path(),
    help="Use this existing root certificate instead of creating one.",
)
@click.option(
    "--key",
    "root_key",
    type=click.Path(),
    help="The private key of the existing --root; copied into the tree under the CA password.",
)
@click.option("--kty", default="EC", show_default=True, help="Key type of the CA keys: EC, OKP or RSA.")
@click.option("--crv", help="Curve of the CA keys: P-256 (default), P-384, P-521; Ed25519 for OKP.")
@click.option("--size", type=int, help="RSA key size in bits (2048 or more).")
@click.option(
    "--key-password-file",
    type=click.Path(),
    help="File with the password of the existing --key (default: the CA password).",
)
@click.option(
    "--remote-management",
    is_flag=True,
    help="Keep provisioners and admins in the database, managed with the admin API (step ca admin).",
)
@click.option(
    "--admin-subject",
    "--admin-name",
    "admin_subject",
    help="The subject of the first super-admin with --remote-management (default: step).",
)
@click.option("-f", "--force", is_flag=True, help="Overwrite an existing PKI in STEPPATH.")
def init(
    name: str | None,
    dns: tuple[str, ...],
    address: str | None,
    provisioner: str | None,
    password_file: str | None,
    provisioner_password_file: str | None,
    ssh: bool,
    deployment_type: str | None,
    root_crt: str | None,
    root_key: str | None,
    kty: str,
    crv: str | None,
    size: int | None,
    key_password_file: str | None,
    remote_management: bool,
    admin_subject: str | None,
    force: bool,
) -> None:
    """Initialize a PKI and the configuration of a certificate authority.

    Creates under $(step path): certs/root_ca.crt, certs/intermediate_ca.crt,
    secrets/root_ca_key, secrets/intermediate_ca_key (encrypted with the password),
    config/ca.json, config/defaults.json and db/; with --ssh also the SSH user and host CA keys.
    With --root and --key the existing root signs the intermediate and is copied into the tree.
    With every value given as a flag it asks nothing; otherwise it prompts on the terminal.
    An empty password answer generates a password and prints it once.
    """
    from stepca._fs import read_password_file, step_path
    from stepca.crypto.keys import KeySpecError, check_key_spec
    from stepca.pki.init import (
        InitError,
        InitOptions,
        check_can_write,
        init_pki,
        validate_address,
        validate_dns_name,
    )
    from stepca.pki.layout import StepLayout

    base = step_path()
    # everything a flag already says is checked before any question is asked
    try:
        check_can_write(StepLayout(base), force)
        check_key_spec(kty, crv, size)
        if bool(root_crt) != bool(root_key):
            raise InitError("flags --root and --key must be used together")
        if key_password_file and not root_key:
            raise InitError("flag --key-password-file requires the flags --root and --key")
        if admin_subject is not None and not remote_management:
            raise InitError("flag --admin-subject requires the flag --remote-management")
        if admin_subject is not None and not admin_subject.strip():
            raise InitError("flag --admin-subject cannot be empty")
        if address:
            validate_address(address)
        for dns_name in _split_names(dns):
            validate_dns_name(dns_name)
    except (InitError, KeySpecError) as exc:
        fail(str(exc))

    if deployment_type is None and is_interactive() and not (name and dns and address and provisioner):
        choose(
            "What deployment type would you like to configure?",
            [("Standalone - step-ca instance you run yourself", "standalone")],
            "--deployment-type",
        )
        ok("Deployment Type", "Standalone")
    if not name:
        name = prompt_text("What would you like to name your new PKI? (e.g. Smallstep)", "--name")
    dns_names = _split_names(dns)
    if not dns_names:
        answer = prompt_text(
            "What DNS names or IP addresses would you like to add to your new CA? "
            "(e.g. ca.smallstep.com[,1.1.1.1,etc.])",
            "--dns",
            validate=lambda text: _check(lambda: _validate_names(_split_names((text,)))),
        )
        dns_names = _split_names((answer,))
    if not address:
        address = prompt_text(
            "What IP and port will your new CA bind to? (e.g. :443 or 127.0.0.1:443)",
            "--address",
            ":443",
            validate=lambda text: _check(lambda: validate_address(text)),
        )
    if not provisioner:
        provisioner = prompt_text(
            "What would you like to name the CA's first provisioner? (e.g. you@smallstep.com)",
            "--provisioner",
        )

    generated = False
    if password_file:
        password = read_password_file(password_file)
        if not password:
            fail(f"password file {password_file} is empty")
    else:
        password = prompt_password(
            "Choose a password for your CA keys and first provisioner.\n[leave empty and we'll generate one]",
            "--password-file",
            allow_empty=True,
        )
        if not password:
            password = generate_password().encode()
            generated = True
    prov_password = read_password_file(provisioner_password_file) if provisioner_password_file else None
    if provisioner_password_file and not prov_password:
        fail(f"password file {provisioner_password_file} is empty")
    if generated:
        ok("Password", password.decode())

    root_key_password: bytes | None = None
    if root_key:
        root_key_password = _root_key_password(root_key, key_password_file, password)

    opts = InitOptions(
        name=name,
        dns_names=dns_names,
        address=address,
        provisioner=provisioner,
        password=password,
        provisioner_password=prov_password,
        step_path=base,
        ssh=ssh,
        kty=kty,
        crv=crv,
        size=size,
        root_crt=Path(root_crt) if root_crt else None,
        root_key=Path(root_key) if root_key else None,
        root_key_password=root_key_password,
        force=force,
        remote_management=remote_management,
        admin_subject=admin_subject or "step",
    )
    steps = {
        "root": "Copying root certificate... done!" if root_crt else "Generating root certificate... done!",
        "intermediate": "Generating intermediate certificate... done!",
        "ssh": "Generating user and host SSH certificate signing keys... done!",
    }
    info("")
    try:
        result = init_pki(opts, progress=lambda step: info(steps[step]))
    except (InitError, KeySpecError) as exc:
        fail(str(exc))
    info("")
    for label, value in result.written:
        ok(label, value)
    info("")
    info("Your PKI is ready to go. To generate certificates for individual services see 'step help ca'.")


def _validate_names(names: list[str]) -> None:
    from stepca.pki.init import InitError, validate_dns_name

    if not names:
        raise InitError("at least one DNS name or IP address is required")
    for name in names:
        validate_dns_name(name)


def _check(action: Callable[[], object]) -> str | None:
    """Run a validator for an interactive answer: None when fine, else the reason to ask again."""
    from stepca.pki.init import InitError

    try:
        action()
    except InitError as exc:
        return str(exc)
    return None


def _root_key_password(key_path: str, password_file: str | None, ca_password: bytes) -> bytes | None:
    """The password that opens the existing root key: --key-password-file, the CA password, or asked."""
    from stepca._fs import read_file, read_password_file
    from stepca.crypto.keys import WrongPasswordError, is_encrypted_key, load_private_key

    if password_file:
        return read_password_file(password_file)
    data = read_file(key_path, "root key")
    if not is_encrypted_key(data):
        return None
    try:
        load_private_key(data, ca_password, name=key_path)
        return ca_password
    except WrongPasswordError:
        if not is_interactive():
            fail(f"the CA password does not decrypt {key_path}: use the flag --key-password-file")
    return prompt_password(f"Please enter the password to decrypt {key_path}", "--key-password-file")
