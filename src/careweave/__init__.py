"""Careweave: collaborative mental-health telehealth."""

__version__ = "0.1.0"
