"""The Python SDK: talk to a stepca (or smallstep) CA. The `step` CLI is built on it.

from stepca.client import CAClient
client = CAClient("https://ca.example.com:9443", root="root_ca.crt")
client.health()
"""

from stepca.client.http import CAClient, CAError

__all__ = ["CAClient", "CAError"]
