"""The CLI imports only the module of the command it runs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.main import get_command

from flywheel.cli import COMMANDS, GROUPS, build_app, command_named


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["change", "open", "--service", "s"], "change"),
        (["known-error", "list"], "known-error"),
        (["init"], "init"),
        (["--help"], None),
        ([], None),
        (["no-such-command"], None),
    ],
)
def test_the_command_an_argument_list_names(argv: list[str], named: str | None) -> None:
    assert command_named(argv) == named


def _names(cli: typer.Typer) -> set[str]:
    group = get_command(cli)
    return set(group.commands)  # type: ignore[attr-defined]


def test_the_full_command_line_has_every_command() -> None:
    assert _names(build_app()) == set(COMMANDS) | set(GROUPS)


def test_one_command_alone_is_still_a_group_of_one() -> None:
    assert _names(build_app("init")) == {"init"}
    change = get_command(build_app("change")).commands["change"]  # type: ignore[attr-defined]
    assert "reschedule" in change.commands  # added by change_schedule_commands


def test_an_api_command_does_not_load_the_database_layer() -> None:
    script = (
        "import sys\n"
        "sys.argv = ['flywheel', 'change', 'open', '--help']\n"
        "from flywheel.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in ('sqlalchemy', 'flywheel.app', 'fastapi') if m in sys.modules))"
    )
    ran = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert "Usage" in ran.stdout
    assert ran.stdout.strip().splitlines()[-1] == "[]"


def test_an_unreachable_database_is_one_clear_line(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "FLYWHEEL_HOME": str(tmp_path),
        "FLYWHEEL_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none",
    }
    ran = subprocess.run(
        [sys.executable, "-m", "flywheel", "user", "list"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ran.returncode == 1
    assert ran.stderr.startswith("error: database unavailable:"), ran.stderr
    assert "Traceback" not in ran.stderr
