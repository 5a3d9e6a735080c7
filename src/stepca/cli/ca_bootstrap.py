"""`step ca bootstrap|health|root|roots|federation`."""

from __future__ import annotations

import click

from stepca.cli._ca import ca_options, resolve_ca
from stepca.cli._ui import confirm_overwrite, fail, info


@click.command("bootstrap")
@click.option("--ca-url", "ca_url", required=True, help="URI of the certificate authority.")
@click.option("--fingerprint", required=True, help="SHA-256 fingerprint of the CA's root certificate.")
@click.option("-f", "--force", is_flag=True, help="Overwrite existing files without asking.")
def bootstrap(ca_url: str, fingerprint: str, force: bool) -> None:
    """Download the CA's root certificate, check its fingerprint, and write the defaults.

    Writes $(step path)/certs/root_ca.crt and $(step path)/config/defaults.json (ca-url,
    fingerprint, root; other keys already in defaults.json, like ca-config, are kept).
    """
    import json

    from cryptography import x509

    from stepca._fs import atomic_write, ensure_dir, step_path
    from stepca.client.http import CAClient
    from stepca.config import dump_json
    from stepca.crypto.pem import certificate_ders, sha256_fingerprint

    fp = fingerprint.lower().replace(":", "").strip()
    insecure = CAClient(ca_url, insecure=True)
    with insecure:
        pem = insecure.root(fp)
    ders = certificate_ders(pem.encode())
    if sha256_fingerprint(ders[0]) != fp:
        fail("the root certificate returned by the CA does not match the fingerprint")
    x509.load_der_x509_certificate(ders[0])
    # the TLS connection must verify against that root too
    with CAClient(ca_url, pem.encode()) as verified:
        verified.health()
    base = step_path()
    root_path = base / "certs" / "root_ca.crt"
    defaults_path = base / "config" / "defaults.json"
    confirm_overwrite(root_path, force)
    confirm_overwrite(defaults_path, force)
    ensure_dir(base / "certs", 0o700)
    ensure_dir(base / "config", 0o700)
    atomic_write(root_path, pem, 0o644)
    info(f"The root certificate has been saved in {root_path}.")
    defaults: dict[str, object] = {}
    if defaults_path.exists():
        try:
            existing = json.loads(defaults_path.read_text())
            if isinstance(existing, dict):
                defaults.update(existing)
        except ValueError:
            pass
    defaults.update({"ca-url": insecure.ca_url, "fingerprint": fp, "root": str(root_path)})
    atomic_write(defaults_path, dump_json(defaults), 0o644)
    info(f"The authority configuration has been saved in {defaults_path}.")


@click.command("health")
@ca_options
def health(ca_url: str | None, root: str | None) -> None:
    """Print the health of the CA: 'ok' when it answers."""
    ctx = resolve_ca(ca_url, root)
    with ctx.client() as client:
        click.echo(client.health().status)


def _save_or_print(path: str | None, pems: list[str], force: bool, what: str) -> None:
    from stepca._fs import atomic_write

    data = "".join(p if p.endswith("\n") else p + "\n" for p in pems)
    if path:
        confirm_overwrite(path, force)
        atomic_write(path, data, 0o644)
        info(f"The {what} has been saved in {path}.")
    else:
        click.echo(data, nl=False)


@click.command("root")
@click.argument("root_file", required=False)
@click.option("--ca-url", "ca_url", help="URI of the certificate authority.")
@click.option("--fingerprint", help="SHA-256 fingerprint of the root (default: defaults.json).")
@click.option("-f", "--force", is_flag=True, help="Overwrite ROOT_FILE without asking.")
def root(root_file: str | None, ca_url: str | None, fingerprint: str | None, force: bool) -> None:
    """Download the root certificate, check it against its fingerprint, print or save it."""
    import os

    from stepca.client.http import CAClient
    from stepca.config import load_defaults
    from stepca.crypto.pem import certificate_ders, sha256_fingerprint

    defaults = load_defaults()
    url = ca_url or os.environ.get("STEP_CA_URL") or defaults.ca_url
    fp = (fingerprint or os.environ.get("STEP_FINGERPRINT") or defaults.fingerprint or "").lower()
    if not url:
        fail("flag --ca-url is required")
    if not fp:
        fail("flag --fingerprint is required")
    with CAClient(url, insecure=True) as client:
        pem = client.root(fp)
    if sha256_fingerprint(certificate_ders(pem.encode())[0]) != fp.replace(":", ""):
        fail("the root certificate returned by the CA does not match the fingerprint")
    _save_or_print(root_file, [pem], force, "root certificate")


@click.command("roots")
@click.argument("roots_file", required=False)
@ca_options
@click.option("-f", "--force", is_flag=True, help="Overwrite ROOTS_FILE without asking.")
def roots(roots_file: str | None, ca_url: str | None, root: str | None, force: bool) -> None:
    """Download every root certificate of the CA (a bundle)."""
    ctx = resolve_ca(ca_url, root)
    with ctx.client() as client:
        _save_or_print(roots_file, client.roots(), force, "root certificate bundle")


@click.command("federation")
@click.argument("federation_file", required=False)
@ca_options
@click.option("-f", "--force", is_flag=True, help="Overwrite FEDERATION_FILE without asking.")
def federation(federation_file: str | None, ca_url: str | None, root: str | None, force: bool) -> None:
    """Download the roots the CA federates with (its own included)."""
    ctx = resolve_ca(ca_url, root)
    with ctx.client() as client:
        _save_or_print(federation_file, client.federation(), force, "federation certificate bundle")
