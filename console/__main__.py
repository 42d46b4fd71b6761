"""python -m console: serve the console until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse

import uvicorn

from console import settings
from console.app import build
from suite import config, telemetry
from suite import logging as suite_logging


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m console", description=__doc__)
    parser.add_argument("--host", default=config.bind_host())
    parser.add_argument("--port", type=int, default=settings.listen_port())
    parser.add_argument("--dev-signin", action="store_true",
                        help="offer the development user picker that mints tokens (never in production)")
    args = parser.parse_args()
    suite_logging.configure("console")
    telemetry.start("console")
    app = build(settings.Settings.from_environment(dev_signin=args.dev_signin))
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
