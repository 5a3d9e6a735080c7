"""The ACME state machine (RFC 8555 §7): accounts, orders, authorizations, challenges,
finalize, certificates, revocation and key change.

One ``AcmeService`` per worker: it outlives reloads (it holds the store, the nonce key and the
running validations); the configuration's ``Authority`` (provisioners, issuance) is given with
each request. No HTTP here: handlers (``stepca.api.acme``) pass the request URL and body in and
render what comes out. No process memory decides anything that must hold across instances:
nonces, account keys and state transitions are database constraints (``stepca.db.queries.acme``).
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from stepca import metrics
from stepca.acme import jws
from stepca.acme.identifiers import Identifier, csr_identifiers, parse_identifiers
from stepca.acme.nonces import NonceBox
from stepca.acme.problems import AcmeProblem, malformed, not_found, unauthorized
from stepca.crypto.jose import b64url_decode, key_from_jwk
from stepca.crypto.keys import PRIVATE_KEY_TYPES
from stepca.db.acme_records import (
    AccountKeyInUseError,
    AccountRecord,
    AuthzRecord,
    ChallengeRecord,
    ChangeAccountKeyOp,
    EABKeyUnusableError,
    NewAccountOp,
    NewOrderOp,
    NonceReusedError,
    OrderRecord,
    RowUpdate,
    StaleStateError,
    TransitionOp,
    UseNonceOp,
)
from stepca.db.operations import RevokeOp
from stepca.db.records import RevocationRecord
from stepca.errors import StepError

if TYPE_CHECKING:
    from stepca.acme.validation import Validator
    from stepca.authority.authority import Authority
    from stepca.db.operations import Operation, Outcome
    from stepca.db.store import Store
    from stepca.provisioner.acme import ACMEProvisioner

log = logging.getLogger("stepca.acme")

ORDER_LIFETIME = 24 * 3600
AUTHZ_LIFETIME = 24 * 3600
#: a valid authorization is kept (and reused by the account's next orders) this long
VALID_AUTHZ_LIFETIME = 7 * 24 * 3600
#: RFC 5280 reason codes ACME accepts (7 is unused)
REVOCATION_REASONS = frozenset({0, 1, 2, 3, 4, 5, 6, 8, 9, 10})


def new_id() -> str:
    return secrets.token_urlsafe(16)


def rfc3339(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_rfc3339(value: object, field: str) -> int:
    if not isinstance(value, str):
        raise malformed(f"{field} must be an RFC 3339 time")
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise malformed(f"{field} is not an RFC 3339 time: {value!r}") from None
    if when.tzinfo is None:
        raise malformed(f"{field} must have a time zone")
    return int(when.timestamp())


class Links:
    """The URLs of one ACME provisioner as the client addressed it."""

    def __init__(self, base: str) -> None:
        self.base = base  # e.g. https://ca.example:9000/acme/acme

    def __call__(self, *parts: str) -> str:
        return "/".join((self.base, *parts))

    def account(self, account_id: str) -> str:
        return self("account", account_id)

    def order(self, order_id: str) -> str:
        return self("order", order_id)

    def authz(self, authz_id: str) -> str:
        return self("authz", authz_id)

    def challenge(self, ch: ChallengeRecord) -> str:
        return self("challenge", ch.authz_id, ch.id)

    def certificate(self, serial: str) -> str:
        return self("certificate", serial)


@dataclass(frozen=True, slots=True)
class Reply:
    """What a handler renders: status, JSON body (or PEM), Location and Link headers."""

    status: int
    body: dict[str, Any] | str
    location: str = ""
    links: tuple[tuple[str, str], ...] = ()  # (url, rel)
    content_type: str = "application/json"
    retry_after: int = 0


@dataclass(frozen=True, slots=True)
class Authenticated:
    req: jws.SignedRequest
    account: AccountRecord | None  # for kid requests
    jwk: dict[str, Any] | None  # for jwk requests
    thumbprint: str


# ------------------------------------------------------------------------ wire bodies


def account_body(a: AccountRecord, links: Links) -> dict[str, Any]:
    body: dict[str, Any] = {"status": a.status, "orders": links("account", a.id, "orders")}
    if a.contact:
        body["contact"] = list(a.contact)
    if a.eab_key_id:
        body["externalAccountBinding"] = {"kid": a.eab_key_id}
    return body


def order_body(o: OrderRecord, links: Links) -> dict[str, Any]:
    body: dict[str, Any] = {
        "status": o.status,
        "expires": rfc3339(o.expires_at),
        "identifiers": [{"type": t, "value": v} for t, v in o.identifiers],
        "authorizations": [links.authz(z) for z in o.authz_ids],
        "finalize": links("order", o.id, "finalize"),
    }
    if o.not_before:
        body["notBefore"] = rfc3339(o.not_before)
    if o.not_after:
        body["notAfter"] = rfc3339(o.not_after)
    if o.profile:
        body["profile"] = o.profile
    if o.replaces:
        body["replaces"] = o.replaces
    if o.error:
        body["error"] = json.loads(o.error)
    if o.cert_serial and o.status == "valid":
        body["certificate"] = links.certificate(o.cert_serial)
    return body


def challenge_body(c: ChallengeRecord, links: Links) -> dict[str, Any]:
    body: dict[str, Any] = {"type": c.type, "url": links.challenge(c), "status": c.status, "token": c.token}
    if c.validated_at and c.status == "valid":
        body["validated"] = rfc3339(c.validated_at)
    if c.error:
        body["error"] = json.loads(c.error)
    return body


def key_authorization(token: str, thumbprint: str) -> str:
    return f"{token}.{thumbprint}"


class AcmeService:
    def __init__(self, store: Store, validator: Validator | None = None) -> None:
        self.store = store
        self.validator = validator
        self._nonces: NonceBox | None = None

    # ------------------------------------------------------------------ nonces

    async def nonce_box(self) -> NonceBox:
        if self._nonces is None:
            self._nonces = NonceBox(await self.store.acme_secret("nonce"))
        return self._nonces

    async def new_nonce(self) -> str:
        return (await self.nonce_box()).make()

    async def _use_nonce(self, nonce: object) -> None:
        box = await self.nonce_box()
        try:
            expiry = box.check(nonce)
        except ValueError as exc:
            raise AcmeProblem("badNonce", str(exc)) from None
        assert isinstance(nonce, str)
        if isinstance(await self.store.apply(UseNonceOp(nonce, expiry)), NonceReusedError):
            raise AcmeProblem("badNonce", "the nonce was already used")

    async def _apply(self, op: Operation) -> Outcome:
        outcome = await self.store.apply(op)
        if outcome is not None and not isinstance(
            outcome, StaleStateError | AccountKeyInUseError | EABKeyUnusableError
        ):
            log.error("ACME write failed: %s", outcome)
            raise StepError("the ACME state could not be stored")
        return outcome

    # ------------------------------------------------------------------ authentication

    async def authenticate(
        self, body: bytes, url: str, p: ACMEProvisioner, links: Links, *, key: str = "kid"
    ) -> Authenticated:
        """Parse and verify a request; ``key``: "kid" (an account), "jwk" or "any"."""
        req = jws.parse(body, url=url)
        if req.jwk is not None:
            if key == "kid":
                raise malformed("this request must be signed by an account key (kid)")
            pub, tp = jws.jwk_key(req.jwk)
            req.verify(pub)
            await self._use_nonce(req.protected.get("nonce"))
            return Authenticated(req, None, jws.public_jwk_members(req.jwk), tp)
        if key == "jwk":
            raise malformed("this request must carry the account key (jwk), not a kid")
        account = await self._account_of_kid(req.kid or "", p, links)
        stored_key = key_from_jwk(json.loads(account.jwk))
        if isinstance(stored_key, PRIVATE_KEY_TYPES):  # never stored so; keeps the types exact
            raise AcmeProblem("serverInternal", "the account key is not a public key", 500)
        req.verify(stored_key)
        await self._use_nonce(req.protected.get("nonce"))
        if account.status != "valid":
            raise unauthorized(f"the account is {account.status}")
        return Authenticated(req, account, None, account.thumbprint)

    async def _account_of_kid(self, kid: str, p: ACMEProvisioner, links: Links) -> AccountRecord:
        # the path decides, not the host: behind a load balancer, or when a client moves between
        # instances of one cluster, the account URL of another instance is the same account
        prefix = _path(links("account", ""))
        path = _path(kid)
        if (
            not kid.startswith(("https://", "http://"))
            or not path.startswith(prefix)
            or "/" in path[len(prefix) :]
        ):
            raise AcmeProblem("accountDoesNotExist", "the kid is not an account URL of this provisioner")
        account = await self.store.acme_account(path[len(prefix) :])
        if account is None or account.provisioner != p.name:
            raise AcmeProblem("accountDoesNotExist", "the account does not exist")
        return account

    # ------------------------------------------------------------------ directory

    def directory(self, p: ACMEProvisioner, links: Links) -> dict[str, Any]:
        meta: dict[str, Any] = {
            "externalAccountRequired": p.require_eab,
            "profiles": {name: prof.description for name, prof in p.profiles.items()},
        }
        if p.terms_of_service:
            meta["termsOfService"] = p.terms_of_service
        if p.website:
            meta["website"] = p.website
        if p.caa_identities:
            meta["caaIdentities"] = list(p.caa_identities)
        return {
            "newNonce": links("new-nonce"),
            "newAccount": links("new-account"),
            "newOrder": links("new-order"),
            "revokeCert": links("revoke-cert"),
            "keyChange": links("key-change"),
            "renewalInfo": links("renewal-info"),
            "meta": meta,
        }

    # ------------------------------------------------------------------ accounts

    async def new_account(self, body: bytes, url: str, p: ACMEProvisioner, links: Links) -> Reply:
        auth = await self.authenticate(body, url, p, links, key="jwk")
        payload = auth.req.payload()
        assert auth.jwk is not None
        existing = await self.store.acme_account_by_key(p.name, auth.thumbprint)
        if existing is not None:
            return Reply(200, account_body(existing, links), location=links.account(existing.id))
        if payload.get("onlyReturnExisting") is True:
            raise AcmeProblem("accountDoesNotExist", "no account exists with this key")
        contact = _contacts(payload.get("contact"))
        eab_kid = ""
        binding = payload.get("externalAccountBinding")
        if binding is not None:
            eab_kid = jws.eab_key_id(binding)
            key = await self.store.acme_eab_key(eab_kid)
            if key is None or key.provisioner != p.name:
                raise unauthorized("the external account binding key does not exist")
            if key.account_id:
                raise unauthorized("the external account binding key is already bound to an account")
            jws.verify_eab(binding, url=url, account_jwk=auth.jwk, hmac_key=key.hmac_key)
        elif p.require_eab:
            raise AcmeProblem(
                "externalAccountRequired", "this provisioner requires an external account binding"
            )
        account = AccountRecord(
            id=new_id(),
            provisioner=p.name,
            thumbprint=auth.thumbprint,
            jwk=json.dumps(auth.jwk),
            status="valid",
            contact=contact,
            eab_key_id=eab_kid,
            created_at=int(time.time()),
        )
        outcome = await self._apply(NewAccountOp(account))
        if isinstance(outcome, EABKeyUnusableError):
            raise unauthorized("the external account binding key is already bound to an account")
        if isinstance(outcome, AccountKeyInUseError):  # a concurrent twin request won
            existing = await self.store.acme_account_by_key(p.name, auth.thumbprint)
            if existing is None:
                raise AcmeProblem("serverInternal", "the account could not be created", 500)
            return Reply(200, account_body(existing, links), location=links.account(existing.id))
        return Reply(201, account_body(account, links), location=links.account(account.id))

    async def account(
        self, body: bytes, url: str, account_id: str, p: ACMEProvisioner, links: Links
    ) -> Reply:
        auth = await self.authenticate(body, url, p, links)
        account = auth.account
        assert account is not None
        if account.id != account_id:
            raise unauthorized("the account URL is not the signer's account")
        payload = auth.req.payload()
        updates: list[tuple[str, object]] = []
        if "contact" in payload:
            contact = _contacts(payload["contact"])
            updates.append(("contact", json.dumps(list(contact))))
            account = _replace_account(account, contact=contact)
        status = payload.get("status")
        if status is not None:
            if status != "deactivated":
                raise malformed("an account can only be updated to status deactivated")
            updates.append(("status", "deactivated"))
            account = _replace_account(account, status="deactivated")
        if updates:
            outcome = await self._apply(
                TransitionOp((RowUpdate("account", account.id, tuple(updates), when_status=("valid",)),))
            )
            if isinstance(outcome, StaleStateError):
                raise unauthorized("the account is no longer valid")
        return Reply(200, account_body(account, links), location=links.account(account.id))

    async def orders(self, body: bytes, url: str, account_id: str, p: ACMEProvisioner, links: Links) -> Reply:
        auth = await self.authenticate(body, url, p, links)
        assert auth.account is not None
        if auth.account.id != account_id:
            raise unauthorized("the orders URL is not the signer's account's")
        orders = await self.store.acme_orders_of_account(account_id)
        now = time.time()
        live = [o for o in orders if o.status in ("pending", "ready", "processing") and o.expires_at > now]
        return Reply(200, {"orders": [links.order(o.id) for o in live]})

    async def key_change(self, body: bytes, url: str, p: ACMEProvisioner, links: Links) -> Reply:
        auth = await self.authenticate(body, url, p, links)
        account = auth.account
        assert account is not None
        try:
            inner_doc = json.loads(auth.req.payload_raw)
        except ValueError:
            raise malformed("the key change payload is not a JWS") from None
        inner = jws.parse(inner_doc, url=url, inner=True)
        if inner.jwk is None:
            raise malformed("the inner JWS of a key change must carry the new key (jwk)")
        new_pub, new_tp = jws.jwk_key(inner.jwk)
        inner.verify(new_pub)
        payload = inner.payload()
        if payload.get("account") != links.account(account.id):
            raise unauthorized("the key change is for another account")
        old = payload.get("oldKey")
        if not isinstance(old, dict):
            raise malformed("the key change payload needs oldKey")
        _, old_tp = jws.jwk_key(old)
        if old_tp != account.thumbprint:
            raise unauthorized("oldKey is not the account's current key")
        if new_tp == account.thumbprint:
            raise malformed("the new key is the account's current key")
        outcome = await self._apply(
            ChangeAccountKeyOp(
                account_id=account.id,
                provisioner=p.name,
                old_thumbprint=account.thumbprint,
                thumbprint=new_tp,
                jwk=json.dumps(jws.public_jwk_members(inner.jwk)),
            )
        )
        if isinstance(outcome, AccountKeyInUseError):
            raise AcmeProblem(
                "conflict",
                "the new key is already used by another account",
                409,
                headers={"Location": links.account(str(outcome.args[0]))} if outcome.args[0] else {},
            )
        if isinstance(outcome, StaleStateError):
            raise unauthorized("the account key changed meanwhile")
        updated = await self.store.acme_account(account.id)
        assert updated is not None
        return Reply(200, account_body(updated, links), location=links.account(account.id))

    # ------------------------------------------------------------------ orders

    async def new_order(self, body: bytes, url: str, p: ACMEProvisioner, links: Links) -> Reply:
        auth = await self.authenticate(body, url, p, links)
        account = auth.account
        assert account is not None
        payload = auth.req.payload()
        identifiers = parse_identifiers(payload.get("identifiers"))
        for ident in identifiers:
            if ident.wildcard and "dns-01" not in p.challenges:
                raise AcmeProblem(
                    "rejectedIdentifier",
                    f"{ident.value}: wildcards need dns-01, which this provisioner does not offer",
                )
            if ident.type == "ip" and not {"http-01", "tls-alpn-01"} & set(p.challenges):
                raise AcmeProblem(
                    "rejectedIdentifier", f"{ident.value}: no challenge of this provisioner fits an IP"
                )
        not_before = parse_rfc3339(payload["notBefore"], "notBefore") if "notBefore" in payload else 0
        not_after = parse_rfc3339(payload["notAfter"], "notAfter") if "notAfter" in payload else 0
        if not_before and not_after and not_after <= not_before:
            raise malformed("notAfter must be after notBefore")
        profile = payload.get("profile", "")
        if not isinstance(profile, str):
            raise malformed("profile must be a string")
        if profile and profile not in p.profiles:
            raise AcmeProblem(
                "invalidProfile", f"unknown profile {profile!r} (offered: {', '.join(sorted(p.profiles))})"
            )
        replaces = payload.get("replaces", "")
        if not isinstance(replaces, str):
            raise malformed("replaces must be a string (an ARI certificate identifier)")
        if replaces:
            await self._check_replaces(replaces, account)
        now = int(time.time())
        order_id = new_id()
        authzs: list[AuthzRecord] = []
        authz_ids: list[str] = []
        challenges: list[ChallengeRecord] = []
        for ident in identifiers:
            # a valid authorization of this account that outlives the new order is reused
            reused = await self.store.acme_reusable_authz(
                account.id, ident.type, ident.base, ident.wildcard, now + ORDER_LIFETIME
            )
            if reused is not None:
                authz_ids.append(reused.id)
                continue
            authz_id = new_id()
            authz_ids.append(authz_id)
            authzs.append(
                AuthzRecord(
                    id=authz_id,
                    account_id=account.id,
                    order_id=order_id,
                    identifier_type=ident.type,
                    identifier_value=ident.base,
                    wildcard=ident.wildcard,
                    status="pending",
                    expires_at=now + AUTHZ_LIFETIME,
                    created_at=now,
                )
            )
            for kind in _challenge_types(ident, p):
                challenges.append(
                    ChallengeRecord(
                        id=new_id(),
                        authz_id=authz_id,
                        type=kind,
                        token=secrets.token_urlsafe(32),
                        status="pending",
                        validated_at=0,
                        error="",
                    )
                )
        order = OrderRecord(
            id=order_id,
            account_id=account.id,
            provisioner=p.name,
            status="pending",
            expires_at=now + ORDER_LIFETIME,
            identifiers=tuple((i.type, i.value) for i in identifiers),
            authz_ids=tuple(authz_ids),
            not_before=not_before,
            not_after=not_after,
            profile=profile,
            replaces=replaces,
            error="",
            cert_serial="",
            created_at=now,
        )
        await self._apply(NewOrderOp(order, tuple(authzs), tuple(challenges)))
        metrics.acme_order("pending")
        if not authzs:  # every authorization reused: the order is ready now
            order = await self.refresh_order(order)
        return Reply(201, order_body(order, links), location=links.order(order.id))

    async def _check_replaces(self, replaces: str, account: AccountRecord) -> None:
        from stepca.acme.ari import parse_cert_id

        serial = parse_cert_id(replaces)
        replaced = await self.store.acme_order_by_certificate(serial)
        if replaced is None or replaced.account_id != account.id:
            raise AcmeProblem("malformed", "replaces names no certificate of this account")
        for other in await self.store.acme_orders_of_account(account.id):
            if other.replaces == replaces and other.status in ("ready", "processing", "valid"):
                raise AcmeProblem("alreadyReplaced", "the certificate was already replaced", 409)

    async def _owned_order(self, order_id: str, account: AccountRecord) -> OrderRecord:
        order = await self.store.acme_order(order_id)
        if order is None:
            raise not_found("the order does not exist")
        if order.account_id != account.id:
            raise unauthorized("the order belongs to another account")
        return await self.refresh_order(order)

    async def refresh_order(self, order: OrderRecord) -> OrderRecord:
        """Bring the order's status up to date with its authorizations and its expiry (lazily,
        so two authorizations that become valid at once on two instances still make it ready)."""
        now = time.time()
        new_status, error = order.status, ""
        if order.status in ("pending", "ready") and now > order.expires_at:
            new_status = "invalid"
            error = AcmeProblem("malformed", "the order expired").stored()
        elif order.status == "pending":
            statuses = [_authz_status(z, now) for z in await self.store.acme_authzs(list(order.authz_ids))]
            if any(s not in {"pending", "valid"} for s in statuses):
                new_status = "invalid"
                error = AcmeProblem("unauthorized", "an authorization of the order failed").stored()
            elif statuses and all(s == "valid" for s in statuses):
                new_status = "ready"
        if new_status == order.status:
            return order
        values: tuple[tuple[str, object], ...] = (("status", new_status),)
        if error:
            values += (("error", error),)
        moved = await self._apply(
            TransitionOp((RowUpdate("order", order.id, values, when_status=(order.status,)),))
        )
        if moved is None:
            metrics.acme_order(new_status)
        fresh = await self.store.acme_order(order.id)
        assert fresh is not None
        return fresh

    async def order(self, body: bytes, url: str, order_id: str, p: ACMEProvisioner, links: Links) -> Reply:
        auth = await self.authenticate(body, url, p, links)
        assert auth.account is not None
        order = await self._owned_order(order_id, auth.account)
        return Reply(200, order_body(order, links), location=links.order(order.id))

    # ------------------------------------------------------------------ authorizations, challenges

    async def _owned_authz(self, authz_id: str, account: AccountRecord) -> AuthzRecord:
        authz = await self.store.acme_authz(authz_id)
        if authz is None:
            raise not_found("the authorization does not exist")
        if authz.account_id != account.id:
            raise unauthorized("the authorization belongs to another account")
        return authz

    async def _authz_reply(self, authz: AuthzRecord, links: Links) -> Reply:
        challenges = await self.store.acme_challenges_of_authz(authz.id)
        body: dict[str, Any] = {
            "identifier": {"type": authz.identifier_type, "value": authz.identifier_value},
            "status": _authz_status(authz, time.time()),
            "expires": rfc3339(authz.expires_at),
            "challenges": [challenge_body(c, links) for c in challenges],
        }
        if authz.wildcard:
            body["wildcard"] = True
        return Reply(200, body)

    async def authz(self, body: bytes, url: str, authz_id: str, p: ACMEProvisioner, links: Links) -> Reply:
        auth = await self.authenticate(body, url, p, links)
        assert auth.account is not None
        authz = await self._owned_authz(authz_id, auth.account)
        payload = auth.req.payload()
        if payload.get("status") == "deactivated":  # RFC 8555 §7.5.2
            await self._apply(
                TransitionOp(
                    (
                        RowUpdate(
                            "authz", authz.id, (("status", "deactivated"),), when_status=("pending", "valid")
                        ),
                    )
                )
            )
            authz = await self._owned_authz(authz_id, auth.account)
        elif payload:
            raise malformed("an authorization can only be updated to status deactivated")
        return await self._authz_reply(authz, links)

    async def challenge(
        self, body: bytes, url: str, authz_id: str, challenge_id: str, p: ACMEProvisioner, links: Links
    ) -> Reply:
        auth = await self.authenticate(body, url, p, links)
        assert auth.account is not None
        authz = await self._owned_authz(authz_id, auth.account)
        ch = await self.store.acme_challenge(challenge_id)
        if ch is None or ch.authz_id != authz.id:
            raise not_found("the challenge does not exist")
        up = (links.authz(authz.id), "up")
        if auth.req.post_as_get:
            return Reply(200, challenge_body(ch, links), links=(up,))
        auth.req.payload()  # must be a JSON object ({}: "respond to the challenge")
        if ch.status == "pending":
            if _authz_status(authz, time.time()) != "pending":
                raise AcmeProblem("malformed", f"the authorization is {_authz_status(authz, time.time())}")
            # while processing, validated_at holds when the validation began (see retake_stale)
            began = int(time.time())
            outcome = await self._apply(
                TransitionOp(
                    (
                        RowUpdate(
                            "challenge",
                            ch.id,
                            (("status", "processing"), ("validated_at", began)),
                            when_status=("pending",),
                        ),
                    )
                )
            )
            if outcome is None:
                ch = ChallengeRecord(ch.id, ch.authz_id, ch.type, ch.token, "processing", began, "")
                if self.validator is not None:
                    self.validator.start(ch, authz, key_authorization(ch.token, auth.thumbprint))
            else:
                fresh = await self.store.acme_challenge(ch.id)
                ch = fresh or ch
        return Reply(
            200, challenge_body(ch, links), links=(up,), retry_after=1 if ch.status == "processing" else 0
        )

    async def record_validation(
        self, ch: ChallengeRecord, authz: AuthzRecord, problem: AcmeProblem | None
    ) -> None:
        """The outcome of a challenge's validation: the challenge, its authorization and (on
        failure) its order change together; on success the order becomes ready when its last
        authorization does."""
        now = int(time.time())
        if problem is None:
            await self._apply(
                TransitionOp(
                    (
                        RowUpdate(
                            "challenge",
                            ch.id,
                            (("status", "valid"), ("validated_at", now)),
                            when_status=("processing",),
                        ),
                        RowUpdate(  # optional: another challenge of the authorization may have won
                            "authz",
                            authz.id,
                            (("status", "valid"), ("expires_at", now + VALID_AUTHZ_LIFETIME)),
                            when_status=("pending",),
                            optional=True,
                        ),
                    )
                )
            )
        else:
            await self._apply(
                TransitionOp(
                    (
                        RowUpdate(
                            "challenge",
                            ch.id,
                            (("status", "invalid"), ("error", problem.stored())),
                            when_status=("processing",),
                        ),
                        RowUpdate(  # a failed challenge never undoes an authorization another one proved
                            "authz",
                            authz.id,
                            (("status", "invalid"),),
                            when_status=("pending",),
                            optional=True,
                        ),
                    )
                )
            )
        order = await self.store.acme_order(authz.order_id)
        if order is not None:
            await self.refresh_order(order)

    async def retake_stale(self, older_than: float) -> int:
        """Validate again the challenges left ``processing`` by a worker that died (a cluster job):
        clients never poll a challenge that nobody validates."""
        if self.validator is None:
            return 0
        now = int(time.time())
        count = 0
        for ch in await self.store.acme_stale_challenges(now - int(older_than)):
            authz = await self.store.acme_authz(ch.authz_id)
            account = await self.store.acme_account(authz.account_id) if authz else None
            if authz is None or account is None:
                continue
            taken = await self._apply(
                TransitionOp(
                    (RowUpdate("challenge", ch.id, (("validated_at", now),), when_status=("processing",)),)
                )
            )
            if taken is None:
                self.validator.start(ch, authz, key_authorization(ch.token, account.thumbprint))
                count += 1
        return count

    # ------------------------------------------------------------------ finalize, certificates

    async def finalize(
        self, body: bytes, url: str, order_id: str, p: ACMEProvisioner, links: Links, ca: Authority
    ) -> Reply:
        auth = await self.authenticate(body, url, p, links)
        assert auth.account is not None
        order = await self._owned_order(order_id, auth.account)
        if order.status != "ready":
            raise AcmeProblem("orderNotReady", f"the order is {order.status}, not ready", 403)
        csr_b64 = auth.req.payload().get("csr")
        if not isinstance(csr_b64, str):
            raise malformed("finalize needs csr (base64url DER)")
        from cryptography import x509

        from stepca.authority.authority import check_key_policy, load_csr

        try:
            der = b64url_decode(csr_b64)
            pem = x509.load_der_x509_csr(der).public_bytes(_pem())
        except ValueError:
            raise AcmeProblem("badCSR", "the CSR cannot be parsed") from None
        try:
            csr, csr_key = load_csr(pem.decode())
            public_key = check_key_policy(csr_key)
        except StepError as exc:
            raise AcmeProblem("badCSR", exc.detail or str(exc)) from None
        wanted = {Identifier(t, v) for t, v in order.identifiers}
        asked = csr_identifiers(csr)
        if asked != wanted:
            missing = sorted(i.value for i in wanted - asked)
            extra = sorted(i.value for i in asked - wanted)
            raise AcmeProblem(
                "badCSR",
                "the CSR's names must be the order's identifiers"
                + (f"; missing {', '.join(missing)}" if missing else "")
                + (f"; not in the order {', '.join(extra)}" if extra else ""),
            )
        if p.caa_identities:
            from stepca.acme.caa import check_caa

            methods: dict[str, str] = {}
            for z in await self.store.acme_authzs(list(order.authz_ids)):
                for c in await self.store.acme_challenges_of_authz(z.id):
                    if c.status == "valid":
                        methods[("*." if z.wildcard else "") + z.identifier_value] = c.type
            await check_caa(
                wanted,
                p.caa_identities,
                self.validator.resolver if self.validator else None,
                account_uri=links.account(auth.account.id),
                methods=methods,
            )
        moved = await self._apply(
            TransitionOp((RowUpdate("order", order.id, (("status", "processing"),), when_status=("ready",)),))
        )
        if moved is not None:
            raise AcmeProblem("orderNotReady", "the order is already being finalized", 403)
        try:
            issued = await self._issue(order, csr, public_key, p, ca)
        except (AcmeProblem, StepError) as exc:
            problem = exc if isinstance(exc, AcmeProblem) else AcmeProblem("badCSR", exc.detail or str(exc))
            await self._apply(
                TransitionOp(
                    (
                        RowUpdate(
                            "order",
                            order.id,
                            (("status", "invalid"), ("error", problem.stored())),
                            when_status=("processing",),
                        ),
                    )
                )
            )
            metrics.acme_order("invalid")
            raise problem from None
        serial = str(issued.serial)
        await self._apply(
            TransitionOp(
                (
                    RowUpdate(
                        "order",
                        order.id,
                        (("status", "valid"), ("cert_serial", serial)),
                        when_status=("processing",),
                    ),
                )
            )
        )
        metrics.acme_order("valid")
        fresh = await self.store.acme_order(order.id)
        assert fresh is not None
        return Reply(200, order_body(fresh, links), location=links.order(order.id))

    async def _issue(
        self, order: OrderRecord, csr: Any, public_key: Any, p: ACMEProvisioner, ca: Authority
    ) -> Any:
        import ipaddress

        from cryptography import x509
        from cryptography.x509.oid import NameOID

        from stepca.authority.claims import x509_validity
        from stepca.authority.x509_issuer import LeafRequest

        names: list[x509.GeneralName] = []
        for t, v in order.identifiers:
            names.append(x509.DNSName(v) if t == "dns" else x509.IPAddress(ipaddress.ip_address(v)))
        cns = csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        common_name = str(cns[0].value) if cns else ""
        if not common_name and p.force_cn:
            common_name = order.identifiers[0][1]
        profile = p.profiles.get(order.profile or "default") or p.profiles["default"]
        now = datetime.fromtimestamp(int(time.time()), UTC)
        nb, na = x509_validity(
            profile.claims,
            now,
            datetime.fromtimestamp(order.not_before, UTC) if order.not_before else None,
            datetime.fromtimestamp(order.not_after, UTC) if order.not_after else None,
            ca.backdate,
        )
        leaf = LeafRequest(
            public_key=public_key,
            common_name=common_name,
            sans=x509.SubjectAlternativeName(names),
            not_before=nb,
            not_after=na,
            provisioner_extension=p.extension_der(),
        )
        template = profile.template or p.x509_template
        if template is not None:
            made = template.render(
                subject=common_name,
                sans=tuple(v for _, v in order.identifiers),
                token={},
                csr=csr,
                csr_key=public_key,
            )
            allowed = {_general_name_value(n) for n in names}
            extra = [
                str(_general_name_value(n)) for n in made.sans or () if _general_name_value(n) not in allowed
            ]
            if extra:  # a template may only drop names, never add ones no challenge proved
                raise AcmeProblem("rejectedIdentifier", f"the certificate template adds {', '.join(extra)}")
            leaf = replace(
                leaf,
                common_name="",
                subject=made.subject,
                sans=made.sans,
                templated=True,
                key_usage=made.key_usage,
                ext_key_usage=made.ext_key_usage,
            )
        if profile.key_usage is not None or profile.ext_key_usage is not None:
            leaf = replace(
                leaf,
                templated=True,
                key_usage=profile.key_usage or leaf.key_usage or _default_key_usage(public_key),
                ext_key_usage=profile.ext_key_usage or leaf.ext_key_usage or _default_eku(),
            )
        return await ca.issuance.issue(
            leaf, provisioner=p, subject=common_name or order.identifiers[0][1], origin="acme"
        )

    async def certificate(
        self, body: bytes, url: str, serial: str, p: ACMEProvisioner, links: Links, ca: Authority
    ) -> Reply:
        auth = await self.authenticate(body, url, p, links)
        assert auth.account is not None
        order = await self.store.acme_order_by_certificate(serial)
        if order is None or order.account_id != auth.account.id:
            raise not_found("the certificate does not exist")
        record = await self.store.get_certificate(serial)
        if record is None:
            raise not_found("the certificate does not exist")
        from stepca.crypto.pem import der_to_pem

        pem = der_to_pem(record.der) + "".join(ca.chain_pems)
        return Reply(200, pem, content_type="application/pem-certificate-chain")

    async def revoke(self, body: bytes, url: str, p: ACMEProvisioner, links: Links, ca: Authority) -> Reply:
        auth = await self.authenticate(body, url, p, links, key="any")
        payload = auth.req.payload()
        cert_b64 = payload.get("certificate")
        if not isinstance(cert_b64, str):
            raise malformed("revokeCert needs certificate (base64url DER)")
        reason = payload.get("reason", 0)
        if type(reason) is not int or reason not in REVOCATION_REASONS:
            raise AcmeProblem(
                "badRevocationReason", f"reason {reason!r} is not a revocation reason ACME accepts"
            )
        from cryptography import x509

        try:
            cert = x509.load_der_x509_certificate(b64url_decode(cert_b64))
        except ValueError:
            raise malformed("the certificate cannot be parsed") from None
        serial = str(cert.serial_number)
        record = await self.store.get_certificate(serial)
        if record is None or record.der != cert.public_bytes(_der()):
            raise not_found("the certificate was not issued by this CA")
        if auth.account is not None:
            order = await self.store.acme_order_by_certificate(serial)
            if order is None or order.account_id != auth.account.id:
                raise unauthorized("the account did not order this certificate")
        else:
            assert auth.jwk is not None
            cert_jwk_tp = _key_thumbprint(cert.public_key())
            if cert_jwk_tp != auth.thumbprint:
                raise unauthorized("the JWS is signed neither by an account nor by the certificate's key")
        if await self.store.get_revocation(serial) is not None:
            raise AcmeProblem("alreadyRevoked", "the certificate is already revoked")
        await ca.record(
            RevokeOp(
                RevocationRecord(
                    serial=serial,
                    reason_code=reason,
                    reason="ACME revokeCert",
                    revoked_at=int(time.time()),
                    provisioner=p.id,
                    not_after=record.not_after,
                )
            )
        )
        return Reply(200, "", content_type="")


# ------------------------------------------------------------------------ helpers


def _pem() -> Any:
    from cryptography.hazmat.primitives.serialization import Encoding

    return Encoding.PEM


def _der() -> Any:
    from cryptography.hazmat.primitives.serialization import Encoding

    return Encoding.DER


def _key_thumbprint(key: Any) -> str:
    from stepca.crypto.jose import public_jwk, thumbprint

    try:
        return thumbprint(public_jwk(key))
    except Exception:
        return ""


def _general_name_value(name: Any) -> str:
    return str(name.value).lower()


def _default_key_usage(key: Any) -> Any:
    """digitalSignature (and keyEncipherment for RSA), as the issuer's default."""
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import rsa

    rsa_key = isinstance(key, rsa.RSAPublicKey)
    return x509.KeyUsage(True, False, rsa_key, False, False, False, False, False, False)


