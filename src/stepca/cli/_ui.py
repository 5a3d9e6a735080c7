"""What every command shares: one-line errors, ✔ lines, password input, prompts, pickers.

Prompts only appear on a terminal; without one, the error names the flag that would answer it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, NoReturn

import click

from stepca.errors import ConfigError, StepError, UserError

if TYPE_CHECKING:
    from pathlib import Path


#: click >= 8.2 raises this (a UsageError) for a group run without a command
_NO_ARGS_IS_HELP: type[click.UsageError] = getattr(
    click.exceptions, "NoArgsIsHelpError", type("_Never", (click.UsageError,), {})
)


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
    except _NO_ARGS_IS_HELP as exc:
        exc.show()  # a group called without a command: its help, as click prints it
        sys.exit(exc.exit_code)
    except click.UsageError as exc:
        # one line, like every other error: the command and what is wrong with its arguments
        command = exc.ctx.command_path if exc.ctx is not None else prog_name
        click.echo(f"{command}: {exc.format_message()} (see '{command} --help')", err=True)
        sys.exit(exc.exit_code)
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


def prompt_text(
    question: str,
    flag: str,
    default: str | None = None,
    *,
    validate: Callable[[str], str | None] | None = None,
) -> str:
    """Ask on the terminal until the answer is non-empty and ``validate`` (reason or None) accepts it."""
    require_tty(flag)
    suffix = f" [{default}]" if default else ""
    while True:
        answer = click.prompt(f"{question}{suffix}", default="", show_default=False, err=True).strip()
        if not answer and default is not None:
            answer = default
        if not answer:
            click.echo("a value is required", err=True)
            continue
        problem = validate(answer) if validate else None
        if problem is None:
            return answer
        click.echo(problem, err=True)


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
    import secrets
    import string

    alphabet = string.ascii_letters + string.digits + "!#$%&()*+,-./:;<=>?@[]^_{|}~"
    return "".join(secrets.choice(alphabet) for _ in range(length))


def confirm_overwrite(path: Path | str, force: bool) -> None:
    """Ask before replacing an existing file (``-f/--force`` skips the question)."""
    if os.path.isdir(path):
        fail(f"{path} is a directory")
    if force or not os.path.lexists(path):
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
