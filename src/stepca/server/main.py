"""`step-ca CONFIG`: the certificate authority server."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click


@click.command(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.argument("config", type=click.Path(dir_okay=False))
@click.option(
    "--password-file",
    type=click.Path(dir_okay=False),
    help="File with the password that decrypts the intermediate key (read again on every reload).",
)
@click.option(
    "--ssh-host-password-file", type=click.Path(dir_okay=False), help="Password file for the SSH host CA key."
)
@click.option(
    "--ssh-user-password-file", type=click.Path(dir_okay=False), help="Password file for the SSH user CA key."
)
@click.option(
    "--workers",
    type=click.IntRange(1, 256),
    default=None,
    help="Worker processes serving requests (default: one per CPU core, or $STEPCA_WORKERS).",
)
@click.version_option(package_name="stepca", prog_name="step-ca")
def cli(
    config: str,
    password_file: str | None,
    ssh_host_password_file: str | None,
    ssh_user_password_file: str | None,
    workers: int | None,
) -> None:
    """Run the certificate authority described by CONFIG (ca.json).

    The intermediate key is decrypted with --password-file, the ca.json "password" field, or a
    password typed at the prompt. The CA serves HTTPS on the configured address with a
    certificate it issues itself for its dnsNames. Send SIGHUP to reload CONFIG from the same
    path without dropping requests; SIGTERM stops it gracefully.
    """
    from stepca.errors import ConfigError
    from stepca.server.loader import LoadError, Secrets, load, needs_password
    from stepca.server.logs import ServerLog, go_log_line

    config_path = Path(config).expanduser()
    secrets = Secrets(
        password_file=password_file,
        ssh_host_password_file=ssh_host_password_file,
        ssh_user_password_file=ssh_user_password_file,
    )
    try:
        if password_file is None:
            ask, key_path = needs_password(config_path)
            if ask:
                if not sys.stdin.isatty():
                    raise LoadError(
                        f"{key_path} is encrypted and no password is configured: "
                        "use --password-file or the ca.json password field"
                    )
                import getpass

                secrets.prompted = getpass.getpass(
                    f"Please enter the password to decrypt {key_path}: ", stream=sys.stderr
                ).encode()
        loaded = load(config_path, secrets)
        _prepare_database(loaded)
    except (ConfigError, LoadError, OSError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)

    from stepca.server.supervisor import Supervisor, parse_address

    try:
        parse_address(loaded.config.address)
    except ValueError as exc:
        click.echo(f"error: ca.json: address: {exc}", err=True)
        sys.exit(1)
    count = workers or int(os.environ.get("STEPCA_WORKERS", "0") or 0) or (os.cpu_count() or 1)
    log = ServerLog(loaded.config.logger.format)
    sup = Supervisor(config_path=config_path, secrets=secrets, loaded=loaded, workers=count, log=log)
    try:
        code = sup.run()
    except OSError as exc:
        click.echo(
            go_log_line(f"error: cannot listen on {loaded.config.address}: {exc.strerror or exc}"), err=True
        )
        sys.exit(1)
    sys.exit(code)


def _prepare_database(loaded: object) -> None:
    """Create the database if needed and migrate the schema, before any worker starts."""
    from stepca.db.engine import ensure_database, make_engine, resolve_target
    from stepca.db.sql import SQLStore
    from stepca.server.loader import Loaded

    assert isinstance(loaded, Loaded)
    target = resolve_target(loaded.config.db, loaded.step_path / "db" / "stepca.db")
    try:
        ensure_database(target)
        store = SQLStore(make_engine(target, pool_size=1))
        try:
            store.migrate()
        finally:
            store.close()
    except Exception as exc:
        from stepca.server.loader import LoadError

        raise LoadError(f"database {target.url.render_as_string(hide_password=True)}: {exc}") from None


def main() -> None:
    cli(prog_name="step-ca")


if __name__ == "__main__":
    main()
