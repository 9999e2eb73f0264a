"""DocumentRegistry types 4 and 5: the records a node anchors for its own users.

Cargo manifests (advance cargo information) and payment receipts go through the same batch
anchoring as trade documents; the contract knows them by code, and the off-chain type list
(`offchain.doctypes.ANCHORED_TYPES`) is what the chain facade's `DocType` is built from.
"""

from __future__ import annotations

import os

import pytest
from web3.logs import DISCARD

from chain.documents import DocType
from offchain.doctypes import ANCHORED_TYPES, CARGO_MANIFEST, DOC_TYPES, PAYMENT_RECEIPT
from offchain.merkle import MerkleTree

pytestmark = pytest.mark.contract


def test_record_types_follow_the_trade_documents():
    assert [t.code for t in ANCHORED_TYPES] == [1, 2, 3, 4, 5]
    assert DocType(4) is DocType.CARGO_MANIFEST and CARGO_MANIFEST.code == 4
    assert DocType(5) is DocType.PAYMENT_RECEIPT and PAYMENT_RECEIPT.code == 5
    # Declarations cite trade documents only: the records are not among them.
    assert CARGO_MANIFEST not in DOC_TYPES and PAYMENT_RECEIPT not in DOC_TYPES


@pytest.mark.parametrize("doc_type", [DocType.CARGO_MANIFEST, DocType.PAYMENT_RECEIPT])
def test_a_record_batch_is_anchored_with_its_type_in_the_event(
    chain, role_account, snapshot, doc_type
):
    documents = chain.documents
    tree = MerkleTree.from_values([os.urandom(32) for _ in range(3)])
    sender = chain.sender(role_account("SG", "ISSUER"))
    result = documents.anchor_batch(sender, tree.root, 3, doc_type)
    assert result.issuer_member == "SG"
    batch = documents.batch(tree.root)
    assert (batch.doc_type, batch.count, batch.issuer_member) == (doc_type, 3, "SG")
    receipt = chain.w3.eth.get_transaction_receipt(result.tx_hash)
    (event,) = documents.contract.events.BatchAnchored().process_receipt(receipt, errors=DISCARD)
    assert event["args"]["docType"] == int(doc_type)
