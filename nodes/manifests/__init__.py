"""Advance cargo information at a node: cargo manifests, pre-arrival risk, matching."""
