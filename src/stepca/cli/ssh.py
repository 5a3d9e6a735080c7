"""`step ssh ...`: SSH certificates from the CA (certificate, renew, revoke), the CA's SSH keys and
client/server configuration (config, check-host, hosts), and `inspect`.

Files follow OpenSSH's names: KEY (private key, OpenSSH format), KEY.pub and KEY-cert.pub.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import click

from stepca.cli._ca import (
    CAContext,
    OIDCSigner,
    ca_options,
    provisioner_options,
    resolve_ca,
    select_signer,
)
from stepca.cli._ui import confirm_overwrite, fail, info, ok, read_password
from stepca.cli.main import CONTEXT_SETTINGS

if TYPE_CHECKING:
    from pathlib import Path

    from cryptography.hazmat.primitives.serialization import SSHCertificate

    from stepca.crypto.keys import PrivateKey


@click.group(context_settings=CONTEXT_SETTINGS)
def ssh() -> None:
    """Create and manage SSH certificates with the CA's SSH user and host keys."""


# ------------------------------------------------------------------------------- helpers


def _validity_flag(value: str | None, flag: str) -> str:
    """--not-before/--not-after: an RFC 3339 time or a duration, sent as written."""
    if not value:
        return ""
    from datetime import UTC, datetime

    from stepca.crypto.x509build import parse_time_or_duration
    from stepca.errors import UserError

    try:
        parse_time_or_duration(value, datetime.now(UTC))
    except UserError as exc:
        fail(f"flag {flag}: {exc}")
    return value


def _read_certificate(path: str) -> tuple[bytes, SSHCertificate]:
    from stepca._fs import read_file
    from stepca.crypto.sshcert import SSHFormatError, blob_from_line, certificate_from_blob

    data = sys.stdin.buffer.read() if path == "-" else read_file(path, "SSH certificate")
    try:
        blob = blob_from_line(data, path)
        return blob, certificate_from_blob(blob)
    except SSHFormatError as exc:
        fail(f"error parsing ssh certificate {path}: {exc}")


def _load_key(path: str, password_file: str | None) -> PrivateKey:
    """A private key (OpenSSH or PEM), asking for its password only when it is encrypted."""
    from stepca._fs import read_file
    from stepca.crypto.keys import WrongPasswordError, load_private_key

    data = read_file(path, "key file")
    try:
        return load_private_key(data, None, name=path)
    except WrongPasswordError:
        password = read_password(
            password_file, f"Please enter the password to decrypt {path}", "--password-file"
        )
        return load_private_key(data, password, name=path)


def _write_private_key(path: str, key: PrivateKey, password: bytes | None) -> None:
    from cryptography.hazmat.primitives import serialization

    from stepca._fs import SECRET_FILE_MODE, atomic_write

    encryption = serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, encryption)
    atomic_write(path, pem, SECRET_FILE_MODE)


def _write_line(path: str, blob: bytes, comment: str) -> None:
    from stepca._fs import PUBLIC_FILE_MODE, atomic_write
    from stepca.crypto.sshcert import authorized_line

    atomic_write(path, authorized_line(blob, comment), PUBLIC_FILE_MODE)


def _token_ssh_claims(token: str) -> dict[str, Any]:
    """The ``step.ssh`` claim of a token, read without verification (the CA verifies it)."""
    from stepca.crypto.jose import CompactJWS, JOSEError

    try:
        claims = CompactJWS(token).claims()
    except JOSEError as exc:
        fail(f"invalid token: {exc}")
    step = claims.get("step")
    ssh_claims = step.get("ssh") if isinstance(step, dict) else None
    if not isinstance(ssh_claims, dict):
        fail("the token is not an SSH token: make one with 'step ca token --ssh'")
    return ssh_claims


def sshpop_token(
    ctx: CAContext, *, provisioner: str, endpoint: str, subject: str, cert_blob: bytes, key: PrivateKey
) -> str:
    from stepca.client.token import audience
    from stepca.client.token import sshpop_token as build

    return build(
        provisioner=provisioner,
        audience=audience(ctx.ca_url, endpoint),
        subject=subject,
        cert_blob=cert_blob,
        key=key,
        root_fingerprint=ctx.root_fingerprint(),
    )


