"""Several SMSC processes on one PostgreSQL store: nodes, their heartbeats and
notifications, and `smsc serve --workers N` (docs/cluster.md)."""
