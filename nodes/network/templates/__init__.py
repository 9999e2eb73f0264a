"""Text templates of the Besu network export (a package so they ship with the wheel)."""
