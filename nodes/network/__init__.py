"""Consortium network configuration: a Hyperledger Besu QBFT network for the members.

``write_besu_network`` is the entry point; the decoders and key helpers are public so that the
CLI and tests can check an export without Besu.
"""

from nodes.network.besu import BesuMember, BesuNetwork, write_besu_network
from nodes.network.errors import NetworkConfigError
from nodes.network.keys import address_of_node_key, enode_of
from nodes.network.qbft import (
    QbftExtraData,
    QbftVote,
    besu_validator_order,
    decode_qbft_extra_data,
    encode_qbft_extra_data,
)

__all__ = [
    "BesuMember",
    "BesuNetwork",
    "NetworkConfigError",
    "QbftExtraData",
    "QbftVote",
    "address_of_node_key",
    "besu_validator_order",
    "decode_qbft_extra_data",
    "encode_qbft_extra_data",
    "enode_of",
    "write_besu_network",
]
