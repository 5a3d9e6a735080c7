"""`step ca certificates list|export|expiring`: the certificate inventory of a CA, through its
admin API (docs/inventory.md). stepca's own commands: smallstep's step has none."""

from __future__ import annotations

import sys
from typing import Any

import click

from stepca.cli._admin import admin_client, admin_options
from stepca.cli.main import CONTEXT_SETTINGS

COLUMNS = ("serial", "subject", "provisioner", "notAfter", "revoked")
FORMATS = ("table", "json", "csv")


@click.group(context_settings=CONTEXT_SETTINGS)
def certificates() -> None:
    """List, find and export the certificates the CA issued (an admin's view).

    \b
      $ step ca certificates list --provisioner ops@example.com
      $ step ca certificates list --expiring-within 24h --format csv
      $ step ca certificates expiring --within 72h
      $ step ca certificates export 2489571243561934829 --out svc.crt

    Each command logs in as an admin like `step ca admin` (--admin-cert/--admin-key, or a
    certificate from the admin provisioner). With remote administration off, the CA's
    authority.adminProvisioners names the provisioners whose certificates may read the inventory.
    """


def _filters(f: Any) -> Any:
    opts = [
        click.option(
            "--provisioner", default="", help="Only certificates issued by this provisioner (its name)."
        ),
        click.option(
            "--subject", default="", help="Only certificates with this subject (common name), exactly."
        ),
        click.option(
            "--revoked/--not-revoked", "revoked", default=None, help="Only revoked / only not revoked."
        ),
        click.option("--expired", is_flag=True, help="Include certificates that have expired."),
        click.option("--ssh", is_flag=True, help="SSH certificates instead of X.509."),
        click.option(
            "--format",
            "fmt",
            type=click.Choice(FORMATS),
            default="table",
            show_default=True,
            help="Output format.",
        ),
        click.option("--limit", type=click.IntRange(0), default=0, help="At most this many (default: all)."),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f


def _params(
    provisioner: str, subject: str, revoked: bool | None, expired: bool, ssh: bool, within: str | None
) -> dict[str, str]:
    params = {"provisioner": provisioner, "subject": subject, "kind": "ssh" if ssh else "x509"}
    if revoked is not None:
        params["revoked"] = "true" if revoked else "false"
    if expired:
        params["expired"] = "true"
    if within:
        params["expiringWithin"] = within
    return params


def _print(rows: list[dict[str, Any]], fmt: str) -> None:
    if fmt == "json":
        import json

        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return
    if fmt == "csv":
        import csv

        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(
            [
                "serial",
                "kind",
                "subject",
                "provisioner",
                "notBefore",
                "notAfter",
                "origin",
                "revoked",
                "revokedAt",
            ]
        )
        for r in rows:
            writer.writerow(
                [r["serial"], r["kind"], r["subject"], r["provisioner"], r["notBefore"], r["notAfter"], r["origin"],
                 "true" if r.get("revoked") else "false", r.get("revokedAt", "")]
            )  # fmt: skip
        return
    header = ("SERIAL", "SUBJECT", "PROVISIONER", "NOT AFTER", "REVOKED")
    table = [header] + [
        (
            r["serial"],
            r["subject"],
            r["provisioner"],
            r["notAfter"],
            r.get("revokedAt", "") if r.get("revoked") else "",
        )
        for r in rows
    ]
    widths = [max(len(str(row[i])) for row in table) for i in range(len(header))]
    for row in table:
        sys.stdout.write("  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() + "\n")


def _run(opts: dict[str, Any], params: dict[str, str], fmt: str, limit: int) -> None:
    from stepca.cli._ui import fail
    from stepca.errors import StepError

    client = admin_client(opts)
    try:
        rows = client.certificates(params, limit)
    except StepError as exc:
        fail(exc.message)
    _print(rows, fmt)


@certificates.command("list")
@_filters
@click.option(
    "--expiring-within",
    "within",
    metavar="DURATION",
    help="Only certificates valid now that expire within DURATION (e.g. 24h).",
)
@admin_options
def list_(
    provisioner: str, subject: str, revoked: bool | None, expired: bool, ssh: bool, fmt: str, limit: int,
    within: str | None, **opts: Any,
) -> None:  # fmt: skip
    """List the certificates the CA issued that are valid now (with --expired, all of them),
    soonest to expire first."""
    _run(opts, _params(provisioner, subject, revoked, expired, ssh, within), fmt, limit)


@certificates.command("expiring")
@click.option("--within", required=True, metavar="DURATION", help="How far ahead to look (e.g. 72h).")
@_filters
@admin_options
def expiring(
    within: str, provisioner: str, subject: str, revoked: bool | None, expired: bool, ssh: bool, fmt: str,
    limit: int, **opts: Any,
) -> None:  # fmt: skip
    """The certificates that expire within DURATION and are not revoked (renew them or let them go)."""
    _run(
        opts,
        _params(provisioner, subject, False if revoked is None else revoked, False, ssh, within),
        fmt,
        limit,
    )


@certificates.command("export")
@click.argument("serial")
@click.option("--ssh", is_flag=True, help="An SSH certificate (written as its OpenSSH line).")
@click.option(
    "--out",
    type=click.Path(dir_okay=False),
    help="Write the certificate to this file (default: standard output).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the record and the certificate as JSON.")
@admin_options
def export(serial: str, ssh: bool, out: str | None, as_json: bool, **opts: Any) -> None:
    """The certificate with SERIAL (decimal), as the CA recorded it."""
    from stepca.cli._ui import fail, info
    from stepca.errors import StepError

    client = admin_client(opts)
    try:
        record = client.certificate(serial, "ssh" if ssh else "x509")
    except StepError as exc:
        fail(exc.message)
    if as_json:
        import json

        text = json.dumps(record, indent=2) + "\n"
    else:
        text = str(record["certificate"])
        if not text.endswith("\n"):
            text += "\n"
    if out:
        from stepca._fs import PUBLIC_FILE_MODE, atomic_write

        atomic_write(out, text.encode(), PUBLIC_FILE_MODE)
        info(f"The certificate has been saved in {out}.")
    else:
        sys.stdout.write(text)
