"""`smartcustoms` command groups, one module each (registered in nodes/cli.py)."""
