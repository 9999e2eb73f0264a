"""Export the consortium as ConsortiumRegistry records it into a Besu QBFT network."""

from __future__ import annotations

from pathlib import Path

from chain.context import Chain
from nodes.network.besu import (
    DEFAULT_P2P_PORT,
    DEFAULT_RPC_PORT,
    BesuMember,
    BesuNetwork,
    write_besu_network,
)


def export_besu(chain: Chain, out: Path, *, chain_id: int, overwrite: bool = False) -> BesuNetwork:
    """One validator per active member, allowlists read from the registry at the current block.

    The validator node keys come from this installation's keystore: on one machine every
    member's key is here.  In a real consortium each administration generates its own node
    key and registers the enode with `addNode`; only public data is needed for the files
    other than `<MEMBER>/key`.
    """
    registry = chain.registry
    block = chain.w3.eth.block_number
    members = []
    for i, m in enumerate(registry.members(active_only=True)):
        own = chain.keys.enode_id(m.id)
        members.append(
            BesuMember(
                member_id=m.id,
                name=m.name,
                node_key=chain.keys.node_key(m.id),
                accounts=tuple(m.accounts),
                enodes=tuple(n for n in m.nodes if n != own),
                p2p_port=DEFAULT_P2P_PORT + i,
                rpc_port=DEFAULT_RPC_PORT + 100 + i,
            )
        )
    return write_besu_network(
        out,
        members,
        chain_id=chain_id,
        registry_address=registry.address,
        registry_block=block,
        overwrite=overwrite,
    )
