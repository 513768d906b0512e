"""Scheduling: availability, free slots, booking with no double booking, series, waitlist, reminders (#5)."""
