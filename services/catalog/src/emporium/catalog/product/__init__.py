"""Products: admin CRUD, the public listing (filters, search, sorts, cursors) and detail."""
