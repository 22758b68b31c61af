"""Conformance test kit for bank provider plugins."""
