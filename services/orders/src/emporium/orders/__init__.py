"""Emporium orders service: carts, orders, the checkout saga and payments."""
