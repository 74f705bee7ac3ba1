"""contrib/systemd: units that run real `flywheel` commands, with an env file of real settings."""

from __future__ import annotations

import inspect
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer
import uvicorn.config
from typer.core import TyperGroup
from typer.exceptions import TyperException

from flywheel.cli import app
from flywheel.config import Settings

CONTRIB = Path(__file__).resolve().parents[3] / "contrib"
SYSTEMD = CONTRIB / "systemd"
FLYWHEEL_BIN = "/opt/flywheel/venv/bin/flywheel"
UNITS = sorted(p for p in SYSTEMD.iterdir() if p.suffix in {".service", ".timer", ".target"})
SERVICES = [p for p in UNITS if p.suffix == ".service"]
LONG_RUNNING = [SYSTEMD / "flywheel-api@.service", SYSTEMD / "flywheel-worker@.service"]
EXEC_KEYS = ("ExecStartPre", "ExecStart", "ExecStartPost", "ExecStop", "ExecReload")
SAMPLE_INSTANCE = {"flywheel-api@.service": "8001", "flywheel-worker@.service": "1"}
# Not Flywheel settings, but read by what `flywheel serve` runs on: name → module reading it.
FOREIGN_VARIABLES = {"FORWARDED_ALLOW_IPS": uvicorn.config}
# What the worker split adds; checked below once it exists, expected to fail until then.
VARIABLE_LINE = re.compile(r"^#?\s*([A-Z][A-Z0-9_]*)=(.*)$")

Unit = dict[str, dict[str, list[str]]]


def parse_unit(path: Path) -> Unit:
    """Sections of a unit file, each key with all its values in order."""
    unit: Unit = {}
    section: dict[str, list[str]] | None = None
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            section = unit.setdefault(line[1:-1], {})
            continue
        key, equals, value = line.partition("=")
        assert equals and section is not None, f"{path.name}:{number}: not KEY=VALUE: {raw!r}"
        assert not value.endswith("\\"), f"{path.name}:{number}: keep commands on one line"
        section.setdefault(key.strip(), []).append(value.strip())
    return unit


def one(unit: Unit, section: str, key: str) -> str:
    values = unit.get(section, {}).get(key, [])
    assert len(values) == 1, f"[{section}] {key}: expected one value, got {values}"
    return values[0]


def expand(command: str, instance: str) -> list[str]:
    """A unit's command line as systemd runs it: prefixes off, specifiers and $$ expanded."""
    command = command.lstrip("-@:+!").replace("%%", "\0").replace("%i", instance)
    assert "%" not in command, f"a specifier this test does not know: {command}"
    return shlex.split(command.replace("\0", "%").replace("$$", "$"))


def flywheel_invocations(argv: list[str]) -> list[list[str]]:
    """The `flywheel …` argument lists in a command (directly or in `/bin/sh -c`)."""
    if argv[0] == FLYWHEEL_BIN:
        return [argv[1:]]
    if argv[0] == "/bin/sh" and argv[1] == "-c":
        inner = shlex.split(argv[2])
        inner = inner[1:] if inner[0] == "exec" else inner
        return flywheel_invocations(inner)
    assert "flywheel" not in argv[0], f"flywheel must be run as {FLYWHEEL_BIN}: {argv}"
    return []


def unit_commands() -> list[tuple[str, list[str]]]:
    found = []
    for path in SERVICES:
        unit = parse_unit(path)
        instance = SAMPLE_INSTANCE.get(path.name, "")
        for key in EXEC_KEYS:
            for command in unit["Service"].get(key, []):
                found.append((f"{path.name} {key}", expand(command, instance)))
    return found


def cli_command(path: list[str]) -> tuple[Any, list[str]]:
    """The (Typer's click) command an argument list names, and the arguments left for it."""
    command: Any = typer.main.get_command(app)
    args = list(path)
    while isinstance(command, TyperGroup) and args and not args[0].startswith("-"):
        sub = command.get_command(command.context_class(command), args[0])
        assert sub is not None, f"`flywheel {' '.join(path)}`: no command {args[0]!r}"
        command, args = sub, args[1:]
    assert not isinstance(command, TyperGroup), f"`flywheel {' '.join(path)}` is a group"
    return command, args


def test_units_exist() -> None:
    names = {p.name for p in UNITS}
    assert {
        "flywheel-api@.service",
        "flywheel-worker@.service",
        "flywheel-migrate.service",
        "flywheel-backup.service",
        "flywheel-backup.timer",
    } <= names


@pytest.mark.parametrize(
    ("where", "argv"), [pytest.param(w, a, id=w.replace(" ", ":")) for w, a in unit_commands()]
)
def test_every_command_runs_a_real_flywheel_command(where: str, argv: list[str]) -> None:
    assert argv[0].startswith("/"), f"{where}: use an absolute path: {argv[0]}"
    for args in flywheel_invocations(argv):
        command, rest = cli_command(args)
        try:  # click parses (and type-checks) the options and arguments without running
            command.make_context("flywheel", rest)
        except TyperException as exc:  # Typer's click: NoSuchOption, BadParameter, …
            message = getattr(exc, "format_message", exc.__str__)()
            pytest.fail(f"{where}: `flywheel {' '.join(args)}`: {message}")


