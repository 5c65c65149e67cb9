"""Categories: a tree by ``parent_id``, each with a unique slug."""
