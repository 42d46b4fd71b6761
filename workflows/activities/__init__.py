"""The workflows' side effects, each an activity that calls the owning service over gRPC (safe to
retry: every call carries an idempotency key), and the calendar arithmetic the workflows record
in their histories (the period plans)."""
