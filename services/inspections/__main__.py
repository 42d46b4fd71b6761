"""python -m services.inspections: serve the inspections service until SIGINT/SIGTERM."""

import asyncio
import os

from services.inspections import store
from services.inspections.server import build
from suite import config, db, telemetry
from suite import logging as suite_logging
from suite.grpc_server import run_until_signalled

# How many task workflows a campaign starts at once (tuned with bench.campaign).
BATCH_SIZE_ENV = "IPSS_CAMPAIGN_BATCH_SIZE"
DEFAULT_BATCH_SIZE = 200


async def main() -> None:
    suite_logging.configure("inspections")
    telemetry.start("inspections")
    server, inspections = build(batch_size=int(os.environ.get(BATCH_SIZE_ENV, DEFAULT_BATCH_SIZE)))
    telemetry.outbox_gauges(db.reader(inspections.store.engine), store.MemberEventOutbox,
                            store.WorkflowOutbox).register()
    await run_until_signalled(server, f"{config.bind_host()}:{config.listen_port('inspections')}",
                              on_stop=inspections.close)


if __name__ == "__main__":
    asyncio.run(main())
