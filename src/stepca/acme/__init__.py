"""The ACME server (RFC 8555): JWS checks, nonces, the order state machine and challenge
validation, with no HTTP (handlers in ``stepca.api.acme``) and no SQL (``stepca.db.queries.acme``).
"""
