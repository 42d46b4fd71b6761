"""Temporal workflows (decisions and clocks) and their activities (every side effect, each a
gRPC call to the owning service, safe to retry)."""
