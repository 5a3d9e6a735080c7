"""`step ca admin list|add|remove|update`: the admins of a CA with remote administration
(``authority.enableAdmin``), through its admin API."""

from __future__ import annotations

from typing import Any

import click

from stepca.cli._admin import admin_client, admin_options
from stepca.cli.main import CONTEXT_SETTINGS


@click.group(context_settings=CONTEXT_SETTINGS)
def admin() -> None:
    """Create and manage the admins of the certificate authority (remote administration).

    \b
      $ step ca admin list
      $ step ca admin add alice@example.com admin --super
      $ step ca admin update alice@example.com --super=false
      $ step ca admin remove alice@example.com

    Every command logs in as an admin: --admin-cert/--admin-key, or a certificate for
    --admin-subject (default: step) from the admin provisioner (--admin-provisioner,
    --admin-password-file or a prompt).
    """


def _provisioner_names(client: Any, admins: list[dict[str, Any]] | None = None) -> dict[str, str]:
    """provisioner id → "name (TYPE)" as smallstep's step prints them (the provisioners of
    ``admins`` when given: one GET each until all are named)."""
    wanted = None if admins is None else {str(a.get("provisionerId")) for a in admins}
    out: dict[str, str] = {}
    for p in client.provisioners():
        if wanted is not None and wanted <= set(out):
            break
        one = client.provisioner(str(p.get("name", "")))
        out[str(one.get("id"))] = f"{p.get('name', '')} ({one.get('type', p.get('type', ''))})"
    return out


def _pick(
    admins: list[dict[str, Any]], subject: str, provisioner: str | None, names: dict[str, str]
) -> dict[str, Any]:
    from stepca.cli._ui import fail

    found = [a for a in admins if a.get("subject") == subject]
    if provisioner:
        found = [
            a for a in found if names.get(str(a.get("provisionerId")), "").startswith(provisioner + " (")
        ]
    if not found:
        fail(
            f"no admin with subject {subject!r}"
            + (f" and provisioner {provisioner!r}" if provisioner else "")
        )
    if len(found) > 1:
        fail(f"several admins have the subject {subject!r}: use --provisioner")
    return found[0]


def _table(admins: list[dict[str, Any]], names: dict[str, str]) -> None:
    rows = [("SUBJECT", "PROVISIONER", "TYPE")] + [
        (
            str(a.get("subject")),
            names.get(str(a.get("provisionerId")), str(a.get("provisionerId"))),
            str(a.get("type")),
        )
        for a in admins
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    for r in rows:
        click.echo("   ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())


@admin.command("list", context_settings=CONTEXT_SETTINGS)
@click.option("--super", "super_", is_flag=True, help="Only super admins.")
@click.option("--provisioner", help="Only the admins of this provisioner.")
@admin_options
def list_(super_: bool, provisioner: str | None, **opts: Any) -> None:
    """List the admins (subject, provisioner, type)."""
    client = admin_client(opts)
    admins = client.admins()
    names = _provisioner_names(client, None if provisioner else admins)
    if super_:
        admins = [a for a in admins if a.get("type") == "SUPER_ADMIN"]
    if provisioner:
        admins = [
            a for a in admins if names.get(str(a.get("provisionerId")), "").startswith(provisioner + " (")
        ]
    _table(admins, names)


@admin.command("add", context_settings=CONTEXT_SETTINGS)
@click.argument("subject")
@click.argument("provisioner")
@click.option("--super", "super_", is_flag=True, help="Add a super admin (may manage admins).")
@admin_options
def add(subject: str, provisioner: str, super_: bool, **opts: Any) -> None:
    """Add an admin: SUBJECT (a certificate subject) of the provisioner PROVISIONER."""
    client = admin_client(opts)
    created = client.create_admin(subject, provisioner, "SUPER_ADMIN" if super_ else "ADMIN")
    _table([created], _provisioner_names(client, [created]))


@admin.command("remove", context_settings=CONTEXT_SETTINGS)
@click.argument("subject")
@click.option("--provisioner", help="The admin's provisioner, when several admins share SUBJECT.")
@admin_options
def remove(subject: str, provisioner: str | None, **opts: Any) -> None:
    """Remove the admin SUBJECT."""
    from stepca.cli._ui import ok

    client = admin_client(opts)
    names = _provisioner_names(client)
    found = _pick(client.admins(), subject, provisioner, names)
    client.delete_admin(str(found["id"]))
    ok("Removed admin", f"{subject} ({names.get(str(found.get('provisionerId')), '')})")


@admin.command("update", context_settings=CONTEXT_SETTINGS)
@click.argument("subject")
@click.option("--super", "super_", type=click.BOOL, required=True, help="true: super admin, false: admin.")
@click.option("--provisioner", help="The admin's provisioner, when several admins share SUBJECT.")
@admin_options
def update(subject: str, super_: bool, provisioner: str | None, **opts: Any) -> None:
    """Change the type of the admin SUBJECT (--super=true|false)."""
    client = admin_client(opts)
    names = _provisioner_names(client)
    found = _pick(client.admins(), subject, provisioner, names)
    updated = client.update_admin(str(found["id"]), "SUPER_ADMIN" if super_ else "ADMIN")
    _table([updated], names)
