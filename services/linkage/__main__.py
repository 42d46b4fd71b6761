"""python -m services.linkage: serve the association linkage endpoint until SIGINT or SIGTERM."""

from __future__ import annotations

import asyncio

from services.linkage import server
from suite import config, telemetry
from suite.grpc_server import run_until_signalled
from suite.logging import configure


async def main() -> None:
    configure("linkage")
    telemetry.start("linkage")
    linkage = server.build()
    await linkage.health.start(f"{config.bind_host()}:{config.linkage_health_port()}")
    await run_until_signalled(linkage.server, f"{config.bind_host()}:{config.listen_port('linkage')}",
                              on_stop=linkage.close)


if __name__ == "__main__":
    asyncio.run(main())
