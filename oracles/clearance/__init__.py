"""The clearance oracle: duties, permit and document checks, selectivity, the channel."""
