"""Emporium customers service: accounts, credentials, roles, profiles, addresses, keys."""