def _sshpop_provisioner(ctx: CAContext, name: str | None) -> str:
    from stepca.cli._ui import choose

    with ctx.client() as client:
        provs = [p for p in client.provisioners() if str(p.get("type", "")).upper() == "SSHPOP"]
    names = [str(p.get("name")) for p in provs if not name or p.get("name") == name]
    if not names:
        fail(f"no SSHPOP provisioner{f' named {name!r}' if name else ''} found on the CA")
    return choose("What SSHPOP provisioner do you want to use?", [(n, n) for n in names], "--provisioner")


def _sshpop_pair(
    cert_file: str, key_file: str, password_file: str | None
) -> tuple[bytes, SSHCertificate, PrivateKey]:
    from stepca.crypto.sshcert import key_blob

    blob, cert = _read_certificate(cert_file)
    key = _load_key(key_file, password_file)
    if key_blob(key) != key_blob(cert.public_key()):
        fail(f"{key_file} is not the private key of {cert_file}")
    return blob, cert, key


# ------------------------------------------------------------------------------- certificate


@ssh.command("certificate")
@click.argument("key_id")
@click.argument("key_file")
@click.option("--host", is_flag=True, help="Create a host certificate instead of a user certificate.")
@click.option(
    "--principal", "-n", "principals", multiple=True, help="A principal (user or host name); repeatable."
)
@click.option(
    "--sign", "sign_public_key", is_flag=True, help="Sign the public key KEY_FILE instead of creating a key."
)
@click.option("--token", help="A one-time token from 'step ca token --ssh' (otherwise one is generated).")
@provisioner_options
@click.option(
    "--password-file", type=click.Path(), help="File with the password that encrypts the new private key."
)
@click.option("--no-password", is_flag=True, help="Do not encrypt the private key (requires --insecure).")
@click.option("--insecure", is_flag=True, help="Allow --no-password.")
@click.option("--not-before", help="Certificate validity start: RFC 3339 time or duration.")
@click.option("--not-after", help="Certificate validity end: RFC 3339 time or duration (e.g. 8h).")
@click.option("--add-user", is_flag=True, help="Also create a certificate that provisions the user on hosts.")
@click.option("-f", "--force", is_flag=True, help="Overwrite existing files without asking.")
@ca_options
def certificate(
    key_id: str,
    key_file: str,
    host: bool,
    principals: tuple[str, ...],
    sign_public_key: bool,
    token: str | None,
    token_key: str | None,
    provisioner: str | None,
    kid: str | None,
    provisioner_password_file: str | None,
    password_file: str | None,
    no_password: bool,
    insecure: bool,
    not_before: str | None,
    not_after: str | None,
    add_user: bool,
    force: bool,
    ca_url: str | None,
    root: str | None,
) -> None:
    """Create an SSH key pair and a certificate for KEY_ID signed by the CA.

    Writes KEY_FILE (the private key, encrypted unless --no-password --insecure), KEY_FILE.pub and
    KEY_FILE-cert.pub. With --sign, KEY_FILE is an existing public key and only the certificate
    is written next to it (id.pub gives id-cert.pub). Without --principal, a host certificate is
    for KEY_ID and a user certificate for the local part of an email KEY_ID and the email itself.
    """

    from stepca.cli.ca_token import ssh_step_claim
    from stepca.crypto.keys import generate_private_key
    from stepca.crypto.sshcert import key_blob

    if no_password and not insecure:
        fail("flag '--no-password' requires the '--insecure' flag")
    if no_password and password_file:
        fail("flag '--no-password' is incompatible with '--password-file'")
    if token and provisioner_password_file:
        fail("flag '--token' is incompatible with '--provisioner-password-file'")
    if host and add_user:
        fail("flag '--host' is incompatible with '--add-user'")
    base = key_file.removesuffix(".pub") if sign_public_key else key_file
    pub_file, crt_file = f"{base}.pub", f"{base}-cert.pub"
    valid_after = _validity_flag(not_before, "--not-before")
    valid_before = _validity_flag(not_after, "--not-after")
    ctx = resolve_ca(ca_url, root)
    outputs = [crt_file] if sign_public_key else [key_file, pub_file, crt_file]
    if add_user:
        outputs += [f"{base}-provisioner", f"{base}-provisioner.pub", f"{base}-provisioner-cert.pub"]
    for path in outputs:
        confirm_overwrite(path, force)
    public_blob, private_key = _subject_key(key_file, sign_public_key)
    password = None
    if private_key is not None and not no_password:
        password = read_password(
            password_file,
            "Please enter the password to encrypt the private key",
            "--password-file (or --no-password --insecure)",
            confirm=True,
        )
    if token:
        claimed = _token_ssh_claims(token)
        cert_type = "host" if host else str(claimed.get("certType") or "user")
        request_principals = list(principals) or list(claimed.get("principals") or [])
    else:
        cert_type = "host" if host else "user"
        claim = ssh_step_claim(
            key_id, host=host, principals=principals, valid_after=valid_after, valid_before=valid_before
        )
        request_principals = claim["step"]["ssh"]["principals"]
        signer = select_signer(
            ctx, provisioner=provisioner, kid=kid, password_file=provisioner_password_file, key_file=token_key
        )
        if isinstance(signer, OIDCSigner):  # the CA gives the principals the login proves
            request_principals = list(principals)
        token = signer.token(ctx, key_id, "ssh/sign", extra=claim)
    add_user_key = generate_private_key("EC", "P-256") if add_user else None
    with ctx.client() as client:
        resp = client.ssh_sign(
            public_blob,
            token,
            cert_type=cert_type,
            principals=request_principals,
            valid_after=valid_after or "",
            valid_before=valid_before or "",
            add_user_public_key=key_blob(add_user_key) if add_user_key is not None else None,
        )
    ok("CA", ctx.ca_url)
    if private_key is not None:
        _write_private_key(key_file, private_key, password)
        _write_line(pub_file, public_blob, key_id)
    _write_line(crt_file, resp.crt, key_id)
    if private_key is not None:
        ok("Private Key", key_file)
        ok("Public Key", pub_file)
    ok("Certificate", crt_file)
    if add_user_key is not None:
        _write_add_user(base, add_user_key, resp.add_user_crt, f"{request_principals[0]}-provisioner")


