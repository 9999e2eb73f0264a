"""Declarations on a member node: attested clearance decisions, permit draw-down, re-routes."""
