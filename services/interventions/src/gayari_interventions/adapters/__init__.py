"""adapters layer of the interventions service."""
