"""`step ca provisioner list|add|remove`: list from the CA or ca.json; add and remove edit ca.json.

Changes to ca.json reach a running CA on its next reload (``kill -HUP <pid>``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from stepca.cli._admin import admin_options
from stepca.cli.main import CONTEXT_SETTINGS

RELOAD_NOTE = (
    "Success! Your `step-ca` config has been updated. To pick up the new configuration "
    "SIGHUP (kill -1 <pid>) or restart the step-ca process."
)
PASSWORD_QUESTION = (
    "Please enter a password to encrypt the provisioner private key? [leave empty and we'll generate one]"
)
#: flags that only mean something for one provisioner type
TYPE_FLAGS = {
    "JWK": ("create", "public_key", "private_key", "password_file"),
    "OIDC": (
        "client_id",
        "client_secret",
        "configuration_endpoint",
        "admin",
        "domain",
        "group",
        "listen_address",
        "tenant_id",
    ),
    "ACME": ("force_cn", "require_eab", "challenge"),
    "X5C": ("x5c_roots",),
    "SSHPOP": (),
}


@click.group(context_settings=CONTEXT_SETTINGS)
def provisioner() -> None:
    """Create and manage the certificate authority provisioners.

    \b
    List the provisioners of the running CA, or those in ca.json:
      $ step ca provisioner list
      $ step ca provisioner list --ca-config $(step path)/config/ca.json
    \b
    Add a JWK provisioner with a new key (the password is asked, or empty to generate one):
      $ step ca provisioner add jim@example.com --create
    \b
    Remove it by its kid, or every provisioner named jim@example.com:
      $ step ca provisioner remove --kid <kid>
      $ step ca provisioner remove jim@example.com --all

    add and remove edit ca.json (--ca-config, default: "ca-config" in defaults.json); the CA
    picks the change up when it reloads: kill -HUP <pid> (or systemctl reload step-ca).
    """


def _ca_config_path(value: str | None) -> Path:
    if value:
        return Path(value).expanduser()
    from stepca.pki.provisioners import default_ca_config

    return default_ca_config()


def _echo_json(items: list[dict[str, Any]]) -> None:
    click.echo(json.dumps(items, indent=3, ensure_ascii=False))


# ------------------------------------------------------------------------------------ list


@provisioner.command("list")
@click.option("--ca-url", "ca_url", help="URI of the certificate authority (default: defaults.json ca-url).")
@click.option(
    "--root", type=click.Path(), help="The root certificate to trust (default: defaults.json root)."
)
@click.option(
    "--ca-config",
    "ca_config",
    type=click.Path(dir_okay=False),
    help="List the provisioners in this ca.json instead of asking the CA.",
)
def list_(ca_url: str | None, root: str | None, ca_config: str | None) -> None:
    """List the provisioners as JSON.

    By default the running CA is asked (what it serves now); with --ca-config the file is read
    (what the CA will serve after its next reload).
    """
    if ca_config:
        from stepca.pki.config_edit import read_document

        _echo_json(read_document(Path(ca_config).expanduser()).provisioners)
        return
    from stepca.cli._ca import resolve_ca

    ctx = resolve_ca(ca_url, root)
    with ctx.client() as client:
        provs = client.provisioners()
    _echo_json(provs)


# ------------------------------------------------------------------------------------ add


def _duration_option(name: str, what: str) -> Any:
    return click.option(f"--{name}", name.replace("-", "_"), metavar="DURATION", help=what)


_CLAIM_OPTIONS = [
    _duration_option("x509-min-dur", "Minimum duration of X.509 certificates (e.g. 5m)."),
    _duration_option("x509-max-dur", "Maximum duration of X.509 certificates (e.g. 24h)."),
    _duration_option("x509-default-dur", "Default duration of X.509 certificates (e.g. 24h)."),
    _duration_option("ssh-user-min-dur", "Minimum duration of SSH user certificates."),
    _duration_option("ssh-user-max-dur", "Maximum duration of SSH user certificates."),
    _duration_option("ssh-user-default-dur", "Default duration of SSH user certificates."),
    _duration_option("ssh-host-min-dur", "Minimum duration of SSH host certificates."),
    _duration_option("ssh-host-max-dur", "Maximum duration of SSH host certificates."),
    _duration_option("ssh-host-default-dur", "Default duration of SSH host certificates."),
    click.option(
        "--disable-renewal/--allow-renewal",
        "disable_renewal",
        default=None,
        help="Refuse (or allow) renewing certificates of this provisioner (claim disableRenewal).",
    ),
    click.option(
        "--allow-renewal-after-expiry",
        is_flag=True,
        default=None,
        help="Allow renewing expired certificates (claim allowRenewalAfterExpiry).",
    ),
    click.option(
        "--ssh/--no-ssh",
        "ssh",
        default=None,
        help="Enable (or disable) SSH certificates for this provisioner (claim enableSSHCA).",
    ),
]


def _claim_options(fn: Any) -> Any:
    for opt in reversed(_CLAIM_OPTIONS):
        fn = opt(fn)
    return fn


def _ask_name() -> str:
    from stepca.cli._ui import fail, is_interactive, prompt_text

    if not is_interactive():
        fail("the provisioner NAME is required: step ca provisioner add NAME [flags]")
    return prompt_text("What would you like to name the new provisioner?", "NAME")


def _new_password(password_file: str | None) -> bytes:
    """--password-file, or the prompt; an empty answer generates a password, printed once."""
    from stepca.cli._ui import generate_password, ok, prompt_password

    if password_file:
        from stepca._fs import read_password_file

        password = read_password_file(password_file)
        if not password:
            from stepca.cli._ui import fail

            fail(f"password file {password_file} is empty")
        return password
    password = prompt_password(PASSWORD_QUESTION, "--password-file", allow_empty=True)
    if not password:
        generated = generate_password()
        ok("Password", generated)
        password = generated.encode()
    return password


def _check_type_flags(kind: str, given: dict[str, Any]) -> None:
    from stepca.cli._ui import fail

    for other, names in TYPE_FLAGS.items():
        if other == kind:
            continue
        for name in names:
            if name in TYPE_FLAGS[kind]:
                continue
            value = given.get(name)
            if value not in (None, False, ()):
                fail(f"flag '--{name.replace('_', '-')}' cannot be used with '--type {kind}'")


def _jwk(
    name: str, create: bool, public_key: str | None, private_key: str | None, password_file: str | None
) -> dict[str, Any]:
    from stepca.cli._ui import fail
    from stepca.pki import provisioners as pv

    if create:
        if public_key or private_key:
            fail(f"flag '--create' cannot be used with '--{'public-key' if public_key else 'private-key'}'")
        public, encrypted = pv.jwk_create(_new_password(password_file))
        return pv.jwk_entry(name, public, encrypted)
    if not public_key:
        fail("'--type JWK' needs '--create' (new key) or '--public-key FILE'")
    public = pv.jwk_public_from_file(public_key)
    if not private_key:
        return pv.jwk_entry(name, public, None)
    encrypted_key = pv.jwk_private_from_file(private_key, public, lambda: _new_password(password_file))
    return pv.jwk_entry(name, public, encrypted_key)


@provisioner.command("add", context_settings=CONTEXT_SETTINGS)
@click.argument("name", required=False)
@click.option(
    "--type",
    "kind",
    default="JWK",
    show_default=True,
    type=click.Choice(["JWK", "OIDC", "ACME", "X5C", "SSHPOP"], case_sensitive=False),
    help="The provisioner type.",
)
@click.option(
    "--ca-config",
    "ca_config",
    type=click.Path(dir_okay=False),
    help="The ca.json to edit (default: defaults.json ca-config).",
)
@click.option("--create", is_flag=True, help="JWK: generate a new EC P-256 key pair.")
@click.option(
    "--public-key",
    type=click.Path(dir_okay=False),
    help="JWK: the public key (JWK, PEM public key or certificate).",
)
@click.option(
    "--private-key",
    type=click.Path(dir_okay=False),
    help="JWK: the private key (encrypted JWE kept as is; JWK/PEM encrypted with the password).",
)
@click.option(
    "--password-file",
    type=click.Path(dir_okay=False),
    help="JWK: file with the password that encrypts the private key (else asked).",
)
@click.option("--client-id", help="OIDC: the client id.")
@click.option("--client-secret", help="OIDC: the client secret.")
@click.option("--configuration-endpoint", metavar="URL", help="OIDC: the discovery document URL.")
@click.option("--admin", multiple=True, metavar="EMAIL", help="OIDC: an admin email (repeatable).")
@click.option("--domain", multiple=True, help="OIDC: a domain allowed to get certificates (repeatable).")
@click.option("--group", multiple=True, help="OIDC: a group allowed to get certificates (repeatable).")
@click.option(
    "--listen-address",
    metavar="HOST:PORT",
    help="OIDC: the local address `step` listens on for the OAuth redirect.",
)
@click.option("--tenant-id", help="OIDC: the Azure AD tenant id.")
@click.option("--force-cn", is_flag=True, help="ACME: always set the common name.")
@click.option("--require-eab", is_flag=True, help="ACME: require external account binding.")
@click.option(
    "--challenge",
    multiple=True,
    help="ACME: an enabled challenge: http-01, dns-01, tls-alpn-01 (repeatable).",
)
@click.option("--x5c-roots", type=click.Path(dir_okay=False), help="X5C: the PEM bundle of trusted roots.")
@_claim_options
@admin_options
def add(name: str | None, kind: str, ca_config: str | None, **opts: Any) -> None:
    """Add a provisioner to ca.json (or, in remote mode, through the admin API).

    \b
    JWK (default type):
      step ca provisioner add NAME --create [--password-file FILE]
      step ca provisioner add NAME --public-key FILE [--private-key FILE] [--password-file FILE]
    OIDC:
      step ca provisioner add NAME --type OIDC --client-id ID --client-secret SECRET
        --configuration-endpoint URL [--domain DOMAIN]... [--admin EMAIL]... [--listen-address ADDR]
    ACME, X5C, SSHPOP:
      step ca provisioner add NAME --type ACME [--force-cn] [--require-eab] [--challenge C]...
      step ca provisioner add NAME --type X5C --x5c-roots FILE
      step ca provisioner add NAME --type SSHPOP
    \b
    Claims (any type) override the authority claims for this provisioner:
      --x509-min-dur/--x509-max-dur/--x509-default-dur, --ssh-user-*-dur, --ssh-host-*-dur,
      --disable-renewal/--allow-renewal, --allow-renewal-after-expiry, --ssh/--no-ssh.
    \b
    With --create, the password that encrypts the new private key comes from --password-file or
    is asked; an empty answer generates one and prints it once. NAME is asked on a terminal
    when omitted. Provisioners are unique per type, name and key. ca.json is validated before
    it is written, the previous version is kept as ca.json.bak, and the running CA serves the
    new provisioner after its next reload (kill -HUP <pid>).
    \b
    Remote mode (any --admin-* flag, or a local ca.json with authority.enableAdmin and no
    --ca-config): the provisioner is added through the CA's admin API and every instance serves
    it within seconds, no reload needed.
    """
    from stepca.cli._admin import admin_client, remote_mode
    from stepca.cli._ui import ok
    from stepca.pki import config_edit
    from stepca.pki import provisioners as pv

    kind = kind.upper()
    _check_type_flags(kind, opts)
    remote = admin_client(opts) if remote_mode(opts, ca_config) else None
    path = _ca_config_path(ca_config)
    if remote is None:
        config_edit.read_document(path)  # fail on a missing or broken ca.json before asking anything
    claims = pv.claims_entry(
        pv.ClaimsFlags(
            durations={k: opts.get(k) for k in pv.DURATION_CLAIMS},
            disable_renewal=opts.get("disable_renewal"),
            allow_renewal_after_expiry=opts.get("allow_renewal_after_expiry"),
            enable_ssh_ca=opts.get("ssh"),
        )
    )
    name = name if name is not None else _ask_name()
    if not name.strip():
        from stepca.cli._ui import fail

        fail("the provisioner NAME cannot be empty")
    if kind == "JWK":
        entry = _jwk(name, opts["create"], opts["public_key"], opts["private_key"], opts["password_file"])
    elif kind == "OIDC":
        entry = pv.oidc_entry(
            name,
            client_id=opts["client_id"],
            client_secret=opts["client_secret"],
            configuration_endpoint=opts["configuration_endpoint"],
            admins=opts["admin"],
            domains=opts["domain"],
            groups=opts["group"],
            listen_address=opts["listen_address"],
            tenant_id=opts["tenant_id"],
        )
    elif kind == "ACME":
        entry = pv.acme_entry(
            name, force_cn=opts["force_cn"], require_eab=opts["require_eab"], challenges=opts["challenge"]
        )
    elif kind == "X5C":
        entry = pv.x5c_entry(name, opts["x5c_roots"])
    else:
        entry = pv.sshpop_entry(name)
    if claims:
        entry["claims"] = claims
    if remote is not None:
        remote.create_provisioner(entry)
        ok("Added provisioner", config_edit.describe(entry))
        return
    with config_edit.edit(path) as doc:
        doc.provisioners.append(entry)
    ok("Added provisioner", config_edit.describe(entry))
    click.echo(RELOAD_NOTE, err=True)


# ------------------------------------------------------------------------------------ update


@provisioner.command("update", context_settings=CONTEXT_SETTINGS)
@click.argument("name")
@_claim_options
@click.option(
    "--ca-config",
    "ca_config",
    type=click.Path(dir_okay=False),
    help="The ca.json to edit (default: defaults.json ca-config).",
)
@admin_options
def update(name: str, ca_config: str | None, **opts: Any) -> None:
    """Change the claims of the provisioner NAME (in ca.json, or in remote mode through the
    admin API): the flags given replace those claims, the others stay."""
    from stepca.cli._admin import admin_client, remote_mode
    from stepca.cli._ui import fail, ok
    from stepca.pki import config_edit
    from stepca.pki import provisioners as pv

    claims = pv.claims_entry(
        pv.ClaimsFlags(
            durations={k: opts.get(k) for k in pv.DURATION_CLAIMS},
            disable_renewal=opts.get("disable_renewal"),
            allow_renewal_after_expiry=opts.get("allow_renewal_after_expiry"),
            enable_ssh_ca=opts.get("ssh"),
        )
    )
    if not claims:
        fail("nothing to update: give a claim flag (--x509-max-dur, --disable-renewal, ...)")

    def merged(entries: list[dict[str, Any]]) -> dict[str, Any]:
        found = [e for e in entries if e.get("name") == name]
        if len(found) != 1:
            fail(f"{'no' if not found else 'more than one'} provisioner named {name!r}")
        entry = found[0]
        entry["claims"] = {**(entry.get("claims") or {}), **claims}
        return entry

    if remote_mode(opts, ca_config):
        client = admin_client(opts)
        entry = merged(client.provisioners())
        client.update_provisioner(name, entry)
        ok("Updated provisioner", config_edit.describe(entry))
        return
    with config_edit.edit(_ca_config_path(ca_config)) as doc:
        entry = merged(doc.provisioners)
    ok("Updated provisioner", config_edit.describe(entry))
    click.echo(RELOAD_NOTE, err=True)


# ------------------------------------------------------------------------------------ remove


def _pick_name(path: Path) -> str:
    """--all without NAME (as the getting-started guide writes it): choose the name on a terminal."""
    from stepca.cli._ui import fail, is_interactive
    from stepca.pki.config_edit import read_document

    if not is_interactive():
        fail("'--all' needs the provisioner NAME: step ca provisioner remove NAME --all")
    counts: dict[str, int] = {}
    for p in read_document(path).provisioners:
        counts[str(p.get("name", ""))] = counts.get(str(p.get("name", "")), 0) + 1
    if not counts:
        fail(f"{path} has no provisioners")
    import questionary

    answer = questionary.select(
        "Which provisioner name do you want to remove all provisioners of?",
        choices=[
            questionary.Choice(title=f"{n} ({c} provisioner{'s' if c > 1 else ''})", value=n)
            for n, c in counts.items()
        ],
        instruction="Use the arrow keys to navigate: ↓ ↑ → ←",
    ).ask()
    if answer is None:
        raise click.exceptions.Abort()
    return str(answer)


@provisioner.command("remove", context_settings=CONTEXT_SETTINGS)
@click.argument("name", required=False)
@click.option("--kid", help="Remove the JWK provisioner with this key id.")
@click.option("--client-id", help="Remove the OIDC provisioner with this client id.")
@click.option("--type", "kind", help="Only provisioners of this type (JWK, OIDC, ACME, X5C, SSHPOP...).")
@click.option("--all", "all_", is_flag=True, help="Remove every provisioner named NAME.")
@click.option(
    "--ca-config",
    "ca_config",
    type=click.Path(dir_okay=False),
    help="The ca.json to edit (default: defaults.json ca-config).",
)
@admin_options
def remove(
    name: str | None,
    kid: str | None,
    client_id: str | None,
    kind: str | None,
    all_: bool,
    ca_config: str | None,
    **opts: Any,
) -> None:
    """Remove provisioners from ca.json.

    \b
      step ca provisioner remove --kid KID              the JWK provisioner with this kid
      step ca provisioner remove NAME --kid KID         the same, also checking its name
      step ca provisioner remove NAME --client-id ID    the OIDC provisioner with this client id
      step ca provisioner remove NAME --type ACME       NAME's provisioners of one type
      step ca provisioner remove NAME --all             every provisioner named NAME
      step ca provisioner remove NAME                   NAME's only provisioner
      step ca provisioner remove --all                  asks which NAME (on a terminal)

    The previous ca.json is kept as ca.json.bak; the CA stops serving the removed provisioners
    after its next reload (kill -HUP <pid>).
    """
    from stepca.cli._admin import admin_client, remote_mode
    from stepca.cli._ui import ok
    from stepca.pki import config_edit
    from stepca.pki.provisioners import RemoveQuery, select_removal

    if remote_mode(opts, ca_config):
        client = admin_client(opts)
        query = RemoveQuery(name=name, kid=kid, client_id=client_id, type=kind, all=all_)
        query.check()
        _, removed = select_removal(client.provisioners(), query)
        for entry in removed:
            client.delete_provisioner(str(entry.get("name", "")))
            ok("Removed provisioner", config_edit.describe(entry))
        return
    path = _ca_config_path(ca_config)
    if all_ and name is None and not (kid or client_id):
        name = _pick_name(path)
    query = RemoveQuery(name=name, kid=kid, client_id=client_id, type=kind, all=all_)
    query.check()
    with config_edit.edit(path) as doc:
        provs = doc.provisioners
        kept, removed = select_removal(provs, query)
        provs[:] = kept
    for entry in removed:
        ok("Removed provisioner", config_edit.describe(entry))
    click.echo(RELOAD_NOTE, err=True)
