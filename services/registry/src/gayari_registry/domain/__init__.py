"""domain layer of the registry service."""
