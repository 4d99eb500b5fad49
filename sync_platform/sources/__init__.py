"""Source connectors. Each subpackage is one connector; none imports a destination."""
