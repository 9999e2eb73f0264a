"""Bonded cargo on a member node: trip events anchored as evidence, proofs of single events."""
