"""The `step` command line. Each command group lives in its own module, imported on use."""

from __future__ import annotations

import sys


def main() -> None:
    """Console entry point: the click-free fast forms first (cli/fast.py), then the full CLI."""
    from stepca.cli import fast

    code = fast.run(sys.argv[1:])
    if code is not None:
        sys.stdout.flush()
        raise SystemExit(code)
    from stepca.cli.main import main as full

    full()
