"""service_layer layer of the registry service."""