def _subject_key(key_file: str, sign_public_key: bool) -> tuple[bytes, PrivateKey | None]:
    """(public key blob, new private key): KEY_FILE read with --sign, else a new EC P-256 key."""
    from stepca.crypto.keys import generate_private_key
    from stepca.crypto.sshcert import key_blob

    if not sign_public_key:
        private_key = generate_private_key("EC", "P-256")
        return key_blob(private_key), private_key
    from stepca._fs import read_file
    from stepca.crypto.sshcert import SSHFormatError, blob_from_line, public_key_from_blob

    try:
        public_blob = blob_from_line(read_file(key_file, "public key"), key_file)
        public_key_from_blob(public_blob)
    except SSHFormatError as exc:
        fail(f"error parsing ssh public key: {exc}")
    return public_blob, None


def _write_add_user(base: str, key: PrivateKey, certificate: bytes | None, key_id: str) -> None:
    """The --add-user files: BASE-provisioner, its .pub and -cert.pub."""

    from stepca.crypto.sshcert import key_blob

    if not certificate:
        fail("the CA did not return a provisioner certificate: --add-user needs one user principal")
    _write_private_key(f"{base}-provisioner", key, None)
    _write_line(f"{base}-provisioner.pub", key_blob(key), key_id)
    _write_line(f"{base}-provisioner-cert.pub", certificate, key_id)
    ok("Provisioner Private Key", f"{base}-provisioner")
    ok("Provisioner Public Key", f"{base}-provisioner.pub")
    ok("Provisioner Certificate", f"{base}-provisioner-cert.pub")


# ------------------------------------------------------------------------------- inspect


