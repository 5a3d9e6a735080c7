"""The one reason-code rule: the CLI flag, the API bodies and the authority read the same table."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from stepca.errors import BadRequest
from stepca.reasons import REASON_CODES, Reason, check_reason_code, reason_from_flag
from tests.helpers import assert_one_line_error, free_port, run_step


@pytest.mark.parametrize(
    ("text", "code"),
    [
        (None, 0),
        ("", 0),
        ("keyCompromise", 1),
        ("KeyCompromise", 1),
        ("key-compromise", 1),
        ("key_compromise", 1),
        ("cACompromise", 2),
        ("removeFromCRL", 8),
        ("aACompromise", 10),
        ("1", 1),
        ("10", 10),
    ],
)
def test_flag(text: str | None, code: int) -> None:
    assert reason_from_flag(text) == code


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("7", "flag --reasonCode: 7 is not an RFC 5280 reason code (0-6, 8-10)"),
        ("11", "flag --reasonCode: 11 is not an RFC 5280 reason code (0-6, 8-10)"),
        ("stolen", "flag --reasonCode: unknown reason 'stolen'"),
    ],
)
def test_flag_refusals(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        reason_from_flag(text)


def test_every_rfc_name_reads_back() -> None:
    assert {reason_from_flag(r.rfc_name) for r in Reason} == set(Reason)
    assert {0, 1, 2, 3, 4, 5, 6, 8, 9, 10} == REASON_CODES


@pytest.mark.parametrize(
    ("value", "detail"),
    [
        ("1", "reasonCode must be an integer"),
        (False, "reasonCode must be an integer"),
        (1.0, "reasonCode must be an integer"),
        (-1, "reasonCode out of bounds"),
        (11, "reasonCode out of bounds"),
        (7, "reasonCode 7 is not a valid RFC 5280 CRLReason"),
    ],
)
def test_api_rule_refusals(value: object, detail: str) -> None:
    with pytest.raises(BadRequest) as info:
        check_reason_code(value)
    assert info.value.detail == detail


def test_api_rule_accepts() -> None:
    assert check_reason_code(None) is Reason.UNSPECIFIED
    assert [check_reason_code(c) for c in sorted(REASON_CODES)] == sorted(Reason)


@pytest.mark.parametrize(
    ("command", "flag", "message"),
    [
        (["ca", "revoke", "123"], "7", "flag --reasonCode: 7 is not an RFC 5280 reason code (0-6, 8-10)"),
        (["ssh", "revoke", "123"], "11", "flag --reasonCode: 11 is not an RFC 5280 reason code (0-6, 8-10)"),
    ],
)
def test_cli_refuses_a_bad_reason_before_contacting_the_ca(
    tmp_path: Path, command: list[str], flag: str, message: str
) -> None:
    root = tmp_path / "root.crt"
    root.write_text("not used: the flag is refused first\n")
    env = {**os.environ, "STEPPATH": str(tmp_path), "HOME": str(tmp_path)}
    args = [
        *command,
        "--reasonCode",
        flag,
        "--ca-url",
        f"https://127.0.0.1:{free_port()}",
        "--root",
        str(root),
    ]
    assert assert_one_line_error(run_step(args, env, check=False)) == message
