#!/usr/bin/env python3
"""lego's ``exec`` DNS provider for the tests: ``present|cleanup FQDN VALUE`` writes or removes
the TXT value in the loopback DNS server's records directory ($ACME_DNS_RECORDS)."""

import os
import sys
from pathlib import Path

action, fqdn, value = sys.argv[1], sys.argv[2], sys.argv[3]
path = Path(os.environ["ACME_DNS_RECORDS"]) / fqdn.rstrip(".").lower()
if action == "present":
    with path.open("a") as f:
        f.write(value + "\n")
elif action == "cleanup":
    path.unlink(missing_ok=True)
