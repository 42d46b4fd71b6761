"""Shared infrastructure of the supervision suite: configuration, logging, auth tokens, request
validation, the gRPC server kit, databases, idempotency, readiness probes, the clients services
use to reach each other and Temporal. Domain rules live in the services and in rules/, the
`ipss` command in launcher/; nothing here imports a service, a workflow or the console."""
