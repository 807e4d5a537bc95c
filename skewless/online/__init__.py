"""The online store: latest feature values by entity key, read a slate at a time."""