@ssh.command("inspect")
@click.argument("crt_file", required=False, default="-")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def inspect(crt_file: str, fmt: str) -> None:
    """Print the contents of the SSH certificate CRT_FILE (standard input with '-' or no argument)."""
    import base64
    import json
    from datetime import UTC, datetime

    from stepca.crypto.sshcert import (
        SSHFormatError,
        algorithm_name,
        blob_type,
        cert_type_name,
        certificate_signature,
        fingerprint,
        key_blob,
        validity_text,
    )

    blob, cert = _read_certificate(crt_file)
    key = key_blob(cert.public_key())
    signer = key_blob(cert.signature_key())
    try:
        signature = certificate_signature(blob)
    except SSHFormatError as exc:
        fail(f"error parsing ssh certificate {crt_file}: {exc}")
    principals = [p.decode(errors="replace") for p in cert.valid_principals]
    options = {
        k.decode(errors="replace"): v.decode(errors="replace") for k, v in cert.critical_options.items()
    }
    extensions = {k.decode(errors="replace"): v.decode(errors="replace") for k, v in cert.extensions.items()}
    if fmt == "json":

        def when(ts: int) -> str:
            return datetime.fromtimestamp(min(ts, 253402300799), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

        doc = {
            "Type": cert_type_name(cert),
            "KeyName": blob_type(blob),
            "KeyID": cert.key_id.decode(errors="replace"),
            "KeyAlgo": algorithm_name(blob_type(key)),
            "KeyFingerprint": fingerprint(key),
            "SigningKeyAlgo": algorithm_name(blob_type(signer)),
            "SigningKeyFingerprint": fingerprint(signer),
            "Signature": {"Type": signature.algorithm, "Value": base64.b64encode(signature.blob).decode()},
            "Serial": cert.serial,
            "ValidAfter": when(cert.valid_after),
            "ValidBefore": when(cert.valid_before),
            "Principals": principals,
            "CriticalOptions": options,
            "Extensions": extensions,
        }
        click.echo(json.dumps(doc, indent=2))
        return
    lines = [
        f"{crt_file}:",
        f"        Type: {blob_type(blob)} {cert_type_name(cert)} certificate",
        f"        Public key: {algorithm_name(blob_type(key))}-CERT {fingerprint(key)}",
        f"        Signing CA: {algorithm_name(blob_type(signer))} {fingerprint(signer)} (using {signature.algorithm})",
        f'        Key ID: "{cert.key_id.decode(errors="replace")}"',
        f"        Serial: {cert.serial}",
        f"        Valid: {validity_text(cert.valid_after, cert.valid_before)}",
    ]
    for title, items in (
        ("Principals", principals),
        ("Critical Options", [f"{k} {v}".rstrip() for k, v in options.items()]),
        ("Extensions", [f"{k} {v}".rstrip() for k, v in extensions.items()]),
    ):
        lines.append(f"        {title}: " + ("" if items else "(none)"))
        lines += [f"                {item}" for item in items]
    lines.append("        Signature:")
    hexed = [f"{b:02x}" for b in signature.blob]
    lines += ["                " + ":".join(hexed[i : i + 16]) for i in range(0, len(hexed), 16)]
    click.echo("\n".join(lines))


# ------------------------------------------------------------------------------- config


@ssh.command("config")
@click.option("--host", is_flag=True, help="Configure an SSH server instead of a client.")
@click.option(
    "--roots", is_flag=True, help="Print the keys that verify user (or, with --host, host) certificates."
)
@click.option("--federation", is_flag=True, help="Like --roots, with the federated keys.")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="A template variable; repeatable.")
@click.option("--dry-run", is_flag=True, help="Print the files instead of writing them.")
@ca_options
def config(
    host: bool,
    roots: bool,
    federation: bool,
    sets: tuple[str, ...],
    dry_run: bool,
    ca_url: str | None,
    root: str | None,
) -> None:
    """Configure OpenSSH to use certificates from the CA, or print the CA's SSH keys.

    For a client: ~/.ssh/config includes $STEPPATH/ssh/config, whose known_hosts file trusts
    the host CA (``@cert-authority *``). For a server (--host, with --set Certificate=<file>
    --set Key=<file>): the sshd_config lines TrustedUserCAKeys, HostCertificate and HostKey,
    and the user CA key file.
    """
    import platform

    from stepca._fs import step_path
    from stepca.client.http import CAError
    from stepca.crypto.sshcert import authorized_line

    if roots and federation:
        fail("flag '--roots' is incompatible with '--federation'")
    if (roots or federation) and sets:
        fail(f"flag '--{'roots' if roots else 'federation'}' is incompatible with '--set'")
    ctx = resolve_ca(ca_url, root)
    if roots or federation:
        try:
            with ctx.client() as client:
                keys = client.ssh_roots() if roots else client.ssh_federation()
        except CAError as exc:
            if exc.status == 404:
                fail("step certificates is not configured with SSH support")
            raise
        name = "hostKey" if host else "userKey"
        blobs = keys.host_key if host else keys.user_key
        if not blobs:
            fail(f"step certificates is not configured with an ssh.{name}")
        for blob in blobs:
            click.echo(authorized_line(blob), nl=False)
        return
    data = {
        "GOOS": platform.system().lower(),
        "StepPath": str(step_path()),
        "StepSSHTemplateVersion": "v2",
    }
    for item in sets:
        name, sep, value = item.partition("=")
        if not sep or not name:
            fail(f"flag --set: {item!r} is not KEY=VALUE")
        data[name] = value
    with ctx.client() as client:
        resp = client.ssh_config("host" if host else "user", data)
    templates = resp.host_templates if host else resp.user_templates
    if not templates:
        click.echo("No configuration changes were found.")
        return
    for t in templates:
        path = _step_abs(t.path)
        content = t.content
        if dry_run:
            click.echo(str(path))
            click.echo(content.decode(errors="replace"))
            continue
        _write_template(path, t.type, content, t.comment or "#")
        ok(str(path))


