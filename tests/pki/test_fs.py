"""stepca._fs: atomic writes with their final mode from the first byte, password files, STEPPATH."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from stepca import _fs


def test_atomic_write_never_exposes_a_wider_mode_or_partial_content(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "secret_key"
    target.write_bytes(b"old content")
    target.chmod(0o644)
    seen: list[tuple[int, bytes, bytes]] = []
    real_replace = os.replace

    def spy(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        # just before the swap: the new file is complete and private, the old one untouched
        seen.append((stat.S_IMODE(os.stat(src).st_mode), Path(src).read_bytes(), Path(dst).read_bytes()))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    old_umask = os.umask(0)  # the mode must not depend on the umask
    try:
        _fs.atomic_write(target, b"new content", _fs.SECRET_FILE_MODE)
    finally:
        os.umask(old_umask)
    assert seen == [(0o600, b"new content", b"old content")]
    assert target.read_bytes() == b"new content"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["secret_key"]


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "key"
    target.write_bytes(b"keep")

    def broken_fsync(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="No space"):
        _fs.atomic_write(target, b"lost", 0o600)
    assert target.read_bytes() == b"keep"
    assert [p.name for p in tmp_path.iterdir()] == ["key"]


def test_atomic_write_refuses_directories_and_missing_folders(tmp_path: Path) -> None:
    with pytest.raises(OSError, match="it is a directory"):
        _fs.atomic_write(tmp_path, b"x")
    with pytest.raises(OSError, match="does not exist"):
        _fs.atomic_write(tmp_path / "no" / "file", b"x")


@pytest.mark.parametrize(
    ("content", "expected"),
    [(b"secret\n", b"secret"), (b"secret\r\n", b"secret"), (b"sec ret \n\n", b"sec ret "), (b"", b"")],
)
def test_password_files_lose_only_the_line_end(tmp_path: Path, content: bytes, expected: bytes) -> None:
    path = tmp_path / "pw"
    path.write_bytes(content)
    assert _fs.read_password_file(path) == expected


def test_password_and_plain_file_errors_are_one_line(tmp_path: Path) -> None:
    for call in (_fs.read_password_file, _fs.read_file):
        with pytest.raises(OSError, match="does not exist"):
            call(tmp_path / "missing")
        with pytest.raises(OSError, match="is a directory"):
            call(tmp_path)


def test_step_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("STEPPATH", str(tmp_path / "custom"))
    assert _fs.step_path() == tmp_path / "custom"
    monkeypatch.delenv("STEPPATH")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert _fs.step_path() == tmp_path / "home" / ".step"
    monkeypatch.setenv("STEPPATH", "~/elsewhere")
    assert _fs.step_path() == tmp_path / "home" / "elsewhere"


def test_ensure_dir_sets_the_mode(tmp_path: Path) -> None:
    made = _fs.ensure_dir(tmp_path / "a" / "b", 0o700)
    assert stat.S_IMODE(made.stat().st_mode) == 0o700
    made.chmod(0o755)
    _fs.ensure_dir(made, 0o700)
    assert stat.S_IMODE(made.stat().st_mode) == 0o700
