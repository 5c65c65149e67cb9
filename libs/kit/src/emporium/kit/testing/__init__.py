"""Test support shared by every package: real-infrastructure fixtures and polling helpers.

Load it with ``pytest_plugins = ["emporium.kit.testing.fixtures"]`` (the root conftest does).
"""

from emporium.kit.testing.polling import eventually

__all__ = ["eventually"]
