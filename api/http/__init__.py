"""HTTP concerns kept out of the schema and the domain: the GraphQL-over-HTTP protocol,
persisted queries, request ids, logs, metrics, body limits, CORS and security headers."""
