"""The admin API's core: who is calling (an x5c admin token), and the changes it may make.

Authorization follows smallstep's ``AuthorizeAdminToken``: the token's ``x5c`` leaf must be a
certificate of this CA (issued by our intermediate, so it chains to our root), valid now, for
client authentication and digital signature, not revoked; the token signed by its key; ``aud``
the URL of the request (any of the CA's dnsNames, any port); ``iss`` ``step-admin-client/1.0``
or the provisioner's name; the certificate's subject (common name, DNS names or emails) an
admin of the provisioner named in its provisioner extension; ``jti`` used once (the used-token
key, shared by every instance). An ``ADMIN`` may read admins but not change them (403).

Every change is checked against the set it was computed from (``AdminChangeOp.expect_version``)
and retried on a fresh read when another change came first; the provisioners a change leaves
must load (``source.check``: 400 naming the field), and the last super-admin cannot go.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from stepca.admin import documents, source
from stepca.admin.bootstrap import ADMIN, SUPER_ADMIN, new_id
from stepca.crypto.x509ext import PROVISIONER_OID, ProvisionerExtension
from stepca.db.operations import AdminChangeOp, UseTokenOp
from stepca.db.records import (
    AdminConflictError,
    AdminRecord,
    AdminState,
    AuditRecord,
    ProvisionerRow,
    TokenReusedError,
    UsedToken,
)
from stepca.errors import BadRequest, Forbidden, NotFound, StepError, Unauthorized
from stepca.provisioner.base import ParsedToken, TokenContext, check_registered_claims

if TYPE_CHECKING:
    from stepca.db.store import Store
    from stepca.server.loader import Loaded

#: ``iss`` of the admin tokens smallstep's step (and ours) makes; older ones used the provisioner name
ADMIN_CLIENT_ISSUER = "step-admin-client/1.0"
ADMIN_TYPES = (SUPER_ADMIN, ADMIN)
#: a change computed from a set another change replaced is computed again, at most this often
#: (changes of one worker are serialized; these retries are for other workers and instances)
CHANGE_ATTEMPTS = 30


class AdminDisabled(StepError):
    status = 404
    prefix = "The requested resource could not be found"


@dataclass(frozen=True, slots=True)
class Caller:
    """An authorized admin request."""

    admin: AdminRecord
    remote: str

    @property
    def subject(self) -> str:
        return self.admin.subject


def _names(cert: x509.Certificate) -> list[str]:
    out = [str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        out += san.get_values_for_type(x509.DNSName) + san.get_values_for_type(x509.RFC822Name)
    except x509.ExtensionNotFound:
        pass
    return out


def _provisioner_name(cert: x509.Certificate) -> str:
    try:
        ext = cert.extensions.get_extension_for_oid(x509.ObjectIdentifier(PROVISIONER_OID))
        return ProvisionerExtension.from_der(ext.value.value).name  # type: ignore[attr-defined]
    except (x509.ExtensionNotFound, ValueError):
        raise Unauthorized("the admin certificate has no provisioner extension") from None


def _usable_for_client_auth(cert: x509.Certificate) -> bool:
    try:
        ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
        if not ku.digital_signature:
            return False
    except x509.ExtensionNotFound:
        pass
    try:
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return True
    return ExtendedKeyUsageOID.CLIENT_AUTH in eku or ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE in eku


def _dumps(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


class AdminCore:
    """One per worker: ``loaded`` returns the ca.json the worker serves (the base a provisioner
    set is checked on), ``issuer`` its intermediate certificate."""

    def __init__(
        self,
        store: Store,
        loaded: Callable[[], Loaded],
        issuer: Callable[[], x509.Certificate],
    ) -> None:
        self.store = store
        self._loaded = loaded
        self._issuer = issuer
        self._changing = asyncio.Lock()

    @property
    def enabled(self) -> bool:
        return source.enabled(self._loaded())

    # ------------------------------------------------------------------ authorization

    async def authorize(
        self, token: str | None, method: str, paths: str | tuple[str, ...], remote: str
    ) -> Caller:
        """``paths``: the request path (or its accepted spellings; the first decides the route)."""
        if isinstance(paths, str):
            paths = (paths,)
        if not self.enabled:
            raise AdminDisabled("the admin API is not enabled (authority.enableAdmin)")
        tok, leaf = await self._checked_token(token, paths)
        state = await self.store.admin_state()
        prov_name = _provisioner_name(leaf)
        prov = next((p for p in state.provisioners if p.name == prov_name), None)
        if prov is None:
            raise Unauthorized(f"invalid admin token: provisioner {prov_name!r} not found")
        subjects = _names(leaf)
        found = next(
            (a for s in subjects for a in state.admins if a.provisioner_id == prov.id and a.subject == s),
            None,
        )
        if found is None:
            raise Unauthorized(
                f"unable to load admin with subject(s) {subjects} and provisioner {prov_name!r}"
            )
        await self._use(tok, prov.id)
        managing_admins = any(p.lstrip("/").removeprefix("1.0/").startswith("admin/admins") for p in paths)
        if managing_admins and method != "GET" and found.type != SUPER_ADMIN:
            raise Forbidden("must have super admin access to make this request")
        return Caller(admin=found, remote=remote)

    async def authorize_reader(self, token: str | None, paths: str | tuple[str, ...], remote: str) -> Caller:
        """Who may read the certificate inventory: any admin when remote administration is on;
        with it off, the holder of a certificate issued by one of ``authority.adminProvisioners``
        (the same token checks). Neither configured: 404, saying what to configure."""
        if isinstance(paths, str):
            paths = (paths,)
        if self.enabled:
            return await self.authorize(token, "GET", paths, remote)
        allowed = self._loaded().config.authority.admin_provisioners
        if not allowed:
            raise AdminDisabled(
                "the certificate inventory needs authority.enableAdmin or authority.adminProvisioners"
            )
        tok, leaf = await self._checked_token(token, paths)
        prov_name = _provisioner_name(leaf)
        if prov_name not in allowed:
            raise Unauthorized(f"invalid admin token: provisioner {prov_name!r} is not an admin provisioner")
        await self._use(tok, prov_name)
        subject = (_names(leaf) or [""])[0]
        return Caller(
            admin=AdminRecord(id="", provisioner_id=prov_name, subject=subject, type=ADMIN), remote=remote
        )

    async def _checked_token(
        self, token: str | None, paths: tuple[str, ...]
    ) -> tuple[ParsedToken, x509.Certificate]:
        """An x5c admin token: its certificate ours, valid, for client auth, not revoked; the
        token signed by its key, for one of ``paths`` (any of our dnsNames), not expired."""
        if not token:
            raise Unauthorized("missing authorization header token")
        if token.lower().startswith("bearer "):
            token = token[7:].strip()
        tok = ParsedToken.parse(token)
        chain = tok.jws.header.get("x5c")
        if not isinstance(chain, list) or not chain or not isinstance(chain[0], str):
            raise Unauthorized("invalid admin token: missing x5c header")
        try:
            leaf = x509.load_der_x509_certificate(base64.b64decode(chain[0], validate=True))
        except (ValueError, binascii.Error):
            raise Unauthorized("invalid admin token: the x5c certificate cannot be parsed") from None
        issuer = self._issuer()
        try:
            if leaf.issuer != issuer.subject:
                raise ValueError
            leaf.verify_directly_issued_by(issuer)
        except Exception:
            raise Unauthorized("invalid admin token: the certificate was not issued by this CA") from None
        if not tok.jws.verify(leaf.public_key()):  # type: ignore[arg-type]
            raise Unauthorized("invalid admin token: signature verification failed")
        now = time.time()
        loaded = self._loaded()
        hosts = {
            (f"[{n}]" if ":" in n and not n.startswith("[") else n).lower() for n in loaded.config.dns_names
        }
        ctx = TokenContext(audiences=frozenset(h + p for h in hosts for p in paths), now=now, start_time=0)
        if tok.issuer != ADMIN_CLIENT_ISSUER and tok.issuer != _provisioner_name(leaf):
            raise Unauthorized("invalid admin token: invalid issuer claim (iss)")
        check_registered_claims(tok, ctx, issuer=tok.issuer, disable_iat_check=True)
        moment = datetime.fromtimestamp(now, UTC)
        if moment > leaf.not_valid_after_utc:
            raise Unauthorized("invalid admin token: the admin certificate has expired")
        if moment < leaf.not_valid_before_utc - loaded.config.authority.backdate:
            raise Unauthorized("invalid admin token: the admin certificate is not valid yet")
        if not _usable_for_client_auth(leaf):
            raise Unauthorized(
                "invalid admin token: the certificate cannot be used for client authentication"
            )
        if await self.store.get_revocation(str(leaf.serial_number)) is not None:
            raise Unauthorized("invalid admin token: the admin certificate has been revoked")
        return tok, leaf

    async def _use(self, tok: ParsedToken, provisioner: str) -> None:
        """Spend the token's id (a database constraint, shared by every instance)."""
        outcome = await self.store.apply(UseTokenOp(UsedToken(tok.token_id, provisioner, tok.expires_at)))
        if isinstance(outcome, TokenReusedError):
            raise Unauthorized("token already used")
        if outcome is not None:
            raise StepError("the admin token could not be recorded")

    # ------------------------------------------------------------------ reads

    async def _state(self) -> AdminState:
        if not self.enabled:
            raise AdminDisabled("the admin API is not enabled (authority.enableAdmin)")
        return await self.store.admin_state()

    @staticmethod
    def _by_name(state: AdminState, name: str) -> ProvisionerRow:
        for p in state.provisioners:
            if p.name == name:
                return p
        raise NotFound(f"provisioner {name} not found")

    async def list_provisioners(self, cursor: str, limit: int) -> dict[str, Any]:
        state = await self._state()
        docs = source.documents(state)
        start = int(cursor) if cursor.isdigit() else 0
        limit = max(1, min(limit or 20, 100))
        nxt = start + limit
        return {"provisioners": docs[start:nxt], "nextCursor": str(nxt) if nxt < len(docs) else ""}

    async def get_provisioner(self, name: str) -> dict[str, Any]:
        row = self._by_name(await self._state(), name)
        return documents.to_linkedca(json.loads(row.document), row.id)

    async def list_admins(self, cursor: str, limit: int) -> dict[str, Any]:
        state = await self._state()
        start = int(cursor) if cursor.isdigit() else 0
        limit = max(1, min(limit or 20, 100))
        nxt = start + limit
        items = [self._admin_json(a) for a in state.admins[start:nxt]]
        return {"admins": items, "nextCursor": str(nxt) if nxt < len(state.admins) else ""}

    async def get_admin(self, aid: str) -> dict[str, Any]:
        state = await self._state()
        for a in state.admins:
            if a.id == aid:
                return self._admin_json(a)
        raise NotFound(f"admin {aid} not found")

    @staticmethod
    def _admin_json(a: AdminRecord) -> dict[str, Any]:
        return documents.admin_json(a.id, a.subject, a.provisioner_id, a.type)

    # ------------------------------------------------------------------ changes

    async def _change(self, caller: Caller, plan: Callable[[AdminState], tuple[AdminChangeOp, Any]]) -> Any:
        """Compute a change from a fresh read and apply it against that version; again when
        another change came first."""
        async with self._changing:
            for _ in range(CHANGE_ATTEMPTS):
                state = await self._state()
                op, result = plan(state)
                outcome = await self.store.apply(op)
                if outcome is None:
                    return result
                if not isinstance(outcome, AdminConflictError):
                    raise StepError("the change could not be stored", log_detail=str(outcome))
                await asyncio.sleep(random.uniform(0.005, 0.05))
        raise StepError("the admin set kept changing: try again")

    def _audit(self, caller: Caller, action: str, target: str, before: object, after: object) -> AuditRecord:
        return AuditRecord(
            actor=caller.subject,
            action=action,
            target=target,
            before=None if before is None else _dumps(before),
            after=None if after is None else _dumps(after),
            remote=caller.remote,
            at_ms=int(time.time() * 1000),
        )

    def _checked(self, state: AdminState, docs: list[dict[str, Any]], changed: str) -> None:
        source.check(self._loaded(), docs, changed)

    async def create_provisioner(self, caller: Caller, body: object) -> dict[str, Any]:
        doc = documents.to_document(body)
        name = str(doc.get("name") or "")
        if not name:
            raise BadRequest("name: cannot be empty")

        def plan(state: AdminState) -> tuple[AdminChangeOp, Any]:
            if any(p.name == name for p in state.provisioners):
                raise BadRequest(f"name: a provisioner named {name!r} already exists")
            self._checked(state, [*source.documents(state), doc], name)
            position = max((p.position for p in state.provisioners), default=-1) + 1
            row = ProvisionerRow(new_id(), name, str(doc["type"]).upper(), _dumps(doc), position)
            op = AdminChangeOp(
                audit=(self._audit(caller, "provisioner.create", name, None, doc),),
                expect_version=state.version,
                put_provisioners=(row,),
            )
            return op, documents.to_linkedca(doc, row.id)

        return await self._change(caller, plan)  # type: ignore[no-any-return]

    async def update_provisioner(self, caller: Caller, name: str, body: object) -> dict[str, Any]:
        doc = documents.to_document(body)

        def plan(state: AdminState) -> tuple[AdminChangeOp, Any]:
            old = self._by_name(state, name)
            if str(doc["type"]).upper() != old.type:
                raise BadRequest(f"type: cannot change the type of provisioner {name!r} ({old.type})")
            doc.setdefault("name", name)
            new_name = str(doc["name"])
            if new_name != name and any(p.name == new_name for p in state.provisioners):
                raise BadRequest(f"name: a provisioner named {new_name!r} already exists")
            docs = [doc if p.id == old.id else json.loads(p.document) for p in state.provisioners]
            self._checked(state, docs, new_name)
            row = ProvisionerRow(old.id, new_name, old.type, _dumps(doc), old.position)
            op = AdminChangeOp(
                audit=(self._audit(caller, "provisioner.update", name, json.loads(old.document), doc),),
                expect_version=state.version,
                put_provisioners=(row,),
            )
            return op, documents.to_linkedca(doc, row.id)

        return await self._change(caller, plan)  # type: ignore[no-any-return]

    async def delete_provisioner(self, caller: Caller, name: str) -> dict[str, Any]:
        def plan(state: AdminState) -> tuple[AdminChangeOp, Any]:
            old = self._by_name(state, name)
            supers = [a for a in state.admins if a.type == SUPER_ADMIN]
            if supers and all(a.provisioner_id == old.id for a in supers):
                raise BadRequest(f"cannot remove provisioner {name!r}: it holds the last super admin")
            docs = [json.loads(p.document) for p in state.provisioners if p.id != old.id]
            self._checked(state, docs, name)
            # its admins go with it, each with its own audit line
            gone = [a for a in state.admins if a.provisioner_id == old.id]
            lines = [self._audit(caller, "provisioner.delete", name, json.loads(old.document), None)]
            lines += [self._audit(caller, "admin.delete", a.id, self._admin_json(a), None) for a in gone]
            op = AdminChangeOp(
                audit=tuple(lines),
                expect_version=state.version,
                delete_provisioners=(old.id,),
                delete_admins=tuple(a.id for a in gone),
            )
            return op, {"status": "ok"}

        return await self._change(caller, plan)  # type: ignore[no-any-return]

    async def create_admin(self, caller: Caller, body: object) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise BadRequest("the body must be a JSON object")
        subject, prov_name = body.get("subject"), body.get("provisioner")
        kind = documents.admin_type(body.get("type"))
        if not isinstance(subject, str) or not subject:
            raise BadRequest("subject cannot be empty")
        if not isinstance(prov_name, str) or not prov_name:
            raise BadRequest("provisioner cannot be empty")
        if kind not in ADMIN_TYPES:
            raise BadRequest("invalid value for admin type")

        def plan(state: AdminState) -> tuple[AdminChangeOp, Any]:
            prov = self._by_name(state, prov_name)
            if any(a.subject == subject and a.provisioner_id == prov.id for a in state.admins):
                raise BadRequest(f"admin {subject!r} of provisioner {prov_name!r} already exists")
            adm = AdminRecord(new_id(), prov.id, subject, str(kind))
            out = self._admin_json(adm)
            op = AdminChangeOp(
                audit=(self._audit(caller, "admin.create", adm.id, None, out),),
                expect_version=state.version,
                put_admins=(adm,),
            )
            return op, out

        return await self._change(caller, plan)  # type: ignore[no-any-return]

    def _admin(self, state: AdminState, aid: str) -> AdminRecord:
        for a in state.admins:
            if a.id == aid:
                return a
        raise NotFound(f"admin {aid} not found")

    async def update_admin(self, caller: Caller, aid: str, body: object) -> dict[str, Any]:
        kind = documents.admin_type(body.get("type")) if isinstance(body, dict) else None
        if kind not in ADMIN_TYPES:
            raise BadRequest("invalid value for admin type")

        def plan(state: AdminState) -> tuple[AdminChangeOp, Any]:
            old = self._admin(state, aid)
            supers = [a for a in state.admins if a.type == SUPER_ADMIN]
            if kind != SUPER_ADMIN and supers == [old]:
                raise BadRequest("cannot demote the last super admin")
            new = AdminRecord(old.id, old.provisioner_id, old.subject, str(kind))
            out = self._admin_json(new)
            op = AdminChangeOp(
                audit=(self._audit(caller, "admin.update", aid, self._admin_json(old), out),),
                expect_version=state.version,
                put_admins=(new,),
            )
            return op, out

        return await self._change(caller, plan)  # type: ignore[no-any-return]

    async def delete_admin(self, caller: Caller, aid: str) -> dict[str, Any]:
        def plan(state: AdminState) -> tuple[AdminChangeOp, Any]:
            old = self._admin(state, aid)
            supers = [a for a in state.admins if a.type == SUPER_ADMIN]
            if supers == [old]:
                raise BadRequest("cannot remove the last super admin")
            op = AdminChangeOp(
                audit=(self._audit(caller, "admin.delete", aid, self._admin_json(old), None),),
                expect_version=state.version,
                delete_admins=(aid,),
            )
            return op, {"status": "ok"}

        return await self._change(caller, plan)  # type: ignore[no-any-return]
