"""A writable copy of the PKI tree smallstep's step 0.19 wrote (tests/fixtures/step-0.19/pki).

Its ca.json and defaults.json name ``/etc/step-ca/...`` (the STEPPATH it was made under): the copy
has that prefix rewritten to the copy's own directory, and ordinary modes (the originals are
read-only).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from tests.helpers import FIXTURES

ORIGINAL_STEPPATH = "/etc/step-ca"
FIXTURE_PKI = FIXTURES / "pki"
FIXTURE_PASSWORD = (FIXTURE_PKI / "password.txt").read_text().strip()


def copy_fixture_pki(destination: Path) -> Path:
    """Copy the fixture tree to ``destination`` (created) and return it, paths rewritten."""
    shutil.copytree(FIXTURE_PKI, destination, copy_function=shutil.copyfile)
    for directory, _dirs, files in os.walk(destination):
        os.chmod(directory, 0o700)
        for name in files:
            os.chmod(os.path.join(directory, name), 0o600)
    for name in ("ca.json", "defaults.json"):
        path = destination / "config" / name
        path.write_text(path.read_text().replace(ORIGINAL_STEPPATH, str(destination)))
    return destination
