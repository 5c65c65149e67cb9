"""`make bench`: the platform under load, against `make up` (see bench/README.md)."""
