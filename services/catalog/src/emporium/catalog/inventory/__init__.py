"""Inventory: on hand, reserved, available; reservations for orders."""
