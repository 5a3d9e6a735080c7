"""A person with a web browser, for the OIDC tests: what ``$BROWSER`` points at.

    BROWSER="python tests/oidc/browser.py" step oauth ...

The CLI runs ``$BROWSER URL``. This program GETs the authorization URL, signs in on the
provider's login form (``$OIDC_TEST_USER`` / ``$OIDC_TEST_PASSWORD``), answers the consent
form, and follows redirects until the next one points at the ``redirect_uri`` of the
authorization URL (the CLI's loopback listener); then it acts by ``$OIDC_TEST_BROWSER_MODE``:

- ``normal`` (default): GET the redirect, so the listener receives ``code`` and ``state``;
- ``deny``: press Cancel on the consent page instead (the provider redirects with
  ``error=access_denied``), and GET that redirect;
- ``tamper-state``: change ``state`` in the final redirect before GETting it;
- ``never``: do nothing at all (the CLI must time out).

The provider's TLS is trusted through ``$SSL_CERT_FILE`` (what Python's default context reads)
or ``$OIDC_TEST_CA_FILE``. ``$OIDC_TEST_BROWSER_LOG`` names a file that gets one line per step
(nothing is written to stdout: the CLI's stdout carries only the token). Errors go to stderr and
exit 2. Only the standard library is used, so it runs with any Python 3; ``Person`` is also
what ``tests.oidc.harness.OpenIDProvider.login`` drives.
"""

from __future__ import annotations

import html.parser
import http.cookiejar
import os
import ssl
import sys
import urllib.error
import urllib.parse
import urllib.request
from typing import IO

MAX_STEPS = 30
DEFAULT_USER = "alice@example.com"
DEFAULT_PASSWORD = "alice-password"


class BrowserError(Exception):
    """The flow did not reach the redirect URI (refused login, provider error page, ...)."""


class _Form:
    def __init__(self, attrs: dict[str, str]) -> None:
        self.id = attrs.get("id", "")
        self.action = attrs.get("action", "")
        self.method = attrs.get("method", "get").lower()
        self.fields: dict[str, str] = {}
        self.has_password = False


