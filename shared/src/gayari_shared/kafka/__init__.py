"""Kafka plumbing: topic provisioning, producers, reachability checks."""
