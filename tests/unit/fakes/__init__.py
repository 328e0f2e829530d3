"""In-memory units of work: the use cases' Protocols (service_layer.unit_of_work) over plain
dicts, so every use case is unit-tested without PostgreSQL. Integration tests prove the real
adapters."""
