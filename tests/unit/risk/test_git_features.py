"""Kamei et al. change metrics from a small git repository that each test module builds."""

from __future__ import annotations

import os
import random
import subprocess
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from flywheel.errors import InvalidInput
from flywheel.risk.git_features import METRICS, change_metrics, entropy, is_fix

T0 = 1_700_000_000  # 2023-11-14 22:13:20 UTC; "day n" below is T0 + n * 86400
DAY = 86_400
ALICE = ("Alice", "alice@example.com")
BOB = ("Bob", "Bob@Example.com")  # e-mails are compared in lower case
PNG_1 = b"\x89PNG\r\n\x1a\n\x00\x00binary-one"
PNG_2 = b"\x89PNG\r\n\x1a\n\x00\x00binary-two\x00"


def _lines(*names: str) -> bytes:
    """File content with one line per name."""
    return "".join(f"{name}\n" for name in names).encode()


class GitRepo:
    """A repository in a tmp dir whose commits have chosen authors and dates."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.git("init", "-q", "-b", "main")

    def env(self, author: tuple[str, str] = ALICE, day: float = 0) -> dict[str, str]:
        """An environment free of the user's git config, with author, committer and date."""
        stamp = f"@{T0 + int(day * DAY)} +0000"
        name, email = author
        env = {"PATH": os.environ["PATH"], "HOME": str(self.root), "GIT_CONFIG_NOSYSTEM": "1"}
        env["GIT_CONFIG_GLOBAL"] = os.devnull
        for role in ("AUTHOR", "COMMITTER"):
            env |= {f"GIT_{role}_NAME": name, f"GIT_{role}_EMAIL": email, f"GIT_{role}_DATE": stamp}
        return env

    def git(self, *args: str, env: Mapping[str, str] | None = None, data: bytes = b"") -> str:
        """Run git in the repository and return its output."""
        result = subprocess.run(
            ["git", "-C", str(self.root), "-c", "commit.gpgsign=false", *args],
            input=data,
            capture_output=True,
            env=dict(env or self.env()),
            check=True,
        )
        return result.stdout.decode()

    def commit(
        self, author: tuple[str, str], day: float, message: str, files: Mapping[str, bytes | None]
    ) -> str:
        """Write (bytes) or delete (None) files, commit everything and return the sha."""
        for name, content in files.items():
            path = self.root / name
            if content is None:
                path.unlink()
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(content)
        self.git("add", "-A")
        self.git("commit", "-q", "-m", message, env=self.env(author, day))
        return self.git("rev-parse", "HEAD").strip()


@dataclass(frozen=True)
class History:
    """The built repository and the sha of each named commit."""

    repo: GitRepo
    sha: dict[str, str]


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> History:
    """Alice and Bob change two subsystems (core, api), a binary file, a rename and a merge."""
    repo = GitRepo(tmp_path_factory.mktemp("jit") / "repo")
    a_py = [f"a{i}" for i in range(1, 11)]
    sha = {
        "c1": repo.commit(
            ALICE,
            0,
            "Initial import",
            {
                "README.md": _lines("r1", "r2"),
                "core/a.py": _lines(*a_py),
                "core/b.py": _lines("b1", "b2", "b3", "b4", "b5"),
            },
        ),
        "c2": repo.commit(
            BOB,
            10,
            "Add request handler",
            {
                "api/h.py": _lines("h1", "h2", "h3", "h4"),
                "core/a.py": _lines("A1", "A2", *a_py[2:], "a11"),
            },
        ),
        "c3": repo.commit(
            ALICE,
            20,
            "Fix crash in the b parser\n\nThe last line was read twice.",
            {
                "core/b.py": _lines("b1", "b2", "b3", "b4", "c1", "c2", "c3"),
                "api/h.py": _lines("h1", "h2", "h3", "h4", "h5"),
                "api/logo.png": PNG_1,
            },
        ),
        "c4": repo.commit(
            BOB,
            30,
            "Remove b, new logo, move the readme to docs",
            {
                "core/b.py": None,
                "api/logo.png": PNG_2,
                "README.md": None,
                "docs/README.md": _lines("r1", "r2"),
            },
        ),
        "c5": repo.commit(
            ALICE, 31, "Update the docs", {"docs/README.md": _lines("r1", "r2", "r3")}
        ),
    }
    repo.git("checkout", "-q", "-b", "feature")
    sha["c6"] = repo.commit(BOB, 32, "Add util module", {"api/u.py": _lines("u1", "u2", "u3")})
    repo.git("checkout", "-q", "main")
    repo.git("merge", "-q", "--no-ff", "-m", "Merge feature", "feature", env=repo.env(ALICE, 33))
    sha["merge"] = repo.git("rev-parse", "HEAD").strip()
    sha["c8"] = repo.commit(
        ALICE, 34, "Extend util", {"api/u.py": _lines("u1", "u2", "u3", "u4", "u5")}
    )
    return History(repo, sha)


