"""The domain: plain async Python, no GraphQL."""
