"""python -m services.registry: serve the registry until SIGINT/SIGTERM, from
$IPSS_REGISTRY_PROCESSES processes (default 1) sharing its port."""

from services.registry.server import build
from suite import config, telemetry
from suite import logging as suite_logging
from suite.grpc_server import run_until_signalled, serve_in_processes

ADDRESS = f"{config.bind_host()}:{config.listen_port('registry')}"


async def serve(shared_port: bool) -> None:
    suite_logging.configure("registry")
    telemetry.start("registry")
    server, registry = build(shared_port=shared_port)
    await run_until_signalled(server, ADDRESS, on_stop=registry.close)


if __name__ == "__main__":
    serve_in_processes(serve, config.server_processes("registry"), ADDRESS, component="registry")
