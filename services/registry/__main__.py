"""python -m services.registry: serve the registry until SIGINT/SIGTERM."""

import asyncio

from services.registry.server import build
from suite import config
from suite import logging as suite_logging
from suite.grpc_server import run_until_signalled


async def main() -> None:
    suite_logging.configure("registry")
    server, registry = build()
    await run_until_signalled(server, f"{config.bind_host()}:{config.listen_port('registry')}",
                              on_stop=registry.engine.dispose)


if __name__ == "__main__":
    asyncio.run(main())