def _step_abs(path: str) -> Path:
    """A template path: ``${STEPPATH}`` and ``~`` expanded, relative paths under STEPPATH."""
    import os
    from pathlib import Path

    from stepca._fs import step_path

    expanded = Path(os.path.expanduser(path.replace("${STEPPATH}", str(step_path()))))
    return expanded if expanded.is_absolute() else step_path() / expanded


def _write_template(path: Path, kind: str, content: bytes, comment: str) -> None:
    """Write a rendered template as smallstep's step does, by type."""
    import re
    from datetime import UTC, datetime

    from stepca._fs import SECRET_DIR_MODE, SECRET_FILE_MODE, atomic_write, ensure_dir

    if kind == "directory":
        ensure_dir(path, SECRET_DIR_MODE)
        return
    path.parent.mkdir(parents=True, exist_ok=True, mode=SECRET_DIR_MODE)
    if kind == "file":
        atomic_write(path, content, SECRET_FILE_MODE)
        return
    old = path.read_bytes() if path.exists() else b""
    if kind == "prepend-line":
        line = content.rstrip(b"\n")
        if line not in old.splitlines():
            atomic_write(path, line + b"\n" + old, SECRET_FILE_MODE)
        return
    if kind == "fullSnippet":
        lines = content.split(b"\n")
        header, footer, block = lines[0], lines[-1], content + b"\n"
    elif kind == "snippet":
        header = f"{comment} autogenerated by step".encode()
        footer = f"{comment} end".encode()
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        block = header + f" @ {stamp}\n".encode() + content.rstrip(b"\n") + b"\n" + footer + b"\n"
    else:
        fail(f"the CA sent a template of unknown type {kind!r} for {path}")
    # replace the block written before, or add it at the end (sshd_config's Match must be last)
    previous = re.compile(rb"(?ms)^" + re.escape(header) + rb".*?^" + re.escape(footer) + rb"[ \t]*\n?")
    if previous.search(old):
        new = previous.sub(lambda _: block, old, count=1)
    else:
        new = old + (b"\n" if old and not old.endswith(b"\n") else b"") + block
    atomic_write(path, new, SECRET_FILE_MODE)


# ------------------------------------------------------------------------------- renew / revoke


@ssh.command("renew")
@click.argument("cert_file")
@click.argument("key_file")
@click.option("--out", "--output-file", "out", type=click.Path(), help="Write here instead of CERT_FILE.")
@click.option("--provisioner", "--issuer", "provisioner", help="The SSHPOP provisioner to use.")
@click.option(
    "--provisioner-password-file",
    "--password-file",
    "password_file",
    type=click.Path(),
    help="File with the password of KEY_FILE.",
)
@click.option("-f", "--force", is_flag=True, help="Overwrite the output file without asking.")
@ca_options
def renew(
    cert_file: str,
    key_file: str,
    out: str | None,
    provisioner: str | None,
    password_file: str | None,
    force: bool,
    ca_url: str | None,
    root: str | None,
) -> None:
    """Renew the SSH host certificate CERT_FILE, proving possession of its KEY_FILE (SSHPOP).

    The new certificate has the same key, principals and lifetime, starting now.
    """

    ctx = resolve_ca(ca_url, root)
    blob, cert, key = _sshpop_pair(cert_file, key_file, password_file)
    target = out or cert_file
    confirm_overwrite(target, force)
    name = _sshpop_provisioner(ctx, provisioner)
    token = sshpop_token(
        ctx, provisioner=name, endpoint="ssh/renew", subject=str(cert.serial), cert_blob=blob, key=key
    )
    with ctx.client() as client:
        resp = client.ssh_renew(token)
    _write_line(target, resp.crt, cert.key_id.decode(errors="replace"))
    ok("Certificate", target)


