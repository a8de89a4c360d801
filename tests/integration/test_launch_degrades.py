"""A platform whose key set is down: its learners are told to retry (503, Retry-After), and
the tool's workers are not held for the HTTP timeout; on SQLite and PostgreSQL."""

from __future__ import annotations

import socket
import time
from typing import Any

from tests.fixtures.platform import scripted_platform


def test_a_launch_while_the_platforms_key_set_is_down_answers_503_with_retry_after(
    app: Any, client: Any
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}/jwks"
    with scripted_platform() as platform:
        platform.jwks_url = dead
        platform.register(app)

        started = time.monotonic()
        first = platform.launch(client)
        again = platform.launch(client)
        elapsed = time.monotonic() - started

    for response in (first, again):
        assert response.status_code == 503
        assert int(response.headers["Retry-After"]) >= 1
        assert "try again" in response.get_data(as_text=True).lower()
    # The failure is remembered: the second launch is answered without another attempt.
    assert elapsed < 5
