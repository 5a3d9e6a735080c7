"""What the online `step ca` commands share: where the CA is, which root to trust, which
provisioner signs the token, and how issued certificates are written."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from stepca.cli._ui import choose, fail, ok, read_password

if TYPE_CHECKING:
    from stepca.client.http import CAClient
    from stepca.crypto.keys import PrivateKey
    from stepca.messages import SignResponse

F = TypeVar("F", bound=Callable[..., Any])


def ca_options(fn: F) -> F:
    """--ca-url and --root, defaulting to $STEP_CA_URL/$STEP_ROOT, then defaults.json."""
    fn = click.option("--root", "root", type=click.Path(), help="The root certificate to trust (PEM).")(fn)
    fn = click.option("--ca-url", "ca_url", help="URI of the targeted certificate authority.")(fn)
    return fn


def _remember_oidc_flag(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    ctx.meta.setdefault(_OIDC_META, {})[param.name] = value
    return value


_OIDC_META = "stepca.oidc_flags"


def provisioner_options(fn: F) -> F:
    """--provisioner/--kid/--key/--provisioner-password-file, and the OIDC login flags
    (--console, --listen, --timeout): those are kept in the click context for
    :func:`select_signer`, so commands do not carry them as parameters."""
    for flags, kwargs in (
        (
            ("--timeout",),
            {
                "default": "2m",
                "show_default": True,
                "metavar": "DURATION",
                "help": "OIDC: how long to wait for the browser login.",
            },
        ),
        (
            ("--listen",),
            {
                "metavar": "ADDR",
                "help": "OIDC: the local address for the login redirect (default: the provisioner's "
                "listenAddress, else 127.0.0.1 on a random port).",
            },
        ),
        (
            ("--console",),
            {
                "is_flag": True,
                "help": "OIDC: print the login URL and read the code here instead of opening a browser.",
            },
        ),
    ):
        fn = click.option(*flags, expose_value=False, callback=_remember_oidc_flag, **kwargs)(fn)
    fn = click.option(
        "--provisioner-password-file",
        "provisioner_password_file",
        type=click.Path(),
        help="File with the password that decrypts the provisioner key.",
    )(fn)
    fn = click.option("--kid", help="The kid of the JWK provisioner to use.")(fn)
    fn = click.option("--provisioner", "--issuer", "provisioner", help="The name of the provisioner to use.")(
        fn
    )
    fn = click.option(
        "--key",
        "token_key",
        type=click.Path(),
        help="Sign the token with this provisioner private key (JWK or PEM).",
    )(fn)
    return fn


@dataclass
class CAContext:
    ca_url: str
    root: str

    def client(self, **kwargs: Any) -> CAClient:
        from stepca.client.http import CAClient

        return CAClient(self.ca_url, self.root, **kwargs)

    def root_fingerprint(self) -> str | None:
        from stepca.crypto.pem import certificate_ders, sha256_fingerprint

        try:
            return sha256_fingerprint(certificate_ders(Path(self.root).read_bytes())[0])
        except (OSError, ValueError):
            return None


def resolve_ca(ca_url: str | None, root: str | None) -> CAContext:
    from stepca.config import load_defaults

    defaults = load_defaults()
    url = ca_url or os.environ.get("STEP_CA_URL") or defaults.ca_url
    if not url:
        fail("flag --ca-url is required (no ca-url in defaults.json: run 'step ca bootstrap')")
    root_path = root or os.environ.get("STEP_ROOT") or defaults.root
    if not root_path:
        fail("flag --root is required (no root in defaults.json: run 'step ca bootstrap')")
    if not Path(root_path).expanduser().exists():
        fail(f"root certificate {root_path} does not exist")
    return CAContext(ca_url=url.rstrip("/"), root=str(Path(root_path).expanduser()))


@dataclass
class TokenSigner:
    name: str
    kid: str
    key: PrivateKey
    type_name: str = "JWK"

    def token(self, ctx: CAContext, subject: str, endpoint: str, **claims: Any) -> str:
        """A one-time token for ``endpoint`` (sign, revoke, ssh/sign, ...) of the CA in ``ctx``;
        ``claims`` are jwk_token's optional arguments (sans, not_before, expires, extra)."""
        from stepca.client.token import audience, jwk_token

        return jwk_token(
            subject=subject,
            issuer=self.name,
            kid=self.kid,
            key=self.key,
            audience=audience(ctx.ca_url, endpoint),
            root_fingerprint=ctx.root_fingerprint(),
            **claims,
        )


