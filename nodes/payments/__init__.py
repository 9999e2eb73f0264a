"""Duties payable at a node: payment orders, gateway callbacks, guarantees, release."""
