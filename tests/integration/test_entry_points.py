"""The two ways CONTRACT §1 names to run the CLI: the ``lti-bridge`` script and ``flask --app``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.fixtures.processes import tool_env

FLASK = str(Path(sys.executable).with_name("flask"))
LTI_BRIDGE = str(Path(sys.executable).with_name("lti-bridge"))


def test_flask_app_lti_bridge_runs_the_same_commands(tmp_path: Path) -> None:
    env = tool_env(f"sqlite:///{tmp_path / 'tool.sqlite3'}")

    upgrade = subprocess.run(
        [FLASK, "--app", "lti_bridge", "db", "upgrade"], env=env, capture_output=True, text=True,
        timeout=60,
    )
    listing = subprocess.run(
        [FLASK, "--app", "lti_bridge", "platform", "list"], env=env, capture_output=True,
        text=True, timeout=60,
    )

    assert upgrade.returncode == 0, upgrade.stderr
    assert "at revision" in upgrade.stdout
    assert listing.returncode == 0, listing.stderr
    assert "no platforms registered" in listing.stdout


def test_a_command_on_a_database_without_schema_says_so_in_one_line(tmp_path: Path) -> None:
    env = tool_env(f"sqlite:///{tmp_path / 'empty.sqlite3'}")

    done = subprocess.run(
        [LTI_BRIDGE, "platform", "list"], env=env, capture_output=True, text=True, timeout=60
    )

    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
