"""Everything that talks to the chain: compiler bridge, devnet, client, facades, deployment."""
