"""Schemathesis hooks for stepca's API (``hooks`` in tests/api/schemathesis.toml, or
``SCHEMATHESIS_HOOKS=tests.api.schemathesis_hooks``): ``POST /ocsp`` takes raw DER
(``application/ocsp-request``), sent like ``application/octet-stream``; ACME's JWS bodies
(``application/jose+json``) are JSON."""

from __future__ import annotations

import schemathesis

schemathesis.serializer.alias("application/ocsp-request", "application/octet-stream")
schemathesis.serializer.alias("application/jose+json", "application/json")