def _default_eku() -> Any:
    from cryptography import x509
    from cryptography.x509.oid import ExtendedKeyUsageOID

    return x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH])


def _path(url: str) -> str:
    rest = url.split("://", 1)[-1]
    slash = rest.find("/")
    return rest[slash:] if slash >= 0 else "/"


def _authz_status(z: AuthzRecord, now: float) -> str:
    if z.status in ("pending", "valid") and now > z.expires_at:
        return "expired"
    return z.status


def _challenge_types(ident: Identifier, p: ACMEProvisioner) -> list[str]:
    if ident.wildcard:
        return ["dns-01"]
    if ident.type == "ip":
        return [c for c in p.challenges if c in ("http-01", "tls-alpn-01")]
    return list(p.challenges)


def _contacts(raw: object) -> tuple[str, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list) or not all(isinstance(c, str) for c in raw):
        raise malformed("contact must be a list of URLs")
    for c in raw:
        if not c.startswith("mailto:") or "@" not in c or "," in c or "?" in c:
            raise AcmeProblem("invalidContact", f"{c!r} is not a mailto: URL with one address")
    if len(raw) > 10:
        raise AcmeProblem("invalidContact", "at most 10 contacts")
    return tuple(raw)


def _replace_account(a: AccountRecord, **changes: Any) -> AccountRecord:
    from dataclasses import replace

    return replace(a, **changes)
