"""gunicorn, started from the CLI with the app factory (nothing built at import time)."""

from __future__ import annotations

import gc
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
        app = getattr(importlib.import_module(module), name)()
        freeze_startup_objects()
        return app


#: Allocations between young collections (CPython's default is 700). A request that builds
#: thousands of rows (a 5,000-learner roster holds ~100,000 objects until it answers) otherwise
#: promotes them generation by generation and pays several full collections over them; measured
#: in bench/roster.py, the default costs a third more time on such a page.
GC_YOUNG_THRESHOLD = 10_000


def freeze_startup_objects() -> None:
    """Move what the worker built at start (the app, its engine, templates, routes) out of the
    garbage collector's generations, and collect the young one less often: the collector then
    works over each request's own objects, and seldom."""
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, older, oldest)


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
