"""File helpers: atomic writes with explicit modes, password files, STEPPATH."""

from __future__ import annotations

import os

TYPE_CHECKING = False  # not typing's: importing typing costs `step path` milliseconds (mypy knows the name)
if TYPE_CHECKING:  # pathlib is imported where it is used: `step certificate fingerprint` starts faster
    from pathlib import Path

SECRET_FILE_MODE = 0o600
SECRET_DIR_MODE = 0o700
PUBLIC_FILE_MODE = 0o644
PUBLIC_DIR_MODE = 0o755


def step_path() -> Path:
    """The STEPPATH directory: ``$STEPPATH`` or ``~/.step``."""
    from pathlib import Path

    env = os.environ.get("STEPPATH")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".step"


def step_path_text() -> str:
    """``str(step_path())`` without importing pathlib (for `step path`, which scripts call in
    loops): the same expansion and the same normalization as ``PurePosixPath``'s."""
    env = os.environ.get("STEPPATH")
    if env:
        return _posix_normal(os.path.expanduser(env))
    return _posix_normal(os.path.join(os.path.expanduser("~"), ".step"))


def _posix_normal(text: str) -> str:
    """What ``str(PurePosixPath(text))`` gives: empty and ``.`` parts dropped, ``..`` kept,
    one leading slash (two when exactly two lead, as POSIX allows)."""
    lead = (
        "//" if text.startswith("//") and not text.startswith("///") else "/" if text.startswith("/") else ""
    )
    parts = [p for p in text.split("/") if p and p != "."]
    return lead + "/".join(parts) or "."


def ensure_dir(path: Path, mode: int = PUBLIC_DIR_MODE) -> Path:
    path.mkdir(parents=True, exist_ok=True, mode=mode)
    os.chmod(path, mode)
    return path


def atomic_write(path: Path | str, data: bytes | str, mode: int = PUBLIC_FILE_MODE) -> None:
    """Write ``data`` to ``path`` atomically: temp file in the same directory, fsync, rename.

    The file never exists with partial content or with a wider mode than ``mode``.
    """
    from pathlib import Path

    path = Path(path)
    if isinstance(data, str):
        data = data.encode()
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir():
        raise OSError(f"cannot write {path}: directory {directory} does not exist")
    if path.is_dir():
        raise OSError(f"cannot write {path}: it is a directory")
    tmp = directory / f".{path.name}.tmp{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:  # noqa: SIM105 - contextlib costs start-up time
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    try:
        dfd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dfd)
    except OSError:
        pass
    finally:
        os.close(dfd)


def read_password_file(path: str | Path) -> bytes:
    """Read a password file as step does: the content without trailing CR/LF."""
    try:
        data = _read_bytes(path)
    except FileNotFoundError:
        raise OSError(f"password file {path} does not exist") from None
    except IsADirectoryError:
        raise OSError(f"password file {path} is a directory") from None
    except PermissionError:
        raise OSError(f"password file {path}: permission denied") from None
    return data.rstrip(b"\r\n")


def read_file(path: str | Path, what: str = "file") -> bytes:
    """Read a file, turning OS errors into one-line messages."""
    try:
        return _read_bytes(path)
    except FileNotFoundError:
        raise OSError(f"{what} {path} does not exist") from None
    except IsADirectoryError:
        raise OSError(f"{what} {path} is a directory") from None
    except PermissionError:
        raise OSError(f"{what} {path}: permission denied") from None


def _read_bytes(path: str | Path) -> bytes:
    with open(os.path.expanduser(os.fspath(path)), "rb") as fh:
        return fh.read()
