"""Product images: upload checks, derived sizes, content-addressed storage and serving."""
