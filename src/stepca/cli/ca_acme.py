"""`step ca acme eab add|list|remove`: ACME External Account Binding keys.

With ``--ca-config`` (or ``ca-config`` in defaults.json) the keys are written straight into the
CA's database, on the CA host, with remote management off; a running CA sees them at once (they
are read per request). With remote management on (an admin flag, or ``authority.enableAdmin`` in
the local ca.json), through the admin API (``/admin/acme/eab/...``, smallstep's paths).
"""

from __future__ import annotations

import base64
import secrets
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from stepca.cli._admin import admin_options
from stepca.cli.main import CONTEXT_SETTINGS

if TYPE_CHECKING:
    from stepca.db.sql import SQLStore

_CA_CONFIG = click.option(
    "--ca-config",
    type=click.Path(dir_okay=False),
    help="The ca.json of the CA whose database holds the keys (default: defaults.json ca-config).",
)


@click.group(context_settings=CONTEXT_SETTINGS)
def acme() -> None:
    """Manage ACME (External Account Binding keys)."""


@acme.group(context_settings=CONTEXT_SETTINGS)
def eab() -> None:
    """Create and manage ACME External Account Binding keys.

    \b
    Add a key (optionally with a reference from your system), list and remove them:
      $ step ca acme eab add my_acme_provisioner my_reference --ca-config $(step path)/config/ca.json
      $ step ca acme eab list my_acme_provisioner
      $ step ca acme eab remove my_acme_provisioner <key-id>
    """


def _open(ca_config: str | None, provisioner: str) -> SQLStore:
    from stepca.cli._ui import fail
    from stepca.config import ACMEProvisionerConfig, load_ca_config, load_defaults
    from stepca.db.engine import ensure_database, make_engine, resolve_target
    from stepca.db.sql import SQLStore

    path = ca_config or load_defaults().ca_config
    if not path:
        fail("use --ca-config to manage EAB keys in the CA's database (remote management is not enabled)")
    config_path = Path(path).expanduser()
    config = load_ca_config(config_path)
    found = [p for p in config.authority.provisioners if p.name == provisioner]
    if not found:
        fail(f"provisioner '{provisioner}' not found in {config_path}")
    if not any(isinstance(p, ACMEProvisionerConfig) for p in found):
        fail(f"provisioner '{provisioner}' is not an ACME provisioner")
    target = resolve_target(config.db, _step_path_for(config_path) / "db" / "stepca.db")
    try:
        ensure_database(target)
        store = SQLStore(make_engine(target, pool_size=1))
        store.migrate()
    except Exception as exc:
        fail(f"cannot open the CA's database: {exc}")
    return store


def _step_path_for(config_path: Path) -> Path:
    """As step-ca resolves it: $STEPPATH, else the parent of config/ca.json."""
    import os

    env = os.environ.get("STEPPATH")
    if env:
        return Path(env).expanduser()
    parent = config_path.resolve().parent
    return parent.parent if parent.name == "config" else parent


def _when(ts: int) -> str:
    if not ts:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S %z", time.localtime(ts))


def _table(rows: list[list[str]]) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        click.echo("   ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip())


HEADER = ["Key ID", "Provisioner", "Key (base64, raw url encoded)", "Reference", "Account", "Created At"]


def _remote(opts: dict[str, Any], ca_config: str | None) -> Any:
    """The admin client when the command goes through the admin API, else None."""
    from stepca.cli._admin import admin_client, remote_mode

    return admin_client(opts) if remote_mode(opts, ca_config) else None


def _api(call: Any) -> Any:
    from stepca.cli._ui import fail
    from stepca.errors import StepError

    try:
        return call()
    except StepError as exc:
        fail(exc.message)


@eab.command("add")
@click.argument("provisioner")
@click.argument("reference", required=False, default="")
@_CA_CONFIG
@admin_options
def add(provisioner: str, reference: str, ca_config: str | None, **opts: Any) -> None:
    """Add an ACME External Account Binding key to PROVISIONER (REFERENCE: your system's name for it)."""
    from stepca.cli._ui import fail
    from stepca.db.acme_records import AddEABKeyOp, EABKeyRecord, new_eab_key_id
    from stepca.db.queries import acme as q

    client = _remote(opts, ca_config)
    if client is not None:
        made = _api(lambda: client.create_eab_key(provisioner, reference))
        raw = base64.b64decode(made["hmacKey"])
        encoded = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
        _table(
            [HEADER, [made["id"], provisioner, encoded, reference or "-", "-", _when(int(made["createdAt"]))]]
        )
        return

    store = _open(ca_config, provisioner)
    try:
        if reference and store.run_query(lambda c: q.eab_keys(c, provisioner, reference)):
            fail(
                f"an ACME EAB key with reference '{reference}' already exists for provisioner '{provisioner}'"
            )
        key = EABKeyRecord(
            id=new_eab_key_id(),
            provisioner=provisioner,
            reference=reference,
            hmac_key=secrets.token_bytes(32),
            account_id="",
            created_at=int(time.time()),
            bound_at=0,
        )
        outcome = store.apply([AddEABKeyOp(key)])[0]
        if outcome is not None:
            fail(f"the key could not be stored: {outcome}")
    finally:
        store.close()
    encoded = base64.urlsafe_b64encode(key.hmac_key).rstrip(b"=").decode()
    _table([HEADER, [key.id, provisioner, encoded, reference or "-", "-", _when(key.created_at)]])


@eab.command("list")
@click.argument("provisioner")
@click.argument("reference", required=False)
@_CA_CONFIG
@admin_options
def list_keys(provisioner: str, reference: str | None, ca_config: str | None, **opts: Any) -> None:
    """List the ACME External Account Binding keys of PROVISIONER (the keys themselves are masked)."""
    from types import SimpleNamespace

    from stepca.db.queries import acme as q

    client = _remote(opts, ca_config)
    if client is not None:
        keys: list[Any] = [
            SimpleNamespace(
                id=k["id"],
                reference=k.get("reference", ""),
                account_id=k.get("account", ""),
                created_at=int(k.get("createdAt") or 0),
                bound_at=int(k.get("boundAt") or 0),
            )
            for k in _api(lambda: client.eab_keys(provisioner, reference))
        ]
    else:
        store = _open(ca_config, provisioner)
        try:
            keys = store.run_query(lambda c: q.eab_keys(c, provisioner, reference))
        finally:
            store.close()
    rows = [[*HEADER, "Bound At"]]
    for k in keys:
        rows.append(
            [
                k.id,
                provisioner,
                "*****",
                k.reference or "-",
                k.account_id or "-",
                _when(k.created_at),
                _when(k.bound_at),
            ]
        )
    _table(rows)


@eab.command("remove")
@click.argument("provisioner")
@click.argument("key_id")
@_CA_CONFIG
@admin_options
def remove(provisioner: str, key_id: str, ca_config: str | None, **opts: Any) -> None:
    """Remove the ACME External Account Binding key KEY_ID of PROVISIONER."""
    from stepca.cli._ui import fail
    from stepca.db.acme_records import RemoveEABKeyOp

    client = _remote(opts, ca_config)
    if client is not None:
        _api(lambda: client.delete_eab_key(provisioner, key_id))
        click.echo("Key was deleted successfully!")
        return

    store = _open(ca_config, provisioner)
    try:
        outcome = store.apply([RemoveEABKeyOp(provisioner, key_id)])[0]
    finally:
        store.close()
    if outcome is not None:
        fail(f"ACME EAB key '{key_id}' not found for provisioner '{provisioner}'")
    click.echo("Key was deleted successfully!")