def _jwk_choices(provs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [p for p in provs if str(p.get("type", "")).upper() == "JWK" and isinstance(p.get("key"), dict)]


def _oidc_choices(provs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        p
        for p in provs
        if str(p.get("type", "")).upper() == "OIDC" and p.get("clientID") and p.get("configurationEndpoint")
    ]


@dataclass
class OIDCSigner:
    """An OIDC provisioner: its "token" is the ID token of a browser login (one per command)."""

    name: str
    client_id: str
    client_secret: str
    configuration_endpoint: str
    listen: str
    console: bool
    timeout: float
    type_name: str = "OIDC"
    id_token: str | None = None

    def token(self, ctx: CAContext, subject: str, endpoint: str, **claims: Any) -> str:
        """The ID token (``endpoint`` and ``claims`` do not apply: the provider signs it)."""
        if self.id_token is None:
            from stepca.client.oauth import OAuthError, OIDCLoginRequest, oidc_login

            try:
                resp = oidc_login(
                    OIDCLoginRequest(
                        provider=self.configuration_endpoint,
                        client_id=self.client_id,
                        client_secret=self.client_secret,
                        listen=self.listen,
                        console=self.console,
                        timeout=self.timeout,
                        login_hint=subject if "@" in subject else "",
                    ),
                    progress=lambda line: click.echo(line, err=True),
                )
            except OAuthError as exc:
                fail(str(exc))
            self.id_token = resp.id_token
        return self.id_token


def _oidc_signer(prov: dict[str, Any]) -> OIDCSigner:
    from stepca._durations import parse_duration

    flags = click.get_current_context().meta.get(_OIDC_META, {})
    try:
        timeout = parse_duration(str(flags.get("timeout") or "2m")).total_seconds()
    except ValueError as exc:
        fail(f"flag --timeout: {exc}")
    if timeout <= 0:
        fail("flag --timeout must be a positive duration")
    return OIDCSigner(
        name=str(prov["name"]),
        client_id=str(prov["clientID"]),
        client_secret=str(prov.get("clientSecret") or ""),
        configuration_endpoint=str(prov["configurationEndpoint"]),
        listen=flags.get("listen") or str(prov.get("listenAddress") or ""),
        console=bool(flags.get("console")),
        timeout=timeout,
    )


def select_signer(
    ctx: CAContext,
    *,
    provisioner: str | None,
    kid: str | None,
    password_file: str | None,
    key_file: str | None,
    announce: bool = True,
    allow_oidc: bool = True,
    password_flag: str = "--provisioner-password-file",
) -> TokenSigner | OIDCSigner:
    """Pick a provisioner (flags, the only one, or an arrow-key picker): a JWK provisioner's key
    is decrypted; an OIDC provisioner logs in with the browser when its token is asked for."""
    from stepca.crypto import jose

    if key_file:
        key = _load_token_key(key_file, password_file)
        k = kid or jose.public_jwk(key)["kid"]
        if not provisioner:
            fail("flag --provisioner (--issuer) is required with --key")
        return TokenSigner(provisioner, k, key)
    with ctx.client() as client:
        provs = client.provisioners()
    candidates = _jwk_choices(provs)
    oidc = _oidc_choices(provs) if allow_oidc and not kid else []
    if provisioner:
        candidates = [p for p in candidates if p.get("name") == provisioner]
        oidc = [p for p in oidc if p.get("name") == provisioner]
    if kid:
        candidates = [p for p in candidates if p["key"].get("kid") == kid]
    if not candidates and not oidc:
        what = " ".join(
            x for x in (f"name {provisioner!r}" if provisioner else "", f"kid {kid!r}" if kid else "") if x
        )
        kinds = "JWK or OIDC" if allow_oidc else "JWK"
        fail(f"no {kinds} provisioner{' with ' + what if what else ''} found on the CA")
    chosen = choose(
        "What provisioner key do you want to use?",
        [(f"{p['key'].get('kid')} ({p.get('name')})", "jwk:" + str(p["key"].get("kid"))) for p in candidates]
        + [(f"{p['clientID']} ({p.get('name')})", "oidc:" + str(p["clientID"])) for p in oidc],
        "--provisioner or --kid",
    )
    if chosen.startswith("oidc:"):
        prov = next(p for p in oidc if "oidc:" + str(p["clientID"]) == chosen)
        if announce:
            ok("Key ID", f"{prov['clientID']} ({prov['name']})")
        return _oidc_signer(prov)
    chosen_kid = chosen[4:]
    prov = next(p for p in candidates if p["key"].get("kid") == chosen_kid)
    if announce:
        ok("Provisioner", f"{prov['name']} (JWK) [kid: {chosen_kid}]")
    encrypted = prov.get("encryptedKey")
    if not encrypted:
        with ctx.client() as client:
            encrypted = client.encrypted_key(chosen_kid)
    password = read_password(
        password_file,
        "Please enter the password to decrypt the provisioner key",
        password_flag,
    )
    from stepca.crypto.keys import PRIVATE_KEY_TYPES

    try:
        payload = jose.decrypt_with_password(encrypted, password, name="the provisioner key")
        opened = jose.key_from_jwk(json.loads(payload))
    except (jose.JOSEError, ValueError) as exc:
        fail(str(exc))
    if not isinstance(opened, PRIVATE_KEY_TYPES):
        fail("the provisioner's encrypted key holds a public key")
    return TokenSigner(str(prov["name"]), chosen_kid, opened)


def _load_token_key(path: str, password_file: str | None) -> PrivateKey:
    from stepca._fs import read_file
    from stepca.crypto import jose
    from stepca.crypto.keyfile import KeyFileError, decrypt_key_file, is_compact_jwe
    from stepca.crypto.keys import load_private_key

    data = read_file(path, "key file")
    text = data.strip()
    if text.startswith(b"{") and b'"kty"' in text:
        key = jose.key_from_jwk(json.loads(text))
        if not hasattr(key, "private_bytes"):
            fail(f"{path} is a public key")
        return key  # type: ignore[return-value]
    if b"ENCRYPTED" in text or text.startswith(b"{") or is_compact_jwe(text):
        password = read_password(
            password_file, f"Please enter the password to decrypt {path}", "--password-file"
        )
        try:
            opened = decrypt_key_file(data, password, name=path)
        except KeyFileError as exc:
            fail(str(exc))
        if opened.key is not None:
            return opened.key
        return jose.key_from_jwk(json.loads(opened.payload))  # type: ignore[return-value]
    return load_private_key(data, None, name=path)


def write_certificate(path: str, response: SignResponse) -> None:
    """The leaf then its chain, as step writes ``crt`` files."""
    from stepca._fs import atomic_write

    atomic_write(path, "".join(c if c.endswith("\n") else c + "\n" for c in response.pems if c), 0o644)


def write_key(path: str, key: PrivateKey, password: bytes | None = None) -> None:
    from stepca._fs import SECRET_FILE_MODE, atomic_write
    from stepca.crypto.keys import private_key_to_pem

    atomic_write(path, private_key_to_pem(key, password), SECRET_FILE_MODE)


def token_sans(token: str) -> tuple[str | None, list[str]]:
    """The (sub, sans) of a token, read without verification (the CA verifies it)."""
    from stepca.crypto.jose import CompactJWS, JOSEError

    try:
        claims = CompactJWS(token).claims()
    except JOSEError as exc:
        fail(f"invalid token: {exc}")
    sans = claims.get("sans")
    return claims.get("sub"), [s for s in sans if isinstance(s, str)] if isinstance(sans, list) else []