class _PageParser(html.parser.HTMLParser):
    """The forms of a page (id, action, fields), and its visible text for error messages."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[_Form] = []
        self.text: list[str] = []
        self._form: _Form | None = None
        self._hidden = 0  # inside <style>/<script>: not visible text
        self.errors: list[str] = []  # the text of elements with class "error"
        self._error_tag = ""

    def handle_starttag(self, tag: str, attrs_list: list[tuple[str, str | None]]) -> None:
        attrs = {k: v or "" for k, v in attrs_list}
        if "error" in attrs.get("class", "").split():
            self._error_tag = tag
        if tag in ("style", "script"):
            self._hidden += 1
        elif tag == "form":
            self._form = _Form(attrs)
            self.forms.append(self._form)
        elif tag == "input" and self._form is not None and attrs.get("name"):
            self._form.fields[attrs["name"]] = attrs.get("value", "")
            if attrs.get("type") == "password":
                self._form.has_password = True

    def handle_endtag(self, tag: str) -> None:
        if tag == self._error_tag:
            self._error_tag = ""
        if tag in ("style", "script"):
            self._hidden = max(0, self._hidden - 1)
        elif tag == "form":
            self._form = None

    def handle_data(self, data: str) -> None:
        if data.strip() and not self._hidden:
            self.text.append(data.strip())
            if self._error_tag:
                self.errors.append(data.strip())


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None  # every redirect is looked at (and followed) by Person


def _same_endpoint(url: str, redirect_uri: str) -> bool:
    a, b = urllib.parse.urlsplit(url), urllib.parse.urlsplit(redirect_uri)
    return (a.scheme, a.netloc, a.path or "/") == (b.scheme, b.netloc, b.path or "/")


class Person:
    """One browser session (its own cookie jar) of one user."""

    def __init__(
        self,
        user: str = DEFAULT_USER,
        password: str = DEFAULT_PASSWORD,
        *,
        ca_file: str | None = None,
        deny: bool = False,
        log: IO[str] | None = None,
    ) -> None:
        self.user = user
        self.password = password
        self.deny = deny
        self.log = log
        context = ssl.create_default_context(cafile=ca_file)
        self.cookies = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({}),  # loopback only: never through a proxy
            urllib.request.HTTPSHandler(context=context),
            urllib.request.HTTPCookieProcessor(self.cookies),
            _NoRedirect(),
        )

    def _note(self, line: str) -> None:
        if self.log is not None:
            self.log.write(line + "\n")
            self.log.flush()

    def _open(self, url: str, form: dict[str, str] | None = None) -> tuple[int, str, str]:
        """(status, Location or "", body) of one request; HTTP errors are answers too."""
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        request = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET")
        self._note(f"{request.get_method()} {url}")
        try:
            with self.opener.open(request, timeout=30) as resp:
                return resp.status, resp.headers.get("Location", ""), resp.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as exc:
            body = exc.read().decode("utf-8", "replace")
            location = exc.headers.get("Location", "") if exc.headers else ""
            exc.close()
            return exc.code, location, body

    def authorize(self, auth_url: str) -> str:
        """Go from the authorization URL to the redirect back to the client; return that URL
        (not requested: ``deliver`` does that)."""
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(auth_url).query)
        redirect_uri = query.get("redirect_uri", [""])[0]
        if not redirect_uri:
            raise BrowserError("the authorization URL has no redirect_uri")
        url, form = auth_url, None
        logins = 0
        for _ in range(MAX_STEPS):
            status, location, body = self._open(url, form)
            form = None
            if 300 <= status < 400 and location:
                url = urllib.parse.urljoin(url, location)
                if _same_endpoint(url, redirect_uri):
                    self._note(f"redirected back to {url}")
                    return url
                continue
            page = _PageParser()
            page.feed(body)
            forms = {f.id: f for f in page.forms}
            login = next((f for f in page.forms if f.has_password), None)
            if login is not None:
                if logins:
                    reason = " ".join(page.errors or page.text)
                    raise BrowserError(f"login refused for {self.user}: {reason}")
                logins += 1
                fields = dict(login.fields, login=self.user, password=self.password)
                url, form = urllib.parse.urljoin(url, login.action), fields
                continue
            if "consent" in forms:
                chosen = forms.get("abort") if self.deny else forms["consent"]
                if chosen is None:
                    raise BrowserError("the consent page has no Cancel button")
                url, form = urllib.parse.urljoin(url, chosen.action), dict(chosen.fields)
                continue
            raise BrowserError(f"unexpected page (HTTP {status}) at {url}: {' '.join(page.text)[:300]}")
        raise BrowserError(f"no redirect back to {redirect_uri} after {MAX_STEPS} steps")

    def deliver(self, redirect_url: str) -> tuple[int, str]:
        """GET the redirect (the client's loopback listener): (status, body)."""
        status, _, body = self._open(redirect_url)
        self._note(f"listener answered {status}")
        return status, body


def tamper_state(redirect_url: str) -> str:
    parts = urllib.parse.urlsplit(redirect_url)
    query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    query = [(k, v + "-tampered" if k == "state" else v) for k, v in query]
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: browser.py AUTHORIZATION_URL", file=sys.stderr)
        return 2
    mode = os.environ.get("OIDC_TEST_BROWSER_MODE", "normal")
    if mode not in ("normal", "deny", "tamper-state", "never"):
        print(f"browser.py: unknown OIDC_TEST_BROWSER_MODE {mode!r}", file=sys.stderr)
        return 2
    log_path = os.environ.get("OIDC_TEST_BROWSER_LOG")
    log = open(log_path, "a", encoding="utf-8") if log_path else None  # noqa: SIM115
    try:
        if log is not None:
            log.write(f"mode {mode} url {argv[1]}\n")
        if mode == "never":
            return 0
        person = Person(
            os.environ.get("OIDC_TEST_USER", DEFAULT_USER),
            os.environ.get("OIDC_TEST_PASSWORD", DEFAULT_PASSWORD),
            ca_file=os.environ.get("OIDC_TEST_CA_FILE") or None,
            deny=mode == "deny",
            log=log,
        )
        redirect = person.authorize(argv[1])
        if mode == "tamper-state":
            redirect = tamper_state(redirect)
        person.deliver(redirect)
        return 0
    except (BrowserError, OSError) as exc:
        print(f"browser.py: {exc}", file=sys.stderr)
        return 2
    finally:
        if log is not None:
            log.close()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
