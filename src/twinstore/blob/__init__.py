"""Object data: immutable blob files named by random ids (never by user keys)."""
