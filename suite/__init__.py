"""Shared infrastructure of the supervision suite: configuration, logging, auth, request
validation, the gRPC server kit, databases and the `ipss` command. Domain rules live in the
services, not here."""
