"""Emporium gateway: the one public REST API storefronts use (``/api/v1``)."""
