"""Shared kernel: errors, the acting user, the clock. Imports nothing from domains."""
