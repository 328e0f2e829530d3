"""service_layer layer of the interventions service."""
