"""Checkout pricing: plain rules (money, shipping, tax, promotions), no I/O."""
