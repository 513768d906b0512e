"""Append-only, hash-chained audit trail of log-ins and every access to patient data."""
