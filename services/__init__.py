"""The suite's gRPC services, one package each: api.py (servicer), domain (rules, no I/O),
store.py (SQLAlchemy models and queries), migrations/ (Alembic)."""
