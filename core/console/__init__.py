"""Read-only queries and helpers the console needs that no domain service offers (no UI imports)."""