@ssh.command("login")
@click.argument("identity", required=False)
@click.option("--token", help="A one-time token from 'step ca token --ssh' (otherwise one is generated).")
@provisioner_options
@click.option("--principal", "-n", "principals", multiple=True, help="A principal to ask for; repeatable.")
@click.option("--not-before", help="Certificate validity start: RFC 3339 time or duration.")
@click.option("--not-after", help="Certificate validity end: RFC 3339 time or duration (e.g. 8h).")
@click.option("--comment", help="The comment of the key in the agent (default: IDENTITY).")
@ca_options
def login(
    identity: str | None,
    token: str | None,
    token_key: str | None,
    provisioner: str | None,
    kid: str | None,
    provisioner_password_file: str | None,
    principals: tuple[str, ...],
    not_before: str | None,
    not_after: str | None,
    comment: str | None,
    ca_url: str | None,
    root: str | None,
) -> None:
    """Log in: get an SSH user certificate for IDENTITY and add it, with a new private key, to
    the running ssh-agent ($SSH_AUTH_SOCK) until it expires.

    With an OIDC provisioner a browser opens to log in, IDENTITY may be left out (the email of
    the login is used) and the CA chooses the principals (the email's local part, a sanitized
    form of it, and the email). Nothing is written to disk.
    """
    from datetime import UTC, datetime

    from stepca.cli.ca_token import ssh_step_claim
    from stepca.client.sshagent import Agent, AgentError
    from stepca.crypto.keys import generate_private_key
    from stepca.crypto.sshcert import certificate_from_blob, key_blob

    valid_after = _validity_flag(not_before, "--not-before")
    valid_before = _validity_flag(not_after, "--not-after")
    ctx = resolve_ca(ca_url, root)
    try:  # the agent must be there before anyone logs in
        Agent().close()
    except AgentError as exc:
        fail(str(exc))
    request_principals = list(principals)
    if not token:
        signer = select_signer(
            ctx, provisioner=provisioner, kid=kid, password_file=provisioner_password_file, key_file=token_key
        )
        if isinstance(signer, OIDCSigner):
            token = signer.token(ctx, identity or "", "ssh/sign")
            identity = identity or str(_token_ssh_claims_email(token))
        else:
            if not identity:
                fail("IDENTITY is required (only an OIDC login can tell it)")
            claim = ssh_step_claim(
                identity,
                host=False,
                principals=principals,
                valid_after=valid_after,
                valid_before=valid_before,
            )
            request_principals = claim["step"]["ssh"]["principals"]
            token = signer.token(ctx, identity, "ssh/sign", extra=claim)
    elif not identity:
        identity = str(_token_ssh_claims_email(token))
    key = generate_private_key("EC", "P-256")
    with ctx.client() as client:
        resp = client.ssh_sign(
            key_blob(key),
            token,
            cert_type="user",
            principals=request_principals,
            valid_after=valid_after or "",
            valid_before=valid_before or "",
        )
    ok("CA", ctx.ca_url)
    cert = certificate_from_blob(resp.crt)
    lifetime = int(cert.valid_before - datetime.now(UTC).timestamp())
    try:
        with Agent() as agent:
            agent.add_certificate(key, resp.crt, comment or identity, lifetime=max(lifetime, 1))
    except AgentError as exc:
        fail(str(exc))
    ok("SSH Agent", "yes")


def _token_ssh_claims_email(token: str) -> str:
    """The email (else the subject) of a token, read without verification."""
    from stepca.crypto.jose import CompactJWS, JOSEError

    try:
        claims = CompactJWS(token).claims()
    except JOSEError as exc:
        fail(f"invalid token: {exc}")
    value = claims.get("email") or claims.get("sub") or ""
    if not isinstance(value, str) or not value:
        fail("the token names no identity: pass IDENTITY")
    return value


