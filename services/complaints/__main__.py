"""python -m services.complaints: serve the complaints service until SIGINT/SIGTERM."""

import asyncio

from services.complaints import metrics
from services.complaints.server import build
from suite import config, telemetry
from suite import logging as suite_logging
from suite.grpc_server import run_until_signalled


async def main() -> None:
    suite_logging.configure("complaints")
    telemetry.start("complaints")
    server, complaints = build()
    metrics.register(complaints.store.engine)
    await run_until_signalled(server, f"{config.bind_host()}:{config.listen_port('complaints')}",
                              on_stop=complaints.close)


if __name__ == "__main__":
    asyncio.run(main())
