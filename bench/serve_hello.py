"""Serve the baseline "hello" app with the tool's own gunicorn settings."""

from __future__ import annotations

import argparse

from lti_bridge.web.server import run_gunicorn


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--no-access-log", action="store_true")
    args = parser.parse_args()
    run_gunicorn(
        host="127.0.0.1",
        port=args.port,
        workers=args.workers,
        threads=args.threads,
        factory="bench.hello:create_app",
        access_log=not args.no_access_log,
    )


if __name__ == "__main__":
    main()
