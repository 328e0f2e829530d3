"""domain layer of the interventions service."""
