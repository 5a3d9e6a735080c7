"""Persistence: one Store interface, one SQLAlchemy implementation for sqlite | postgresql | mysql."""
