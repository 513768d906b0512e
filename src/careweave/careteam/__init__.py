"""Care teams, referrals both ways, break-the-glass access (issue #6)."""
