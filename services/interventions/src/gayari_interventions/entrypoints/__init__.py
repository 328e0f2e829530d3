"""entrypoints layer of the interventions service."""
