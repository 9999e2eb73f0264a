"""HTTP routers of a member node; thin: the logic lives in chain/ and offchain/ services."""
