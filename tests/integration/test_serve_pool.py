"""``lti-bridge serve --threads N`` gives each worker a pool of at least N connections: a
thread's unit of work never waits on a pool sized for fewer threads."""

from __future__ import annotations

import os
from typing import Any

import pytest

from lti_bridge.config import load_settings


@pytest.mark.parametrize("threads, expected", [(1, "5"), (16, "16")])
def test_serve_sizes_the_pool_to_its_threads(
    app: Any, monkeypatch: pytest.MonkeyPatch, threads: int, expected: str
) -> None:
    import lti_bridge.web.server as server

    # Recorded as unset, so whatever ``serve`` sets is undone after the test.
    monkeypatch.setenv("LTI_BRIDGE_DATABASE_POOL_SIZE", "")
    monkeypatch.delenv("LTI_BRIDGE_DATABASE_POOL_SIZE")
    started: dict[str, Any] = {}
    monkeypatch.setattr(server, "run_gunicorn", lambda **options: started.update(options))

    result = app.test_cli_runner().invoke(
        args=["serve", "--no-relay", "--threads", str(threads)]
    )

    assert result.exit_code == 0, result.output
    assert started["threads"] == threads
    assert os.environ["LTI_BRIDGE_DATABASE_POOL_SIZE"] == expected
    # What each gunicorn worker's app factory then reads.
    assert load_settings().database_pool_size == int(expected)