def _rows_by_sha(history: History) -> dict[str, dict[str, object]]:
    """Every commit's metrics: the root commit alone, then the range after it."""
    rows = change_metrics(history.repo.root, history.sha["c1"])
    rows += change_metrics(history.repo.root, f"{history.sha['c1']}..HEAD")
    return {str(row["_id"]): row for row in rows}


# Hand-checked values. Subsystem = top-level directory ("" for the root), entropy in bits of the
# lines changed per file, history counts include the change itself, ages in days.
EXPECTED: dict[str, dict[str, float]] = {
    # README.md (2 lines), core/a.py (10), core/b.py (5), all new. ns {"", core}, nd {"", core}.
    # entropy H(2/17, 10/17, 5/17) = 1.33282; no file existed: lt 0, age 0, ndev {alice} = 1,
    # nuc 0 + itself = 1; alice's first commit: exp 1, rexp 1, sexp 0 + itself = 1.
    "c1": {
        "ns": 2, "nd": 2, "nf": 3, "entropy": 1.3328204045850196,
        "la": 17, "ld": 0, "lt": 0, "fix": 0,
        "ndev": 1, "age": 0.0, "nuc": 1, "exp": 1, "rexp": 1.0, "sexp": 1,
    },
    # api/h.py new (+4); core/a.py: a1, a2 -> A1, A2 and a11 appended (+3 -2). ns/nd {api, core}.
    # entropy H(4/9, 5/9) = 0.99108; lt = a.py's 10 lines; ndev {alice} + bob = 2;
    # age: a.py last changed day 0 -> 10 (h.py is new); nuc {c1} + itself = 2;
    # bob's first commit: exp 1, rexp 1, sexp 1.
    "c2": {
        "ns": 2, "nd": 2, "nf": 2, "entropy": 0.9910760598382222,
        "la": 7, "ld": 2, "lt": 10, "fix": 0,
        "ndev": 2, "age": 10.0, "nuc": 2, "exp": 1, "rexp": 1.0, "sexp": 1,
    },
    # core/b.py b5 -> c1..c3 (+3 -1), api/h.py +1, api/logo.png new binary (0 lines).
    # entropy H(4/5, 1/5) = 0.72193; lt = b.py 5 + h.py 4 = 9; "Fix" -> fix 1;
    # ndev {alice} | {bob} | {alice} = 2; age mean(20 - 0, 20 - 10) = 15; nuc {c1, c2} + 1 = 3;
    # alice: exp 1 + 1 = 2, rexp 1 + 1/(1 + 20) = 1.047619; sexp: c1 touched core -> 1 + 1 = 2.
    "c3": {
        "ns": 2, "nd": 2, "nf": 3, "entropy": 0.7219280948873623,
        "la": 4, "ld": 1, "lt": 9, "fix": 1,
        "ndev": 2, "age": 15.0, "nuc": 3, "exp": 2, "rexp": 1 + 1 / 21, "sexp": 2,
    },
    # core/b.py deleted (-7), api/logo.png binary (0), README.md -> docs/README.md (pure rename,
    # counted once under the new path). ns/nd {core, api, docs} = 3; entropy of one file = 0;
    # lt = b.py 7 + logo 0 + README 2 = 9; authors of b.py, logo, README: {alice} + bob = 2;
    # age mean(30 - 20, 30 - 20, 30 - 0) = 16.667; nuc {c1, c3} + 1 = 3;
    # bob: exp 2, rexp 1 + 1/(1 + 20) (c2 on day 10), sexp: c2 touched api and core -> 2.
    "c4": {
        "ns": 3, "nd": 3, "nf": 3, "entropy": 0.0,
        "la": 0, "ld": 7, "lt": 9, "fix": 0,
        "ndev": 2, "age": 50 / 3, "nuc": 3, "exp": 2, "rexp": 1 + 1 / 21, "sexp": 2,
    },
    # docs/README.md +1. Its history followed the rename: authors {alice (c1), bob (c4)} = 2,
    # changes {c1, c4} + 1 = 3, last change day 30 -> age 1; lt 2.
    # alice: exp 3, rexp 1 + 1/(1 + 31) + 1/(1 + 11) = 1.114583; sexp: never touched docs -> 1.
    "c5": {
        "ns": 1, "nd": 1, "nf": 1, "entropy": 0.0,
        "la": 1, "ld": 0, "lt": 2, "fix": 0,
        "ndev": 2, "age": 1.0, "nuc": 3, "exp": 3,
        "rexp": 1 + 1 / 32 + 1 / 12, "sexp": 1,
    },
    # After bob's api/u.py (c6, day 32, on a branch) and alice's merge (day 33, skipped):
    # api/u.py +2, lt 3; ndev {bob} + alice = 2; age 34 - 32 = 2; nuc {c6} + 1 = 2;
    # alice: c1, c3, c5 (not the merge) -> exp 4, rexp 1 + 1/35 + 1/15 + 1/4 = 1.345238;
    # sexp: c3 touched api -> 2.
    "c8": {
        "ns": 1, "nd": 1, "nf": 1, "entropy": 0.0,
        "la": 2, "ld": 0, "lt": 3, "fix": 0,
        "ndev": 2, "age": 2.0, "nuc": 2, "exp": 4,
        "rexp": 1 + 1 / 35 + 1 / 15 + 1 / 4, "sexp": 2,
    },
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_metric_matches_the_hand_calculation(history: History, name: str) -> None:
    row = _rows_by_sha(history)[history.sha[name]]
    assert {metric: row[metric] for metric in METRICS} == pytest.approx(EXPECTED[name])
    assert isinstance(row["fix"], int)


def test_rows_carry_sha_author_time_and_keys_in_order(history: History) -> None:
    (row,) = change_metrics(history.repo.root, history.sha["c2"])
    assert list(row) == ["_id", "date", "author", *METRICS]
    assert row["_id"] == history.sha["c2"]
    assert row["date"] == T0 + 10 * DAY
    assert row["author"] == "bob@example.com"


def test_a_range_returns_only_its_commits_oldest_first_with_all_history(
    history: History,
) -> None:
    sha = history.sha
    rows = change_metrics(history.repo.root, f"{sha['c2']}..{sha['c5']}")
    assert [row["_id"] for row in rows] == [sha["c3"], sha["c4"], sha["c5"]]
    everything = _rows_by_sha(history)
    assert rows == [everything[str(row["_id"])] for row in rows]
    assert change_metrics(history.repo.root, "main..main") == []


def test_the_full_history_skips_the_merge_commit(history: History) -> None:
    rows = change_metrics(history.repo.root, f"{history.sha['c1']}..main")
    names = {sha: name for name, sha in history.sha.items()}
    assert [names[str(row["_id"])] for row in rows] == ["c2", "c3", "c4", "c5", "c6", "c8"]
    assert change_metrics(history.repo.root, history.sha["merge"]) == []


def test_a_single_revision_is_that_commit_only(history: History) -> None:
    by_sha = _rows_by_sha(history)
    assert change_metrics(history.repo.root, history.sha["c3"]) == [by_sha[history.sha["c3"]]]
    assert change_metrics(history.repo.root, "feature") == [by_sha[history.sha["c6"]]]
    short = history.sha["c4"][:8]
    assert change_metrics(str(history.repo.root), short) == [by_sha[history.sha["c4"]]]
    # From a subdirectory of the work tree, git still reads the whole repository.
    assert change_metrics(history.repo.root / "api", short) == [by_sha[history.sha["c4"]]]


@pytest.mark.parametrize(
    ("message", "fix"),
    [
        ("Fix crash on empty input", True),
        ("fixes #12", True),
        ("Closes-Bug: #1234567", True),
        ("hotfix for the login page", True),
        ("Patched the defect in the parser", True),
        ("bugfix: off by one", True),
        ("Add test fixtures", False),
        ("Strip the prefix from keys", False),
        ("More debug logging", False),
        ("Refactor the dispatcher", False),
    ],
)
def test_fix_keywords(message: str, fix: bool) -> None:
    assert is_fix(message) is fix


def test_entropy_is_in_bits_and_not_normalised() -> None:
    assert entropy([5, 5, 5, 5]) == pytest.approx(2.0)
    assert entropy([7]) == 0.0
    assert entropy([0, 0]) == 0.0
    assert entropy([3, 0]) == 0.0


def test_odd_file_names_and_a_last_line_without_newline(tmp_path: Path) -> None:
    repo = GitRepo(tmp_path / "odd")
    repo.commit(ALICE, 0, "Add", {"we ird\tname.txt": b"x\ny", "ünï/ç.txt": b"one\n"})
    sha = repo.commit(BOB, 1, "Edit", {"we ird\tname.txt": b"x\ny\nz\n", "ünï/ç.txt": b"two\n"})
    (row,) = change_metrics(repo.root, sha)
    # "y" without a newline became "y\n" plus "z": numstat -1 +2; ç.txt -1 +1; lt = 2 + 1.
    assert (row["nf"], row["ns"], row["nd"], row["la"], row["ld"], row["lt"]) == (2, 2, 2, 3, 2, 3)
    assert (row["ndev"], row["nuc"], row["age"]) == (2, 2, 1.0)


def test_a_file_moved_and_edited_keeps_its_history(tmp_path: Path) -> None:
    repo = GitRepo(tmp_path / "move")
    content = [f"line {i}" for i in range(10)]
    repo.commit(ALICE, 0, "Add", {"old/x.py": _lines(*content)})
    edited = _lines(*content[:-1], "line nine")
    sha = repo.commit(BOB, 2, "Move x", {"old/x.py": None, "new/x.py": edited})
    (row,) = change_metrics(repo.root, sha)
    # One file (new/x.py, subsystem "new"), -1 +1 against the 10 old lines, history from old/x.py.
    assert {m: row[m] for m in ("nf", "ns", "nd", "la", "ld", "lt", "ndev", "nuc", "age")} == {
        "nf": 1, "ns": 1, "nd": 1, "la": 1, "ld": 1, "lt": 10, "ndev": 2, "nuc": 2, "age": 2.0,
    }  # fmt: skip


def test_an_empty_commit_has_no_files_but_counts_as_experience(tmp_path: Path) -> None:
    repo = GitRepo(tmp_path / "empty")
    repo.commit(ALICE, 0, "Add", {"a.txt": b"a\n"})
    repo.git("commit", "-q", "--allow-empty", "-m", "Nothing", env=repo.env(ALICE, 1))
    (row,) = change_metrics(repo.root, "HEAD")
    assert {m: row[m] for m in ("nf", "ns", "la", "ndev", "nuc", "sexp", "exp")} == {
        "nf": 0, "ns": 0, "la": 0, "ndev": 0, "nuc": 0, "sexp": 0, "exp": 2,
    }  # fmt: skip


@pytest.mark.parametrize(
    ("rev", "message"),
    [
        ("nope", "revision 'nope' does not exist"),
        ("deadbeef..HEAD", "revision 'deadbeef..HEAD' does not exist"),
        ("HEAD..nope", "revision 'HEAD..nope' does not exist"),
        ("--all", "invalid revision"),
        ("", "invalid revision"),
        ("HEAD\nHEAD", "invalid revision"),
    ],
)
def test_a_bad_revision_is_a_clear_error(history: History, rev: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        change_metrics(history.repo.root, rev)


def test_a_path_that_is_not_a_repository_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="is not a git repository"):
        change_metrics(tmp_path, "HEAD")
    with pytest.raises(InvalidInput, match="does not exist"):
        change_metrics(tmp_path / "missing", "HEAD")
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(InvalidInput, match="is not a directory"):
        change_metrics(tmp_path / "file.txt", "HEAD")
    with pytest.raises(InvalidInput, match="revision 'HEAD' does not exist"):
        change_metrics(GitRepo(tmp_path / "no-commits").root, "HEAD")


def test_git_missing_is_a_clear_error(
    history: History, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(InvalidInput, match="git is not installed"):
        change_metrics(history.repo.root, "HEAD")


def _fast_import_stream(commits: int, seed: int = 7) -> tuple[bytes, Counter[str]]:
    """A `git fast-import` stream of commits by three authors over 12 files in 3 subsystems."""
    rng = random.Random(seed)
    authors = [("Ann", "ann@x.org"), ("Ben", "ben@x.org"), ("Cy", "cy@x.org")]
    names = [f"{part}/f{i}.py" for part in ("core", "api", "ui") for i in range(4)]
    files: dict[str, list[str]] = {name: [] for name in names}
    stream, per_author = [], Counter[str]()
    for n in range(commits):
        name, email = rng.choice(authors)
        per_author[email] += 1
        ops = []
        for path in rng.sample(sorted(files), rng.randint(1, 3)):
            lines = files[path]
            if lines and rng.random() < 0.3:
                lines.pop(rng.randrange(len(lines)))
            lines.extend(f"line {n}.{k}" for k in range(rng.randint(1, 5)))
            body = "".join(f"{line}\n" for line in lines).encode()
            ops.append(b"M 100644 inline %s\ndata %d\n%s\n" % (path.encode(), len(body), body))
        message = f"Change {n}" + (" fixes a bug" if n % 5 == 0 else "")
        stamp = f"{T0 + n * 3600} +0000"
        stream.append(
            f"commit refs/heads/main\nauthor {name} <{email}> {stamp}\n"
            f"committer {name} <{email}> {stamp}\ndata {len(message)}\n{message}\n".encode()
            + b"".join(ops)
        )
    return b"".join(stream), per_author


def test_three_hundred_commits_take_one_pass_over_the_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = GitRepo(tmp_path / "big")
    stream, per_author = _fast_import_stream(300)
    repo.git("fast-import", "--quiet", data=stream)
    root = repo.git("rev-list", "--max-parents=0", "main").strip()
    calls: list[list[str]] = []
    real_popen: Callable[..., Any] = subprocess.Popen

    def counting_popen(args: list[str], *rest: Any, **kwargs: Any) -> Any:
        calls.append(list(args))
        return real_popen(args, *rest, **kwargs)

    monkeypatch.setattr(subprocess, "Popen", counting_popen)
    rows = change_metrics(repo.root, f"{root}..main")
    assert len(rows) == 299
    assert len(calls) <= 5, "git must run a fixed number of times, not once per commit"
    last = rows[-1]
    assert last["exp"] == per_author[str(last["author"])]
    assert sum(int(str(row["fix"])) for row in rows) == 59  # commits 5, 10, ..., 295
    assert all(1 <= int(str(row["nf"])) <= 3 and int(str(row["nuc"])) <= 300 for row in rows)
