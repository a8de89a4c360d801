"""``python -m tests.oneroster [--port P]``: serve the stand-in until killed; prints its URL."""

from __future__ import annotations

import argparse
import sys
import threading

from tests.oneroster.standin import StandIn


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    args = parser.parse_args()
    standin = StandIn(latency_ms=args.latency_ms).start(args.port)
    print(standin.url, flush=True)
    sys.stdout.close()
    threading.Event().wait()


if __name__ == "__main__":
    main()
