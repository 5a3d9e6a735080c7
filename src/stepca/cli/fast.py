"""The hottest read-only commands without click: `step path` and `step certificate fingerprint`.

Scripts call these in loops, so they answer in about the time Python takes to start. Only the
exact forms below are handled here; anything else (``--help``, unknown flags, other commands)
goes to the full click command line, which gives the same output for these forms.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

FORMATS = ("hex", "base64", "base64-url")


def fingerprint_lines(data: bytes, *, bundle: bool, fmt: str) -> list[str]:
    """SHA-256 fingerprints of the certificate(s) in ``data``; ValueError when there are none."""
    from stepca.crypto.pem import certificate_ders

    sha256 = _sha256()
    ders = certificate_ders(data)
    lines = []
    for der in ders if bundle else ders[:1]:
        digest = sha256(der).digest()
        if fmt == "hex":
            lines.append(digest.hex())
        else:
            import base64

            if fmt == "base64":
                lines.append(base64.b64encode(digest).decode())
            else:
                lines.append(base64.urlsafe_b64encode(digest).decode().rstrip("="))
    return lines


def _sha256() -> Any:
    """SHA-256 from CPython's own module when it has one: ``hashlib`` loads OpenSSL first,
    several milliseconds of a command that takes tens."""
    try:
        from _sha256 import sha256  # type: ignore[import-not-found]  # CPython 3.11
    except ImportError:
        try:
            from _sha2 import sha256  # type: ignore[import-not-found]  # CPython 3.12+
        except ImportError:
            from hashlib import sha256
    return sha256


def _parse_fingerprint(args: list[str]) -> tuple[str, bool, str] | None:
    path: str | None = None
    bundle = False
    fmt = "hex"
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--bundle":
            bundle = True
        elif arg == "--format" and i + 1 < len(args) and args[i + 1] in FORMATS:
            fmt = args[i + 1]
            i += 1
        elif arg.startswith("--format=") and arg.split("=", 1)[1] in FORMATS:
            fmt = arg.split("=", 1)[1]
        elif (arg == "-" or not arg.startswith("-")) and path is None:
            path = arg
        else:
            return None  # anything unusual: let click parse it and explain
        i += 1
    return (path, bundle, fmt) if path is not None else None


def run(argv: list[str]) -> int | None:
    """Run ``argv`` if it is a fast form; None otherwise."""
    if argv == ["path"]:
        from stepca._fs import step_path_text

        sys.stdout.write(f"{step_path_text()}\n")
        return 0
    if len(argv) >= 3 and argv[0] == "certificate" and argv[1] == "fingerprint":
        parsed = _parse_fingerprint(argv[2:])
        if parsed is None:
            return None
        path, bundle, fmt = parsed
        from stepca._fs import read_file

        try:
            data = sys.stdin.buffer.read() if path == "-" else read_file(path, "file")
            lines = fingerprint_lines(data, bundle=bundle, fmt=fmt)
        except ValueError as exc:
            sys.stderr.write(f"{path}: {exc}\n")
            return 1
        except OSError as exc:
            sys.stderr.write(f"{exc}\n")
            return 1
        sys.stdout.write("".join(f"{line}\n" for line in lines))
        return 0
    return None
