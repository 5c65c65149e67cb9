pytest_plugins = ["emporium.kit.testing.fixtures"]