@ssh.command("logout")
@click.argument("identity", required=False)
@click.option("--all", "all_", is_flag=True, help="Remove every SSH certificate from the agent.")
def logout(identity: str | None, all_: bool) -> None:
    """Remove from the ssh-agent the certificates (and their keys) of IDENTITY: those whose key
    id or comment is IDENTITY, as `step ssh login IDENTITY` added them; --all removes every
    certificate. Plain keys are left alone."""
    from stepca.client.sshagent import Agent, AgentError
    from stepca.crypto.sshcert import SSHFormatError, certificate_from_blob

    if not identity and not all_:
        fail("IDENTITY or --all is required")
    removed = 0
    try:
        with Agent() as agent:
            for ident in agent.identities():
                if not ident.key_type.endswith("-cert-v01@openssh.com"):
                    continue
                try:
                    key_id = certificate_from_blob(ident.blob).key_id.decode(errors="replace")
                except (SSHFormatError, ValueError):
                    key_id = ""
                if all_ or identity in (key_id, ident.comment):
                    agent.remove(ident.blob)
                    removed += 1
                    ok("Identity removed", ident.comment or key_id)
    except AgentError as exc:
        fail(str(exc))
    if not removed:
        fail(
            f"no certificate of {identity} in the ssh-agent"
            if identity
            else "no certificate in the ssh-agent"
        )


@ssh.command("revoke")
@click.argument("serial", required=False)
@click.option("--token", help="A token from 'step ca token SERIAL --ssh --revoke'.")
@provisioner_options
@click.option("--sshpop-cert", type=click.Path(), help="Authorize with this certificate (SSHPOP)...")
@click.option("--sshpop-key", type=click.Path(), help="...and its private key.")
@click.option("--password-file", type=click.Path(), help="File with the password of --sshpop-key.")
@click.option("--reason", default="", help="A free-form reason for the revocation.")
@click.option("--reasonCode", "--reason-code", "reason_code", help="RFC 5280 reason code (number or name).")
@ca_options
def revoke(
    serial: str | None,
    token: str | None,
    token_key: str | None,
    provisioner: str | None,
    kid: str | None,
    provisioner_password_file: str | None,
    sshpop_cert: str | None,
    sshpop_key: str | None,
    password_file: str | None,
    reason: str,
    reason_code: str | None,
    ca_url: str | None,
    root: str | None,
) -> None:
    """Revoke the SSH certificate with serial number SERIAL: it can no longer be renewed, and it is
    listed in the CA's KRL (`step ssh krl`, for sshd's RevokedKeys).

    Authorize with a token (--token, or one signed with a JWK provisioner key), or by proving
    possession of the certificate (--sshpop-cert and --sshpop-key; SERIAL is then optional).
    """
    from stepca.cli.ca_renew import reason_code_from_flag

    code = reason_code_from_flag(reason_code)
    if bool(sshpop_cert) != bool(sshpop_key):
        fail("flags --sshpop-cert and --sshpop-key must be used together")
    ctx = resolve_ca(ca_url, root)
    if sshpop_cert and sshpop_key:
        blob, cert, key = _sshpop_pair(sshpop_cert, sshpop_key, password_file)
        serial = serial or str(cert.serial)
        if not token:
            token = sshpop_token(
                ctx,
                provisioner=_sshpop_provisioner(ctx, provisioner),
                endpoint="ssh/revoke",
                subject=str(cert.serial),
                cert_blob=blob,
                key=key,
            )
    if not serial:
        fail("the serial number to revoke is required (or use --sshpop-cert and --sshpop-key)")
    if not token:
        signer = select_signer(
            ctx, provisioner=provisioner, kid=kid, password_file=provisioner_password_file, key_file=token_key
        )
        token = signer.token(ctx, serial, "ssh/revoke")
    with ctx.client() as client:
        client.ssh_revoke(serial, ott=token, reason_code=code, reason=reason)
    info(f"SSH Certificate with Serial Number {serial} has been revoked.")


# ------------------------------------------------------------------------------- hosts


@ssh.command("check-host")
@click.argument("hostname")
@click.option("--quiet", is_flag=True, help="Print nothing: only the exit status tells.")
@ca_options
def check_host(hostname: str, quiet: bool, ca_url: str | None, root: str | None) -> None:
    """Print true (exit 0) if the CA has issued a host certificate for HOSTNAME, else false (exit 1)."""
    ctx = resolve_ca(ca_url, root)
    with ctx.client() as client:
        exists = client.ssh_check_host(hostname)
    if not quiet:
        click.echo("true" if exists else "false")
    if not exists:
        sys.exit(1)


@ssh.command("hosts")
@ca_options
def hosts(ca_url: str | None, root: str | None) -> None:
    """List the hosts that have a valid host certificate from the CA."""
    ctx = resolve_ca(ca_url, root)
    with ctx.client() as client:
        for name in client.ssh_hosts():
            click.echo(name)


def _add_revocation_commands() -> None:
    from stepca.cli.revocation import krl

    ssh.add_command(krl)


_add_revocation_commands()
