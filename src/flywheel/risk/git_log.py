"""Reading a repository with plain `git log -z --raw` / `--numstat` and `git cat-file --batch`.

The whole history is walked once with `--raw` (which files each commit touched: cheap, no
content diff); line counts (`--numstat`) are asked only for the commits being measured.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from flywheel.errors import InvalidInput

_COMMON = (
    "-c",
    "log.showSignature=false",
    "-c",
    "log.showRoot=true",
    "log",
    "-z",
    "--no-merges",
    "-M",
    "--no-color",
    "--no-ext-diff",
    "--no-textconv",
    "--no-relative",
)
# One header per commit: sha, author time, mailmapped author name and e-mail, message.
_HISTORY = (*_COMMON, "--date-order", "--reverse", "--raw", "--no-abbrev")
_HISTORY_FORMAT = "--format=%x1e%H%x1f%at%x1f%aN%x1f%aE%x1f%B"
_NUMSTAT = (*_COMMON, "--numstat", "--format=%x1e%H")
# Variables that would point git at another repository than the one asked for.
_REPO_ENV = frozenset(
    {
        "GIT_DIR",
        "GIT_WORK_TREE",
        "GIT_INDEX_FILE",
        "GIT_OBJECT_DIRECTORY",
        "GIT_ALTERNATE_OBJECT_DIRECTORIES",
        "GIT_COMMON_DIR",
        "GIT_NAMESPACE",
    }
)
_NULL_SHA = "0" * 40
_CHUNK = 1 << 16
_NO_GIT = "git is not installed (no `git` on PATH)"


@dataclass(frozen=True, slots=True)
class FileChange:
    """A file a commit touched: its path, its path before (renames) and its old regular blob."""

    path: str
    source: str
    old_blob: str | None


@dataclass(frozen=True, slots=True)
class Commit:
    """A non-merge commit with its author, author time (Unix seconds), message and files."""

    sha: str
    time: int
    author: str
    message: str
    files: tuple[FileChange, ...]


@dataclass(frozen=True, slots=True)
class LineCount:
    """Lines added and deleted in one file by one commit; a binary file has none."""

    added: int
    deleted: int
    binary: bool


@dataclass(frozen=True, slots=True)
class Selection:
    """What to read for a revision: the tips whose history to walk and the commits to measure."""

    tips: list[str]
    log_args: list[str]


def _env() -> dict[str, str]:
    """The environment for git, without variables that redirect it to another repository."""
    return {key: value for key, value in os.environ.items() if key not in _REPO_ENV}


def _git(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run a short git command in repo and capture its output."""
    try:
        return subprocess.run(
            ["git", "-C", str(repo), *args],
            capture_output=True,
            text=True,
            errors="replace",
            env=_env(),
            check=False,
        )
    except FileNotFoundError as exc:
        raise InvalidInput(_NO_GIT) from exc


def _first_line(text: str) -> str:
    """The first non-empty line of git's error output."""
    return next((line.strip() for line in text.splitlines() if line.strip()), "unknown error")


def open_repo(repo: str | Path) -> Path:
    """The repository's path, checked to be a git repository."""
    path = Path(repo).expanduser()
    if not path.exists():
        raise InvalidInput(f"repository path {str(path)!r} does not exist")
    if not path.is_dir():
        raise InvalidInput(f"repository path {str(path)!r} is not a directory")
    result = _git(path, "rev-parse", "--git-dir")
    if result.returncode != 0:
        detail = _first_line(result.stderr)
        raise InvalidInput(f"{str(path)!r} is not a git repository ({detail})")
    return path


def resolve(repo: Path, rev: str) -> Selection:
    """The history and the commits to read for rev: one commit, or a range such as A..B."""
    if not rev.strip() or rev.startswith("-") or "\0" in rev or "\n" in rev:
        raise InvalidInput(f"invalid revision {rev!r}: give a commit or a range such as A..B")
    if ".." not in rev:
        sha = _rev_parse(repo, rev, "--verify", "--quiet", f"{rev}^{{commit}}")[0]
        return Selection(tips=[sha], log_args=["--no-walk", sha])
    tips = [line for line in _rev_parse(repo, rev, rev) if not line.startswith("^")]
    return Selection(tips=tips, log_args=[rev])


def _rev_parse(repo: Path, rev: str, *args: str) -> list[str]:
    """The lines `git rev-parse` prints for args, or a clear error naming rev."""
    result = _git(repo, "rev-parse", *args)
    lines = result.stdout.split()
    if result.returncode != 0 or not lines:
        detail = _first_line(result.stderr) if result.stderr.strip() else "not a commit"
        raise InvalidInput(f"revision {rev!r} does not exist in {str(repo)!r} ({detail})")
    return lines


