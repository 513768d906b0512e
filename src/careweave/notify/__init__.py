"""Outgoing messages through pluggable transports (console, file, SMTP)."""
