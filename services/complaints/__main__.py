"""python -m services.complaints: the complaints service's server. Its API is not built yet (see the
issues), so it answers health checking and reflection only; nothing pretends to work."""

import asyncio

from suite import config
from suite import logging as suite_logging
from suite.grpc_server import SuiteServer, run_until_signalled


async def main() -> None:
    suite_logging.configure("complaints")
    await run_until_signalled(SuiteServer("complaints", []), f"{config.bind_host()}:{config.listen_port('complaints')}")


if __name__ == "__main__":
    asyncio.run(main())
