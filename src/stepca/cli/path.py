"""`step path` and `step version`."""

from __future__ import annotations

import click


@click.command("path")
@click.option("--base", is_flag=True, help="Print the base STEPPATH (same as the default: no contexts).")
def path(base: bool) -> None:
    """Print the STEPPATH directory: $STEPPATH, or ~/.step when it is not set."""
    from stepca._fs import step_path

    click.echo(str(step_path()))


@click.command("version")
def version() -> None:
    """Print the version of stepca's step."""
    from stepca import API_COMPAT_VERSION, __version__

    click.echo(f"stepca step {__version__} (compatible with Smallstep CLI/{API_COMPAT_VERSION})")