def test_the_services_run_the_commands_the_docs_describe() -> None:
    run = {where.split()[0]: argv for where, argv in unit_commands() if where.endswith("ExecStart")}
    assert run["flywheel-api@.service"] == [
        FLYWHEEL_BIN,
        *("serve", "--api-only", "--no-upgrade", "--port", "8001"),
    ]
    assert run["flywheel-worker@.service"] == [FLYWHEEL_BIN, "worker"]
    assert run["flywheel-migrate.service"] == [FLYWHEEL_BIN, "db", "upgrade"]
    backup = flywheel_invocations(run["flywheel-backup.service"])
    assert len(backup) == 1 and backup[0][0] == "backup"
    assert backup[0][1].startswith("/var/backups/flywheel/$(date -u +%Y-%m-%dT%H%M%SZ)")


@pytest.mark.parametrize("path", SERVICES, ids=lambda p: p.name)
def test_services_are_hardened(path: Path) -> None:
    unit = parse_unit(path)
    service = unit["Service"]
    assert one(unit, "Service", "User") == "flywheel"
    for key, value in {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "PrivateTmp": "yes",
        "ProtectHome": "yes",
    }.items():
        assert service.get(key) == [value], f"{path.name}: {key}={value}"
    assert service.get("ReadWritePaths"), f"{path.name}: ReadWritePaths"
    assert service.get("EnvironmentFile") == ["/etc/flywheel/flywheel.env"]


@pytest.mark.parametrize("path", LONG_RUNNING, ids=lambda p: p.name)
def test_long_running_services_restart_and_stop_gracefully(path: Path) -> None:
    unit = parse_unit(path)
    assert one(unit, "Service", "Restart") == "always"
    assert one(unit, "Service", "KillSignal") == "SIGTERM"
    # A worker lets runs in flight finish for up to 15 s after SIGTERM: leave it the time.
    assert int(one(unit, "Service", "TimeoutStopSec")) >= 15 + 5
    for key in ("After", "Requires"):
        assert "flywheel-migrate.service" in " ".join(unit["Unit"][key]).split()


def test_migrate_is_a_oneshot_and_backup_runs_daily() -> None:
    migrate = parse_unit(SYSTEMD / "flywheel-migrate.service")
    assert one(migrate, "Service", "Type") == "oneshot"
    # RemainAfterExit would make a later `systemctl restart` of it restart every API at once.
    assert "RemainAfterExit" not in migrate["Service"]
    timer = parse_unit(SYSTEMD / "flywheel-backup.timer")
    assert one(timer, "Timer", "Unit") == "flywheel-backup.service"
    assert one(timer, "Timer", "Persistent") == "true"
    calendar = (
        subprocess.run(
            ["systemd-analyze", "calendar", one(timer, "Timer", "OnCalendar")],
            capture_output=True,
            text=True,
        )
        if shutil.which("systemd-analyze")
        else None
    )
    assert calendar is None or calendar.returncode == 0, calendar.stderr
    backup = parse_unit(SYSTEMD / "flywheel-backup.service")
    assert "/var/backups/flywheel" in one(backup, "Service", "ReadWritePaths").split()


def test_every_environment_file_ships_an_example() -> None:
    files = [*UNITS, *CONTRIB.glob("**/*.service.d/*.conf")]
    named = {
        value.lstrip("-")
        for path in files
        for value in parse_unit(path).get("Service", {}).get("EnvironmentFile", [])
    }
    assert named, "no EnvironmentFile= found"
    examples = {p.name for p in CONTRIB.rglob("*.example")}
    for name in named:
        assert f"{Path(name).name}.example" in examples, f"{name}: no example in contrib/"


def env_example_lines() -> list[tuple[str, str]]:
    """(name, value) of every variable in flywheel.env.example, commented examples included."""
    found = []
    for line in (SYSTEMD / "flywheel.env.example").read_text().splitlines():
        match = VARIABLE_LINE.match(line.strip())
        if match:
            found.append((match[1], " ".join(shlex.split(match[2]))))
    return found


def test_env_example_names_only_real_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    lines = env_example_lines()
    assert len(lines) >= 10
    fields = set(Settings.model_fields)
    for name in [n for n in os.environ if n.startswith("FLYWHEEL_")]:
        monkeypatch.delenv(name)
    for name, value in lines:
        if name in FOREIGN_VARIABLES:
            assert f'"{name}"' in inspect.getsource(FOREIGN_VARIABLES[name]), name
            continue
        assert name.startswith("FLYWHEEL_"), f"{name}: not a Flywheel setting"
        field = name.removeprefix("FLYWHEEL_").lower()
        assert field in fields, f"{name}: no such setting in flywheel.config.Settings"
        monkeypatch.setenv(name, value)
    settings = Settings()  # read as systemd passes them: every example value is valid
    assert settings.log_format == "json"
    assert settings.database_url.startswith("postgresql://")


def test_systemd_analyze_verify(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (not a Flywheel component)")
    # verify checks that each command's executable exists: point it at this Python.
    for path in UNITS:
        text = path.read_text().replace(FLYWHEEL_BIN, sys.executable)
        (tmp_path / path.name).write_text(text)
    names = [SAMPLE_INSTANCE.get(p.name, "") for p in UNITS]
    targets = [f"./{p.name.replace('@.', f'@{i}.')}" for p, i in zip(UNITS, names, strict=True)]
    checked = subprocess.run(
        [analyze, "verify", "--man=no", *targets],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert checked.returncode == 0, checked.stderr
    assert checked.stderr.strip() == "", checked.stderr
