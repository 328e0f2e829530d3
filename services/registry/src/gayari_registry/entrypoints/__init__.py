"""entrypoints layer of the registry service."""
