"""One module per scenario of issue 12; each returns a JSON-able dict of figures."""
