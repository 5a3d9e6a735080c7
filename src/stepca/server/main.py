"""`step-ca CONFIG`: the certificate authority server."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from stepca.server.worker import ServerLimits

HELP = """Run the certificate authority described by CONFIG (its ca.json).

\b
  $ step-ca $(step path)/config/ca.json
  $ step-ca /etc/step-ca/config/ca.json --password-file /etc/step-ca/password.txt

\b
Password of the intermediate key, in this order:
  --password-file FILE   read at start-up and again on every reload (recommended);
  ca.json "password"     the top-level field (keep ca.json mode 0600);
  a prompt               on a terminal; the answer is kept in memory for reloads.
Without a terminal and without the first two, step-ca stops with an error.

\b
Signals:
  SIGHUP    reload CONFIG from the same path, with no failed request: in-flight requests finish
            on the old configuration, new ones use the new one, connections stay open. A
            CONFIG that does not load, or that changes the "db" block, is refused with a log
            line and the previous configuration keeps serving.
  SIGTERM   stop accepting, finish in-flight requests (up to 10 s), exit.
  SIGINT    the same as SIGTERM.
  SIGKILL   of the main process: its workers exit within a second (nothing is left serving).

\b
CONFIG fields used here: address, insecureAddress (plain HTTP for /crl and /crl/delta only),
crl (enabled, generateOnRevoke, cacheDuration, renewPeriod, idpURL; see docs/revocation.md),
dnsNames, root, crt, key, password, db, logger.format
("text" or "json": one object per request on stderr), tls (minVersion, maxVersion,
cipherSuites with Go's names) and authority (provisioners, claims, template, backdate).

\b
Under systemd (Type=notify) step-ca sends READY=1 when serving, RELOADING=1 then READY=1
around a reload and STOPPING=1 on exit, to $NOTIFY_SOCKET. See contrib/systemd/step-ca.service
and docs/operating.md.

\b
Environment: STEPPATH (relative paths in CONFIG; default: the directory above config/),
STEPCA_WORKERS (default for --workers), NOTIFY_SOCKET (set by systemd).
Exit status: 0 after SIGTERM/SIGINT, 1 when the configuration cannot be loaded or served.
"""


@click.command(help=HELP, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.argument("config", type=click.Path(dir_okay=False))
@click.option(
    "--password-file",
    type=click.Path(dir_okay=False),
    help="File with the password that decrypts the intermediate key (read again on every reload).",
)
@click.option(
    "--ssh-host-password-file",
    type=click.Path(dir_okay=False),
    help="Password file for the SSH host CA key (default: the intermediate key's password).",
)
@click.option(
    "--ssh-user-password-file",
    type=click.Path(dir_okay=False),
    help="Password file for the SSH user CA key (default: the intermediate key's password).",
)
@click.option(
    "--workers",
    type=click.IntRange(1, 256),
    default=None,
    help="Worker processes serving requests (default: one per CPU core, or $STEPCA_WORKERS).",
)
@click.option(
    "--body-timeout",
    default="30s",
    show_default=True,
    metavar="DURATION",
    help="Time to receive a request body once its headers arrived (a Go duration, e.g. 30s); "
    "then 408 and the connection is closed.",
)
@click.option(
    "--max-connections",
    type=click.IntRange(1, 1_000_000),
    default=1024,
    show_default=True,
    help="Open connections per worker; past it a worker stops accepting until one closes.",
)
@click.option(
    "--resolver",
    metavar="HOST:PORT",
    default="",
    help="DNS server for ACME validation (dns-01 TXT, http-01/tls-alpn-01 addresses) and CAA "
    "checks (default: the system's resolvers).",
)
@click.option(
    "--metrics-address",
    metavar="ADDRESS",
    help="Serve Prometheus metrics at http://ADDRESS/metrics (overrides ca.json metricsAddress; "
    "docs/metrics.md).",
)
@click.option(
    "--pidfile",
    type=click.Path(dir_okay=False),
    help="Write the PID of the main process (the one to send SIGHUP to) to this file.",
)
@click.version_option(package_name="stepca", prog_name="step-ca")
def cli(
    config: str,
    password_file: str | None,
    ssh_host_password_file: str | None,
    ssh_user_password_file: str | None,
    workers: int | None,
    body_timeout: str,
    max_connections: int,
    metrics_address: str | None,
    pidfile: str | None,
    resolver: str,
) -> None:
    from stepca.errors import ConfigError
    from stepca.server.loader import LoadError, Secrets, load, needs_password
    from stepca.server.logs import ServerLog, go_log_line

    limits = _limits(body_timeout, max_connections, resolver)
    config_path = Path(config).expanduser()
    secrets = Secrets(
        password_file=password_file,
        ssh_host_password_file=ssh_host_password_file,
        ssh_user_password_file=ssh_user_password_file,
    )
    start_time = time.time()
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
        from stepca.server.worker import check_config, route_stdlib_logging

        log = ServerLog(loaded.config.logger.format)
        route_stdlib_logging(log)
        check_config(loaded, start_time)
        _prepare_database(loaded, secrets.password(loaded.config))
    except (ConfigError, LoadError, OSError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)

    from stepca.server.supervisor import Supervisor, parse_address

    metrics_at = metrics_address if metrics_address is not None else loaded.config.metrics_address
    for name, value in (
        ("address", loaded.config.address),
        ("insecureAddress", loaded.config.insecure_address),
        ("metricsAddress", metrics_at),
    ):
        try:
            if value or name == "address":
                parse_address(value)
        except ValueError as exc:
            click.echo(f"error: ca.json: {name}: {exc}", err=True)
            sys.exit(1)
    count = workers or int(os.environ.get("STEPCA_WORKERS", "0") or 0) or (os.cpu_count() or 1)
    sup = Supervisor(
        config_path=config_path,
        secrets=secrets,
        loaded=loaded,
        workers=count,
        log=log,
        start_time=start_time,
        early_signals=_EARLY_SIGNALS,
        limits=limits,
        metrics_address=metrics_at,
    )
    try:
        with _pidfile(pidfile):
            code = sup.run()
    except OSError as exc:
        click.echo(
            go_log_line(
                f"error: cannot listen on {sup.binding or loaded.config.address}: {exc.strerror or exc}"
            ),
            err=True,
        )
        sys.exit(1)
    sys.exit(code)


def _limits(body_timeout: str, max_connections: int, resolver: str = "") -> ServerLimits:
    from stepca._durations import parse_duration
    from stepca.server.worker import ServerLimits

    try:
        seconds = parse_duration(body_timeout).total_seconds()
    except (ValueError, OverflowError):
        seconds = -1.0
    if not 0 < seconds <= 86400:
        raise click.BadParameter(
            f"{body_timeout!r} is not a duration between 1ms and 24h (e.g. 30s)",
            param_hint="'--body-timeout'",
        )
    if resolver:
        from stepca.acme.dnsquery import Resolver

        try:
            Resolver.parse(resolver)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="'--resolver'") from None
    return ServerLimits(body_timeout=seconds, max_connections=max_connections, acme_resolver=resolver)


@contextlib.contextmanager
def _pidfile(path: str | None) -> Iterator[None]:
    if not path:
        yield
        return
    from stepca._fs import atomic_write

    atomic_write(path, f"{os.getpid()}\n", 0o644)
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)


def _prepare_database(loaded: object, password: bytes | None = None) -> None:
    """Create the database if needed and migrate the schema, before any worker starts; with
    ``authority.enableAdmin``, import the ca.json provisioners the first time."""
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
            from stepca.admin import source

            if source.enabled(loaded):
                from stepca.admin.bootstrap import import_once

                import_once(loaded, store, password)
        finally:
            store.close()
    except Exception as exc:
        from stepca.server.loader import LoadError

        raise LoadError(f"database {target.url.render_as_string(hide_password=True)}: {exc}") from None


#: SIGHUPs received while starting (before the supervisor handles them): reloaded once serving
_EARLY_SIGNALS: list[int] = []


def main() -> None:
    # a SIGHUP while starting must not kill us (its default action): remember it, reload once serving
    signal.signal(signal.SIGHUP, lambda signum, _frame: _EARLY_SIGNALS.append(signum))
    from stepca.cli._ui import run_cli

    run_cli(cli, None, prog_name="step-ca")


if __name__ == "__main__":
    main()
