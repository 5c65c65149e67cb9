"""Emporium's shared service kit.

Each concern lives in its own module (``settings``, ``db``, ``bus``, ``outbox``, ``inbox``,
``cache``, ``storage``, ``errors``, ``telemetry``, ``app``); import from those directly.
"""
