"""Run the development LMS by hand: ``python -m tests.devplatform --tool-url URL --port 5050``."""

from __future__ import annotations

import argparse
import shlex

from werkzeug.serving import run_simple

from tests.devplatform import DevPlatform


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m tests.devplatform",
        description="A development LTI 1.3 platform (lti1p3platform) that launches lti_bridge.",
    )
    parser.add_argument("--tool-url", default="http://127.0.0.1:5000", help="the tool's base URL")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5050)
    parser.add_argument("--client-id", default="lti-bridge-dev")
    parser.add_argument("--deployment-id", default="dev-deployment-1")
    args = parser.parse_args(argv)
    platform = DevPlatform(
        args.tool_url,
        issuer=f"http://{args.host}:{args.port}",
        client_id=args.client_id,
        deployment_id=args.deployment_id,
    )
    command = shlex.join([".venv/bin/lti-bridge", *platform.platform_add_args()])
    print(f"Register this platform with the tool (once per database):\n\n  {command}\n")
    print(f"Then open {platform.issuer}/ and launch as the learner or the instructor.\n")
    run_simple(args.host, args.port, platform.create_app(), threaded=True)


if __name__ == "__main__":
    main()
