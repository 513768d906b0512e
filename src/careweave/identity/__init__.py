"""Users, roles, passwords, MFA, browser sessions and API tokens."""
