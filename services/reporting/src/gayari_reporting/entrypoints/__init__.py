"""entrypoints layer of the reporting service."""
