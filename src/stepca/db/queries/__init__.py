"""SQL, one module per record family; each registers the executors of its operations.

A record family (ACME accounts, CRL numbers, admins, audit...) is: its table in a new frozen
migration, its live table in ``stepca.db.schema``, a module here with its reads and the
executors of its operations, and that module's name in ``FAMILIES`` below.
"""

from __future__ import annotations

import importlib

from stepca.db.queries._registry import EXECUTORS, STORED, Executor, executor

#: the query modules whose executors ``SQLStore`` uses
FAMILIES = ("tokens", "certificates", "revocations", "leases", "crls", "admin", "expiry", "acme", "dashboard")

for _name in FAMILIES:
    importlib.import_module(f"{__name__}.{_name}")

__all__ = ["EXECUTORS", "FAMILIES", "STORED", "Executor", "executor"]
