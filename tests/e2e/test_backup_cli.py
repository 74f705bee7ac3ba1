"""`flywheel backup` and `flywheel restore`, run as an operator would."""

from __future__ import annotations

import json
from pathlib import Path

from tests.e2e.conftest import Cli


def _users(cli: Cli) -> str:
    return cli("user", "list").stdout


def test_backup_and_restore_bring_back_the_data_and_a_verified_chain(
    cli: Cli, tmp_path: Path
) -> None:
    cli("init")
    cli("user", "create", "gina", "--role", "operator")
    file = tmp_path / "backups" / "flywheel.backup"

    made = json.loads(cli("backup", str(file), "--json").stdout)

    assert file.is_file() and Path(f"{file}.manifest.json").is_file()
    assert made["audit"]["intact"] is True and made["audit"]["events"] >= 2
    assert made["revision"] and made["size_bytes"] == file.stat().st_size
    cli("user", "create", "hank", "--role", "developer")  # after the backup: must go

    refused = cli("restore", str(file), check=False)
    assert refused.returncode == 1 and "--force" in refused.stderr
    assert "hank" in _users(cli)  # nothing was touched

    restored = json.loads(cli("restore", str(file), "--force", "--json").stdout)

    assert restored["audit"]["head_seq"] == made["audit"]["head_seq"]
    users = _users(cli)
    assert "gina" in users and "hank" not in users
    assert "intact" in cli("audit", "verify").stdout.lower()
    trail = cli("audit", "export", "--format", "jsonl").stdout.splitlines()
    assert json.loads(trail[-1])["action"] == "system.restore"


def test_a_damaged_or_foreign_backup_is_refused(cli: Cli, tmp_path: Path) -> None:
    cli("init")
    file = tmp_path / "flywheel.backup"
    cli("backup", str(file))
    data = bytearray(file.read_bytes())
    data[len(data) // 2] ^= 0xFF
    file.write_bytes(bytes(data))

    damaged = cli("restore", str(file), "--force", check=False)
    assert damaged.returncode == 1 and "does not match its manifest" in damaged.stderr

    missing = cli("restore", str(tmp_path / "nope.backup"), "--force", check=False)
    assert missing.returncode == 1 and "no backup file" in missing.stderr
    Path(f"{file}.manifest.json").unlink()
    no_manifest = cli("restore", str(file), "--force", check=False)
    assert no_manifest.returncode == 1 and "no manifest" in no_manifest.stderr
