"""pytest plugin of the provider conformance test kit."""
