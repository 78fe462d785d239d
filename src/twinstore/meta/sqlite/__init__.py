"""The embedded SQLite backend (WAL, group commit)."""
