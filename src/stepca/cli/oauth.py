"""`step oauth`: an OAuth 2.0 / OpenID Connect login in the browser, printing the tokens.

Built on ``stepca.client.oauth`` (discovery, loopback redirect, PKCE, state and nonce checks).
Decisions where smallstep's step does something we cannot or will not do:

- smallstep defaults to Google with smallstep's own OAuth client. We have no client registered
  anywhere, so ``--provider`` still defaults to Google (``https://accounts.google.com``) but
  ``--client-id`` is always required, and the error says so.
- ``--console`` keeps the loopback redirect (Google and others retired the out-of-band
  ``urn:ietf:wg:oauth:2.0:oob`` redirect smallstep used): the URL is printed, and the code or the
  whole redirect URL can be pasted while the listener keeps waiting too.
- Output is smallstep's: ``--bare`` the access token, ``--oidc --bare`` the ID token,
  ``--header`` an ``Authorization: Bearer`` line, otherwise the token response as indented JSON
  (``access_token``, ``id_token``, ``refresh_token``, ``expires_in``, ``token_type`` — also with
  ``--oidc``, as smallstep does: the JSON is the ID token with its type and lifetime).
- ``--timeout`` is ours (smallstep waits a fixed 2 minutes); ``--account``, ``--jwt``,
  ``--implicit`` and explicit endpoint flags are not offered.
"""

from __future__ import annotations

import json

import click

from stepca.cli._ui import fail

GOOGLE = "https://accounts.google.com"


def _timeout_seconds(value: str) -> float:
    """``--timeout``: a Go duration (``90s``, ``2m``) or a number of seconds."""
    from stepca._durations import parse_duration

    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            seconds = parse_duration(text).total_seconds()
        except ValueError as exc:
            fail(f"flag '--timeout': {exc}")
    if seconds <= 0:
        fail(f"flag '--timeout' must be positive, not {value!r}")
    return seconds


@click.command(
    "oauth",
    context_settings={"max_content_width": 100},
    epilog="""\b
Examples:
  Log in at an OpenID Provider and print the ID token (what an OIDC provisioner takes):
    step oauth --oidc --bare --provider https://id.example.com \\
      --client-id my-client --client-secret my-secret
  Print the access token only:
    step oauth --bare --provider https://id.example.com --client-id my-client
  Redirect to a fixed port, or to localhost instead of 127.0.0.1:
    step oauth --listen 127.0.0.1:10000 ...     step oauth --listen localhost:0 ...
  No browser on this machine: open the printed URL elsewhere, paste the redirect here:
    step oauth --console ...
""",
)
@click.option(
    "--provider",
    "--idp",
    default="google",
    show_default=True,
    metavar="URL",
    help="The OpenID Provider: its issuer URL or its discovery URL (…/.well-known/openid-configuration); "
    "HTTPS only. 'google' is https://accounts.google.com.",
)
@click.option(
    "--client-id", default="", metavar="ID", help="The OAuth client id registered at the provider (required)."
)
@click.option(
    "--client-secret",
    default="",
    metavar="SECRET",
    help="The client's secret (none for a public client: PKCE alone then proves the login).",
)
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    metavar="SCOPE",
    help="An OAuth scope to request (repeatable; default: openid email profile).",
)
@click.option(
    "--email", "-e", default="", metavar="EMAIL", help="The email to log in with (sent as login_hint)."
)
@click.option(
    "--prompt",
    default="",
    metavar="PROMPT",
    help="The OIDC prompt parameter: login, consent, select_account or none.",
)
@click.option(
    "--listen",
    default="",
    metavar="ADDR",
    help="The loopback address of the redirect listener, HOST:PORT (e.g. :10000, localhost:0; "
    "default 127.0.0.1 on a random port). The redirect URI is http://HOST:PORT.",
)
@click.option(
    "--console",
    "-c",
    is_flag=True,
    help="Do not open a browser: print the URL, then accept the pasted code or redirect URL on stdin.",
)
@click.option(
    "--timeout",
    default="2m",
    show_default=True,
    metavar="DURATION",
    help="How long to wait for the browser to come back (e.g. 90s, 5m, or seconds).",
)
@click.option("--oidc", is_flag=True, help="Output the OIDC ID token instead of the OAuth access token.")
@click.option("--bare", is_flag=True, help="Only output the token.")
@click.option("--header", is_flag=True, help="Output an HTTP Authorization header (suitable for curl).")
def oauth(
    provider: str,
    client_id: str,
    client_secret: str,
    scopes: tuple[str, ...],
    email: str,
    prompt: str,
    listen: str,
    console: bool,
    timeout: str,
    oidc: bool,
    bare: bool,
    header: bool,
) -> None:
    """Log in with OAuth 2.0 / OpenID Connect and print the tokens.

    Runs the authorization code flow with PKCE (S256) of a native app: a listener on a loopback
    address receives the redirect, the browser named by $BROWSER (else xdg-open or open) opens the
    provider's login page, and the code is exchanged for the tokens at the provider's token
    endpoint. The state and the ID token's nonce, audience and issuer are checked. The provider
    must be HTTPS; its certificate is verified with the system trust ($SSL_CERT_FILE honoured).

    Messages go to stderr; only the token (or the JSON) goes to stdout.
    """
    if not client_id:
        fail(
            "flag '--client-id' is required: this step has no OAuth client of its own at any provider "
            "(smallstep's step uses its own at Google); register one and pass --client-id and --client-secret"
        )
    from stepca.client.oauth import DEFAULT_SCOPES, OIDCLoginRequest, oidc_login

    request = OIDCLoginRequest(
        provider=GOOGLE if provider.strip().lower() == "google" else provider,
        client_id=client_id,
        client_secret=client_secret,
        listen=listen,
        console=console,
        timeout=_timeout_seconds(timeout),
        scopes=tuple(s for scope in scopes for s in scope.split()) or DEFAULT_SCOPES,
        login_hint=email,
        prompt=prompt,
    )
    tokens = oidc_login(request, progress=lambda text: click.echo(text, err=True))

    token = tokens.id_token if oidc else tokens.access_token
    if header:
        click.echo(f"Authorization: Bearer {token}")
    elif bare:
        click.echo(token)
    else:
        body = {
            "access_token": tokens.access_token,
            "id_token": tokens.id_token,
            "refresh_token": tokens.refresh_token,
            "expires_in": tokens.expires_in,
            "token_type": tokens.token_type,
        }
        click.echo(json.dumps(body, indent=2))
