"""adapters layer of the registry service."""
