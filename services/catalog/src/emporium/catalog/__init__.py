"""Emporium catalog service: categories, products, inventory and product images."""
