"""`step ca provisioner ...`."""

from __future__ import annotations

import click

from stepca.cli.main import CONTEXT_SETTINGS


@click.group(context_settings=CONTEXT_SETTINGS)
def provisioner() -> None:
    """Create and manage the certificate authority provisioners."""


@provisioner.command("list")
@click.option("--ca-url", "ca_url", help="URI of the certificate authority.")
@click.option("--root", type=click.Path(), help="The root certificate to trust.")
def list_(ca_url: str | None, root: str | None) -> None:
    """List the provisioners of the CA as JSON."""
    import json

    from stepca.cli._ca import resolve_ca

    ctx = resolve_ca(ca_url, root)
    with ctx.client() as client:
        provs = client.provisioners()
    click.echo(json.dumps(provs, indent=3, ensure_ascii=False))
