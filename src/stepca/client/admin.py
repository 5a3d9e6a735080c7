"""The admin API client: smallstep's ``/admin/...`` routes, each call authorized by a fresh x5c
token (``aud`` the URL of the call, ``iss`` ``step-admin-client/1.0``) signed with an admin
certificate's key, as smallstep's step does."""

from __future__ import annotations

import urllib.parse
from typing import TYPE_CHECKING, Any

from stepca.client.token import x5c_token

if TYPE_CHECKING:
    from stepca.client.http import CAClient
    from stepca.crypto.keys import PrivateKey

ADMIN_CLIENT_ISSUER = "step-admin-client/1.0"


class AdminClient:
    def __init__(
        self, client: CAClient, ca_url: str, chain_ders: list[bytes], key: PrivateKey, subject: str
    ) -> None:
        self.client = client
        self.ca_url = ca_url.rstrip("/")
        self.chain_ders = chain_ders
        self.key = key
        self.subject = subject

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        token = x5c_token(
            subject=self.subject,
            audience=self.ca_url + urllib.parse.unquote(path.split("?", 1)[0]),
            chain_ders=self.chain_ders,
            key=self.key,
            issuer=ADMIN_CLIENT_ISSUER,
        )
        return self.client.call(method, path, body, headers={"Authorization": token})

    @staticmethod
    def _q(value: str) -> str:
        return urllib.parse.quote(value, safe="")

    def _all(self, path: str, key: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        cursor = ""
        for _ in range(10000):
            page = self._call("GET", f"{path}?limit=100&cursor={self._q(cursor)}")
            items += list(page.get(key) or [])
            cursor = str(page.get("nextCursor") or "")
            if not cursor:
                break
        return items

    # ------------------------------------------------------------------ provisioners

    def provisioners(self) -> list[dict[str, Any]]:
        """Every provisioner, in ca.json form."""
        return self._all("/admin/provisioners", "provisioners")

    def provisioner(self, name: str) -> dict[str, Any]:
        return self._call("GET", f"/admin/provisioners/{self._q(name)}")  # type: ignore[no-any-return]

    def create_provisioner(self, doc: dict[str, Any]) -> dict[str, Any]:
        return self._call("POST", "/admin/provisioners", doc)  # type: ignore[no-any-return]

    def update_provisioner(self, name: str, doc: dict[str, Any]) -> dict[str, Any]:
        return self._call("PUT", f"/admin/provisioners/{self._q(name)}", doc)  # type: ignore[no-any-return]

    def delete_provisioner(self, name: str) -> None:
        self._call("DELETE", f"/admin/provisioners/{self._q(name)}")

    # ------------------------------------------------------------------ ACME EAB keys

    def eab_keys(self, provisioner: str, reference: str | None = None) -> list[dict[str, Any]]:
        path = f"/admin/acme/eab/{self._q(provisioner)}"
        if reference:
            path += f"/{self._q(reference)}"
        return list(self._call("GET", path).get("eaks") or [])

    def create_eab_key(self, provisioner: str, reference: str) -> dict[str, Any]:
        body = {"reference": reference} if reference else {}
        return self._call("POST", f"/admin/acme/eab/{self._q(provisioner)}", body)  # type: ignore[no-any-return]

    def delete_eab_key(self, provisioner: str, key_id: str) -> None:
        self._call("DELETE", f"/admin/acme/eab/{self._q(provisioner)}/{self._q(key_id)}")

    # ------------------------------------------------------------------ the certificate inventory

    def certificates_page(self, params: dict[str, str], cursor: str = "") -> dict[str, Any]:
        query = urllib.parse.urlencode({**{k: v for k, v in params.items() if v}, "cursor": cursor})
        return self._call("GET", f"/admin/certificates?{query}")  # type: ignore[no-any-return]

    def certificates(self, params: dict[str, str], limit: int = 0) -> list[dict[str, Any]]:
        """Every certificate matching ``params`` (pages of 1,000), or the first ``limit``."""
        out: list[dict[str, Any]] = []
        cursor = ""
        while True:
            page = self.certificates_page({**params, "limit": "1000"}, cursor)
            out += list(page.get("certificates") or [])
            cursor = str(page.get("nextCursor") or "")
            if not cursor or (limit and len(out) >= limit):
                return out[:limit] if limit else out

    def certificate(self, serial: str, kind: str = "x509") -> dict[str, Any]:
        return self._call("GET", f"/admin/certificates/{self._q(serial)}?kind={kind}")  # type: ignore[no-any-return]

    # ------------------------------------------------------------------ admins

    def admins(self) -> list[dict[str, Any]]:
        return self._all("/admin/admins", "admins")

    def create_admin(self, subject: str, provisioner: str, kind: str) -> dict[str, Any]:
        body = {"subject": subject, "provisioner": provisioner, "type": kind}
        return self._call("POST", "/admin/admins", body)  # type: ignore[no-any-return]

    def update_admin(self, admin_id: str, kind: str) -> dict[str, Any]:
        return self._call("PATCH", f"/admin/admins/{self._q(admin_id)}", {"type": kind})  # type: ignore[no-any-return]

    def delete_admin(self, admin_id: str) -> None:
        self._call("DELETE", f"/admin/admins/{self._q(admin_id)}")
