"""HTTP plumbing shared by the services: problem details, correlation ids, health routes."""
