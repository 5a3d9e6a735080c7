"""Entry point of `step`: click plus a lazy command map, so start-up imports nothing heavy."""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

import click

# command name -> ("module:attr", one-line help); modules are imported only when the command runs
_COMMANDS: dict[str, tuple[str, str]] = {
    "ca": ("stepca.cli.ca:ca", "initialize and use a certificate authority"),
    "certificate": (
        "stepca.cli.certificate:certificate",
        "create, inspect, verify and fingerprint certificates",
    ),
    "crypto": ("stepca.cli.crypto:crypto", "useful cryptographic plumbing (key passwords)"),
    "oauth": ("stepca.cli.oauth:oauth", "authorization and single sign-on using OAuth & OIDC"),
    "path": ("stepca.cli.path:path", "print the configured step path"),
    "ssh": ("stepca.cli.ssh:ssh", "create and manage SSH certificates"),
    "version": ("stepca.cli.path:version", "print the version"),
}


class LazyGroup(click.Group):
    """A click group whose subcommands are imported from ``lazy`` ("module:attr") when used."""

    def __init__(self, *args: Any, lazy: dict[str, tuple[str, str]] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = dict(lazy or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(self.lazy))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy:
            module_name, attr = self.lazy[cmd_name][0].split(":")
            return getattr(importlib.import_module(module_name), attr)  # type: ignore[no-any-return]
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """List subcommands from the static help texts: `--help` imports no command module."""
        rows = [(name, self.lazy[name][1]) for name in sorted(self.lazy)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@click.group(cls=LazyGroup, lazy=_COMMANDS, context_settings=CONTEXT_SETTINGS)
def step() -> None:
    """step: the command line for the stepca certificate authority.

    Compatible with smallstep's `step`: initialize a PKI (`step ca init`), run and talk to the CA
    (`step ca ...`), inspect and create certificates (`step certificate ...`), manage keys
    (`step crypto ...`) and SSH certificates (`step ssh ...`).
    """


def main(argv: list[str] | None = None) -> None:
    from stepca.cli._ui import run_cli

    run_cli(step, argv, prog_name=os.path.basename(sys.argv[0]) or "step")


if __name__ == "__main__":
    main()
