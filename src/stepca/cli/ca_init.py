"""`step ca init`."""

from __future__ import annotations

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
    help="The private key of the existing --root (decrypted with the CA password).",
)
@click.option("--kty", default="EC", show_default=True, help="Key type of the CA keys: EC, OKP or RSA.")
@click.option("--crv", help="Curve of the CA keys: P-256 (default), P-384, P-521; Ed25519 for OKP.")
@click.option("--size", type=int, help="RSA key size in bits (2048 or more).")
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
    force: bool,
) -> None:
    """Initialize a PKI and the configuration of a certificate authority.

    Creates under $(step path): certs/root_ca.crt, certs/intermediate_ca.crt,
    secrets/root_ca_key, secrets/intermediate_ca_key (encrypted with the password),
    config/ca.json, config/defaults.json and db/; with --ssh also the SSH user and host CA keys.
    With every value given as a flag it asks nothing; otherwise it prompts on the terminal.
    An empty password answer generates a password and prints it once.
    """
    from stepca._fs import read_password_file, step_path
    from stepca.crypto.keys import KeySpecError
    from stepca.pki.init import InitError, InitOptions, check_can_write, init_pki
    from stepca.pki.layout import StepLayout

    base = step_path()
    check_error = None
    try:
        check_can_write(StepLayout(base), force)
    except InitError as exc:
        check_error = str(exc)
    if check_error:
        fail(check_error)

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
        )
        dns_names = _split_names((answer,))
    if not address:
        address = prompt_text(
            "What IP and port will your new CA bind to? (e.g. :443 or 127.0.0.1:443)", "--address", ":443"
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
        force=force,
    )
    info("")
    if not root_crt:
        info("Generating root certificate... done!")
    info("Generating intermediate certificate... done!")
    if ssh:
        info("Generating user and host SSH certificate signing keys... done!")
    info("")
    try:
        result = init_pki(opts)
    except (InitError, KeySpecError) as exc:
        fail(str(exc))
    for label, value in result.written:
        ok(label, value)
    info("")
    info("Your PKI is ready to go. To generate certificates for individual services see 'step help ca'.")
