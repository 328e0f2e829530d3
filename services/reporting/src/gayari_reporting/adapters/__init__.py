"""adapters layer of the reporting service."""
