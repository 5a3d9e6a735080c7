"""What every command shares: one-line errors, ✔ lines, password input, prompts, pickers.

Prompts only appear on a terminal; without one, the error names the flag that would answer it.
"""

from __future__ import annotations

import os
import secrets
import string
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

import click

from stepca.errors import ConfigError, StepError, UserError


def fail(message: str) -> NoReturn:
    raise UserError(message)


def run_cli(group: click.Command, argv: list[str] | None, prog_name: str) -> None:
    """Run a click command; every error becomes one line on stderr and a non-zero exit."""
    debug = bool(os.environ.get("STEPDEBUG"))
    try:
        group.main(args=argv, prog_name=prog_name, standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("error: interrupted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except (UserError, ConfigError, StepError) as exc:
        if debug:
            raise
        click.echo(str(exc) if not isinstance(exc, StepError) else exc.message, err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        click.echo("error: interrupted", err=True)
        sys.exit(130)
    except (OSError, ValueError) as exc:
        if debug:
            raise
        click.echo(_os_error_line(exc), err=True)
        sys.exit(1)
    except Exception as exc:
        if debug:
            raise
        click.echo(f"unexpected error: {exc.__class__.__name__}: {exc}", err=True)
        sys.exit(1)


def _os_error_line(exc: Exception) -> str:
    if isinstance(exc, OSError) and exc.strerror and exc.filename:
        return f"open {exc.filename}: {exc.strerror.lower()}"
    return str(exc)


def ok(label: str, value: object = "") -> None:
    """A step-style success line on stderr: ``✔ Certificate: foo.crt``."""
    click.echo(f"✔ {label}: {value}" if value != "" else f"✔ {label}", err=True)


def info(message: str) -> None:
    click.echo(message, err=True)


def is_interactive() -> bool:
    return sys.stdin.isatty()


def require_tty(flag: str) -> None:
    if not is_interactive():
        fail(f"cannot prompt without a terminal: use the flag {flag}")


def prompt_text(question: str, flag: str, default: str | None = None) -> str:
    require_tty(flag)
    suffix = f" [{default}]" if default else ""
    while True:
        answer = click.prompt(f"{question}{suffix}", default="", show_default=False, err=True).strip()
        if answer:
            return answer
        if default is not None:
            return default
        click.echo("a value is required", err=True)


def prompt_password(question: str, flag: str, *, confirm: bool = False, allow_empty: bool = False) -> bytes:
    require_tty(flag)
    import getpass

    while True:
        pw = getpass.getpass(f"{question}: ", stream=sys.stderr)
        if not pw and not allow_empty:
            click.echo("the password cannot be empty", err=True)
            continue
        if confirm and pw:
            again = getpass.getpass("Confirm the password: ", stream=sys.stderr)
            if again != pw:
                click.echo("the passwords do not match", err=True)
                continue
        return pw.encode()


def read_password(file: str | None, question: str, flag: str, *, confirm: bool = False) -> bytes:
    """A password from ``file`` (trailing newline removed) or a prompt."""
    if file:
        from stepca._fs import read_password_file

        return read_password_file(file)
    return prompt_password(question, flag, confirm=confirm)


def generate_password(length: int = 32) -> str:
    alphabet = string.ascii_letters + string.digits + "!#$%&()*+,-./:;<=>?@[]^_{|}~"
    return "".join(secrets.choice(alphabet) for _ in range(length))


def confirm_overwrite(path: Path | str, force: bool) -> None:
    """Ask before replacing an existing file (``-f/--force`` skips the question)."""
    if force or not Path(path).exists():
        return
    if not is_interactive():
        fail(f"file {path} already exists: use --force to overwrite it")
    if not click.confirm(f"Would you like to overwrite {path}", default=False, err=True):
        fail(f"file {path} was not overwritten")


def choose(question: str, choices: Sequence[tuple[str, str]], flag: str) -> str:
    """Arrow-key picker; ``choices`` are (label, value). One choice is taken without asking."""
    if len(choices) == 1:
        return choices[0][1]
    require_tty(flag)
    import questionary

    answer = questionary.select(
        question,
        choices=[questionary.Choice(title=label, value=value) for label, value in choices],
        instruction="Use the arrow keys to navigate: ↓ ↑ → ←",
    ).ask()
    if answer is None:
        raise click.exceptions.Abort()
    return str(answer)
