"""Suicide-risk safety workflow: alerts to the clinic's on-call roster, acknowledgement,
escalation when nobody acknowledges in time."""
