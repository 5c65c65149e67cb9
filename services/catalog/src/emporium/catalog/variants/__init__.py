"""Variants of a product: their option values (``options``) and the reservation of their
stock across locations (``allocation``), as pure rules; the tables and endpoints that use
them come with the rest of issue 14 (see ``services/catalog/docs/variants-design.md``)."""
