"""Revocation that clients check: CRLs and delta CRLs (``crl``), SSH KRLs (``krl``), and their
publication (``publisher``: built off the request path, shared through the database, served
from each worker's cache). See docs/revocation.md."""