def _tokens(repo: Path, args: Iterable[str]) -> Iterator[bytes]:
    """The NUL-separated fields that a `git log -z` run prints, streamed."""
    with tempfile.TemporaryFile() as stderr:
        try:
            proc = subprocess.Popen(
                ["git", "-C", str(repo), *args, "--"],
                stdout=subprocess.PIPE,
                stderr=stderr,
                env=_env(),
            )
        except FileNotFoundError as exc:
            raise InvalidInput(_NO_GIT) from exc
        assert proc.stdout is not None
        with proc:
            yield from _split(proc.stdout)
        if proc.returncode != 0:
            stderr.seek(0)
            message = _first_line(stderr.read().decode("utf-8", "replace"))
            raise InvalidInput(f"git log failed in {str(repo)!r}: {message}")


def _split(stream: IO[bytes]) -> Iterator[bytes]:
    """The NUL-separated fields of a stream, read in chunks."""
    rest = b""
    while chunk := stream.read(_CHUNK):
        parts = (rest + chunk).split(b"\0")
        rest = parts.pop()
        yield from parts
    if rest:
        yield rest


def _text(raw: bytes) -> str:
    """A path as text; undecodable bytes survive as surrogates so distinct paths stay distinct."""
    return raw.decode("utf-8", "surrogateescape")


def iter_commits(repo: Path, tips: list[str]) -> Iterator[Commit]:
    """Every non-merge commit reachable from tips, parents before children, in one git run."""
    tokens = _tokens(repo, [*_HISTORY, _HISTORY_FORMAT, *tips])
    header: list[str] | None = None
    files: list[FileChange] = []
    for token in tokens:
        field = token.lstrip(b"\n")  # git puts a newline between a header and its records
        if field.startswith(b"\x1e"):
            if header is not None:
                yield _commit(header, files)
            header, files = field[1:].decode("utf-8", "replace").split("\x1f", 4), []
        elif field.startswith(b":"):
            files.append(_raw(field, tokens))
    if header is not None:
        yield _commit(header, files)


def _raw(field: bytes, tokens: Iterator[bytes]) -> FileChange:
    """A `--raw` record (`:oldmode newmode oldsha newsha status`) and its path field(s)."""
    old_mode, _new_mode, old_sha, _new_sha, status = field[1:].decode("ascii").split(" ")
    source = path = _text(next(tokens, b""))
    if status[0] in "RC":
        path = _text(next(tokens, b""))
    existed = old_sha != _NULL_SHA and old_mode.startswith("100")
    return FileChange(path=path, source=source, old_blob=old_sha if existed else None)


def _commit(header: list[str], files: list[FileChange]) -> Commit:
    """A commit from its header fields and its files."""
    sha, time, name, email, message = header
    author = email.strip().lower() or name.strip()
    return Commit(sha=sha, time=int(time), author=author, message=message, files=tuple(files))


def line_counts(repo: Path, selection: Selection) -> dict[str, dict[str, LineCount]]:
    """Lines added and deleted per file (by new path) of each selected non-merge commit."""
    counts: dict[str, dict[str, LineCount]] = {}
    tokens = _tokens(repo, [*_NUMSTAT, *selection.log_args])
    files: dict[str, LineCount] = {}
    for token in tokens:
        field = token.lstrip(b"\n")
        if field.startswith(b"\x1e"):
            files = counts.setdefault(field[1:].decode("ascii").strip(), {})
        elif field:
            added, deleted, path = field.split(b"\t", 2)
            if not path:
                next(tokens, b"")
                path = next(tokens, b"")
            binary = added == b"-"
            files[_text(path)] = LineCount(
                added=0 if binary else int(added),
                deleted=0 if binary else int(deleted),
                binary=binary,
            )
    return counts


def count_lines(repo: Path, blobs: Iterable[str]) -> dict[str, int]:
    """The number of lines of each blob, read in one `git cat-file --batch` run."""
    wanted = list(dict.fromkeys(blobs))  # history order keeps git's delta base cache warm
    if not wanted:
        return {}
    proc = subprocess.Popen(
        ["git", "-C", str(repo), "cat-file", "--batch"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=_env(),
    )
    assert proc.stdin is not None and proc.stdout is not None
    writer = threading.Thread(target=_write_lines, args=(proc.stdin, wanted), daemon=True)
    writer.start()
    with proc:
        counts = {sha: _blob_lines(proc.stdout) for sha in wanted}
    writer.join()
    return counts


def _write_lines(stream: IO[bytes], lines: list[str]) -> None:
    """Write one request per line and close the stream (run in a thread to avoid a deadlock)."""
    with stream:
        for line in lines:
            stream.write(f"{line}\n".encode("ascii"))


def _blob_lines(stream: IO[bytes]) -> int:
    """Read one `cat-file --batch` answer and count its lines (a last line without \\n counts)."""
    header = stream.readline().split()
    if len(header) != 3:
        return 0
    remaining = int(header[2])
    lines, last = 0, b"\n"
    while remaining:
        chunk = stream.read(min(remaining, _CHUNK))
        if not chunk:
            break
        lines += chunk.count(b"\n")
        last = chunk[-1:]
        remaining -= len(chunk)
    stream.read(1)
    return lines + (last != b"\n")
