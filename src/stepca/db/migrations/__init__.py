"""Frozen migrations: ``vN.upgrade`` takes the schema from version N-1 to N.

Each module defines the DDL of its version in its own ``MetaData`` and never imports the live
schema (``stepca.db.schema``), so a table added later can never slip into an earlier version.
Once released, a module is never edited; a change is a new module appended to ``MIGRATIONS`` in
``stepca.db.migrate``. MySQL commits each DDL statement implicitly, so every upgrade must be
idempotent (``checkfirst``) to survive a crash half-way.
"""
