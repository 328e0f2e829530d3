"""domain layer of the reporting service."""
