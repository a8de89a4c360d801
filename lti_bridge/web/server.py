"""gunicorn, started from the CLI with the app factory (nothing built at import time)."""

from __future__ import annotations

import importlib
from typing import Any

from gunicorn.app.base import BaseApplication

#: The request's method and path, never its query string: /lti/register carries the platform's
#: registration token there, and /lti/login its login hints. The worker's pid on each line:
#: operators can see how requests spread over workers.
ACCESS_LOG_FORMAT = '%(h)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(M)sms pid=%(p)s'


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
            "access_log_format": ACCESS_LOG_FORMAT,
            "timeout": 60,
            "graceful_timeout": 10,
        },
        factory,
    ).run()
