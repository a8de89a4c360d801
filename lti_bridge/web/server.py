"""gunicorn, started from the CLI with the app factory (nothing built at import time)."""

from __future__ import annotations

import importlib
from typing import Any

from gunicorn.app.base import BaseApplication


class _Gunicorn(BaseApplication):  # type: ignore[misc]
    def __init__(self, options: dict[str, Any], factory: str) -> None:
        self._options = options
        self._factory = factory
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        module, _, name = self._factory.partition(":")
        return getattr(importlib.import_module(module), name)()


def run_gunicorn(
    *,
    host: str,
    port: int,
    workers: int,
    threads: int = 1,
    factory: str = "lti_bridge.web:create_app",
    access_log: bool = True,
) -> None:
    """Serve ``factory``'s app with ``workers`` processes; each builds its own app and engine."""
    _Gunicorn(
        {
            "bind": f"{host}:{port}",
            "workers": workers,
            "threads": threads,
            "worker_class": "gthread" if threads > 1 else "sync",
            "accesslog": "-" if access_log else None,
            # The worker's pid on each line: operators can see how requests spread over workers.
            "access_log_format": '%(h)s "%(r)s" %(s)s %(b)s %(M)sms pid=%(p)s',
            "timeout": 60,
            "graceful_timeout": 10,
        },
        factory,
    ).run()
