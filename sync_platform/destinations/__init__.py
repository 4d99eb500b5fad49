"""Destination connectors. Each subpackage is one connector; none imports a source."""
