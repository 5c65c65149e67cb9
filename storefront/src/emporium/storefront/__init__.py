"""The web storefront: the shop at ``/`` and the admin at ``/admin/``, server-rendered.

A client of the public API (``/api/v1``) over HTTP, nothing else: it knows the API's paths,
bodies and status codes, never a service behind the gateway.
"""
