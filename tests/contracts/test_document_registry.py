"""DocumentRegistry: anchoring batch roots by issuers, on-chain proof checks, revocations, gas.

Trees come from offchain/merkle.py, so these tests also show that off-chain proofs verify
with OZ MerkleProof on chain.  Three genesis members (TW, SG, NZ), each with one account
per role; `issuer("TW")` is TW's ISSUER account.
"""

from __future__ import annotations

import os
import random

import pytest
from web3 import Web3
from web3.logs import DISCARD

from chain.documents import AnchorResult, DocType, DocumentRegistry, DocumentStatus
from chain.ids import member_id_bytes
from chain.sender import call
from offchain.merkle import MerkleTree, leaf_hash

pytestmark = pytest.mark.contract

ZERO = b"\0" * 32
ZERO_ADDRESS = "0x" + "00" * 20
GAS_PER_DOC_LIMIT = 100

# Every external function of the contract: a function added to the contract fails
# test_abi_lists_exactly_the_functions_under_test until it gets tests.
FUNCTIONS_UNDER_TEST = frozenset(
    {
        "MAX_BATCH_SIZE",
        "MAX_DOC_TYPE",
        "registry",
        "anchorBatch",
        "revokeBatch",
        "revokeDocument",
        "batchOf",
        "isAnchored",
        "documentLeaf",
        "verifyDocument",
        "documentStatus",
        "documentStatuses",
        "batchRevocation",
        "documentRevocation",
    }
)


@pytest.fixture(scope="session")
def documents(chain) -> DocumentRegistry:
    return chain.documents


@pytest.fixture(scope="session")
def issuer(chain, role_account):
    """`issuer("TW")`: the sender of TW's ISSUER account."""
    return lambda member_id: chain.sender(role_account(member_id, "ISSUER"))


@pytest.fixture
def events(documents):
    """`events(receipt, "BatchRevoked")`: decoded arguments of each such event in the receipt."""

    def read(receipt, name: str) -> list[dict]:
        found = getattr(documents.contract.events, name)().process_receipt(receipt, errors=DISCARD)
        return [dict(e["args"]) for e in found]

    return read


def tree_of(n: int) -> tuple[list[bytes], MerkleTree]:
    docs = [os.urandom(32) for _ in range(n)]
    return docs, MerkleTree.from_values(docs)


def view(documents: DocumentRegistry, name: str, *args):
    return call(getattr(documents.contract.functions, name)(*args), documents.decoder)


def block_time(w3: Web3, block: int) -> int:
    return w3.eth.get_block(block)["timestamp"]


@pytest.fixture
def anchored(documents, issuer, snapshot):
    """`anchored(n, member="TW")`: a batch of n random documents anchored by that member."""

    def make(n: int = 7, member: str = "TW", doc_type: DocType = DocType.COMMERCIAL_INVOICE):
        docs, tree = tree_of(n)
        documents.anchor_batch(issuer(member), tree.root, n, doc_type)
        return docs, tree

    return make


# ------------------------------------------------------------------ deployment and ABI


def test_abi_lists_exactly_the_functions_under_test(documents):
    names = {f["name"] for f in documents.contract.abi if f["type"] == "function"}
    assert names == FUNCTIONS_UNDER_TEST


def test_is_deployed_against_the_consortium_registry(documents, deployment, registry):
    assert deployment.address("DocumentRegistry") == documents.address
    assert view(documents, "registry") == registry.address
    assert view(documents, "MAX_BATCH_SIZE") == documents.max_batch_size() == 1024
    assert view(documents, "MAX_DOC_TYPE") == max(DocType) == 5


def test_constructor_refuses_the_zero_registry(chain, funded, snapshot, reverts):
    artifact = chain.artifacts["DocumentRegistry"]
    factory = chain.w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
    with reverts("ZeroRegistry"):
        funded("deployer-2").transact(factory.constructor(ZERO_ADDRESS))


# ------------------------------------------------------------------ anchoring


def test_issuer_anchors_a_batch(documents, issuer, w3, snapshot):
    _, tree = tree_of(5)
    sender = issuer("TW")
    result = documents.anchor_batch(sender, tree.root, 5, DocType.CERTIFICATE_OF_ORIGIN)
    receipt = w3.eth.get_transaction_receipt(result.tx_hash)
    assert result == AnchorResult(
        root=tree.root,
        tx_hash=Web3.to_hex(receipt["transactionHash"]),
        block=receipt["blockNumber"],
        anchored_at=block_time(w3, receipt["blockNumber"]),
        issuer=sender.address,
        issuer_member="TW",
    )
    batch = documents.batch(tree.root)
    assert batch is not None
    assert (batch.root, batch.issuer, batch.issuer_member) == (tree.root, sender.address, "TW")
    assert (batch.count, batch.doc_type, batch.revoked) == (5, DocType.CERTIFICATE_OF_ORIGIN, False)
    assert batch.anchored_at == result.anchored_at
    assert documents.is_anchored(tree.root) is True
    assert batch.to_json()["doc_type"] == "CERTIFICATE_OF_ORIGIN"
    assert result.to_json()["root"] == "0x" + tree.root.hex()


def test_batch_anchored_event_carries_the_batch(documents, issuer, w3, events, snapshot):
    _, tree = tree_of(3)
    sender = issuer("SG")
    receipt = sender.transact(documents.contract.functions.anchorBatch(tree.root, 3, 3))
    assert events(receipt, "BatchAnchored") == [
        {
            "root": tree.root,
            "issuerMember": member_id_bytes("SG"),
            "issuer": sender.address,
            "docType": 3,
            "count": 3,
            "anchoredAt": block_time(w3, receipt["blockNumber"]),
        }
    ]


def test_batch_is_stored_in_two_slots(documents, issuer, w3, snapshot):
    """issuer | count | anchoredAt | docType | revoked packed in one slot, member in the next."""
    _, tree = tree_of(4)
    result = documents.anchor_batch(issuer("TW"), tree.root, 4, DocType.PACKING_LIST)
    base = int.from_bytes(Web3.solidity_keccak(["bytes32", "uint256"], [tree.root, 0]), "big")
    slot0 = int.from_bytes(w3.eth.get_storage_at(documents.address, base), "big")
    slot1 = bytes(w3.eth.get_storage_at(documents.address, base + 1))
    slot2 = int.from_bytes(w3.eth.get_storage_at(documents.address, base + 2), "big")
    assert slot0 & (2**160 - 1) == int(result.issuer, 16)
    assert (slot0 >> 160) & (2**32 - 1) == 4
    assert (slot0 >> 192) & (2**40 - 1) == result.anchored_at
    assert (slot0 >> 232) & 0xFF == DocType.PACKING_LIST
    assert slot0 >> 240 == 0  # not revoked
    assert slot1 == member_id_bytes("TW")
    assert slot2 == 0


def test_outsider_cannot_anchor(documents, funded, snapshot, reverts):
    outsider = funded("outsider")
    with reverts("NotIssuer", account=outsider.address):
        documents.anchor_batch(outsider, os.urandom(32), 1, DocType.COMMERCIAL_INVOICE)


@pytest.mark.parametrize("role", ["AUDITOR", "VERIFIER", "PERMIT_AGENCY", "ORACLE_OPERATOR"])
def test_member_account_without_issuer_role_cannot_anchor(
    documents, chain, role_account, snapshot, reverts, role
):
    sender = chain.sender(role_account("TW", role))
    with reverts("NotIssuer", account=sender.address):
        documents.anchor_batch(sender, os.urandom(32), 1, DocType.COMMERCIAL_INVOICE)


def test_member_admin_cannot_anchor(documents, admin, snapshot, reverts):
    with reverts("NotIssuer", account=admin("TW").address):
        documents.anchor_batch(admin("TW"), os.urandom(32), 1, DocType.COMMERCIAL_INVOICE)


def test_issuer_of_a_removed_member_can_no_longer_anchor(documents, issuer, remove_member, reverts):
    nz = issuer("NZ")
    documents.anchor_batch(
        nz, os.urandom(32), 1, DocType.COMMERCIAL_INVOICE
    )  # fine while NZ is a member
    remove_member("NZ")
    with reverts("NotIssuer", account=nz.address):
        documents.anchor_batch(nz, os.urandom(32), 1, DocType.COMMERCIAL_INVOICE)


def test_issuer_whose_role_was_revoked_can_no_longer_anchor(
    documents, issuer, registry, admin, snapshot, reverts
):
    sg = issuer("SG")
    proposal = registry.propose_revoke_role(admin("TW"), "ISSUER", sg.address)
    assert registry.vote(admin("NZ"), proposal.id, True).state == "executed"
    with reverts("NotIssuer", account=sg.address):
        documents.anchor_batch(sg, os.urandom(32), 1, DocType.COMMERCIAL_INVOICE)


def test_a_root_is_anchored_once_by_anyone(documents, issuer, snapshot, reverts):
    root = os.urandom(32)
    documents.anchor_batch(issuer("TW"), root, 1, DocType.COMMERCIAL_INVOICE)
    for member in ("TW", "SG"):
        with reverts("RootAlreadyAnchored", root=root):
            documents.anchor_batch(issuer(member), root, 2, DocType.PACKING_LIST)


def test_zero_root_is_refused(documents, issuer, snapshot, reverts):
    with reverts("ZeroRoot"):
        documents.anchor_batch(issuer("TW"), ZERO, 1, DocType.COMMERCIAL_INVOICE)


@pytest.mark.parametrize("count", [0, 1025, 2**32 - 1])
def test_count_outside_1_to_1024_is_refused(documents, issuer, snapshot, reverts, count):
    with reverts("InvalidCount", count=count):
        documents.anchor_batch(issuer("TW"), os.urandom(32), count, DocType.COMMERCIAL_INVOICE)


@pytest.mark.parametrize("count", [1, 1024])
def test_count_bounds_are_accepted(documents, issuer, snapshot, count):
    root = os.urandom(32)
    documents.anchor_batch(issuer("TW"), root, count, DocType.COMMERCIAL_INVOICE)
    assert documents.batch(root).count == count


@pytest.mark.parametrize("doc_type", [0, 6, 255])
def test_unknown_doc_type_is_refused(documents, issuer, snapshot, reverts, doc_type):
    with reverts("UnknownDocType", docType=doc_type):
        documents.anchor_batch(issuer("TW"), os.urandom(32), 1, doc_type)


@pytest.mark.parametrize("doc_type", list(DocType))
def test_every_doc_type_is_accepted(documents, issuer, snapshot, doc_type):
    root = os.urandom(32)
    documents.anchor_batch(issuer("TW"), root, 1, doc_type)
    assert documents.batch(root).doc_type is doc_type


def test_issuer_check_comes_before_argument_checks(documents, funded, snapshot, reverts):
    outsider = funded("outsider")
    with reverts("NotIssuer", account=outsider.address):
        documents.anchor_batch(outsider, ZERO, 0, 0)


# ------------------------------------------------------------------ verification on chain


@pytest.mark.parametrize("n", [1, 2, 3, 7, 1024])
def test_off_chain_proofs_verify_on_chain(documents, issuer, snapshot, n):
    docs, tree = tree_of(n)
    documents.anchor_batch(issuer("TW"), tree.root, n, DocType.COMMERCIAL_INVOICE)
    indexes = sorted({0, n - 1, n // 2, *random.sample(range(n), min(n, 6))})
    for i in indexes:
        assert view(documents, "documentLeaf", docs[i]) == leaf_hash(docs[i]) == tree.leaves[i]
        assert documents.verify_on_chain(tree.root, docs[i], tree.proof(i)) is True


@pytest.mark.parametrize("n", [2, 3, 7, 1024])
def test_tampered_proof_fails_on_chain(documents, issuer, snapshot, n):
    docs, tree = tree_of(n)
    documents.anchor_batch(issuer("TW"), tree.root, n, DocType.COMMERCIAL_INVOICE)
    i = n - 2
    proof = tree.proof(i)
    for k in range(len(proof)):
        tampered = list(proof)
        tampered[k] = bytes([proof[k][0] ^ 0x01]) + proof[k][1:]
        assert documents.verify_on_chain(tree.root, docs[i], tampered) is False
    assert documents.verify_on_chain(tree.root, docs[i], proof[:-1]) is False
    assert documents.verify_on_chain(tree.root, os.urandom(32), proof) is False
    assert documents.verify_on_chain(tree.root, docs[i], tree.proof(i + 1)) is False


def test_proof_of_a_root_never_anchored_does_not_verify(documents):
    docs, tree = tree_of(3)
    assert documents.verify_on_chain(tree.root, docs[0], tree.proof(0)) is False


def test_single_document_batch_root_is_the_leaf(documents, issuer, snapshot):
    doc = os.urandom(32)
    documents.anchor_batch(issuer("TW"), leaf_hash(doc), 1, DocType.COMMERCIAL_INVOICE)
    assert documents.verify_on_chain(leaf_hash(doc), doc, []) is True


# ------------------------------------------------------------------ revocation


def test_issuer_revokes_a_batch(documents, issuer, w3, events, anchored):
    _, tree = anchored(3)
    sender = issuer("TW")
    receipt = documents.revoke_batch(sender, tree.root, "wrong consignee")
    now = block_time(w3, receipt["blockNumber"])
    assert events(receipt, "BatchRevoked") == [
        {
            "root": tree.root,
            "byMember": member_id_bytes("TW"),
            "by": sender.address,
            "reason": "wrong consignee",
        }
    ]
    assert documents.batch(tree.root).revoked is True
    revocation = documents.batch_revocation(tree.root)
    assert (revocation.by, revocation.revoked_at, revocation.reason) == (
        sender.address,
        now,
        "wrong consignee",
    )
    assert revocation.doc_hash is None
    assert revocation.to_json()["root"] == "0x" + tree.root.hex()


def test_issuer_revokes_one_document(documents, issuer, w3, events, anchored):
    docs, tree = anchored(7)
    sender = issuer("TW")
    receipt = documents.revoke_document(sender, tree.root, docs[4], tree.proof(4), "forged")
    assert events(receipt, "DocumentRevoked") == [
        {
            "docHash": docs[4],
            "root": tree.root,
            "byMember": member_id_bytes("TW"),
            "by": sender.address,
            "reason": "forged",
        }
    ]
    revocation = documents.document_revocation(tree.root, docs[4])
    assert (revocation.root, revocation.doc_hash, revocation.by, revocation.reason) == (
        tree.root,
        docs[4],
        sender.address,
        "forged",
    )
    assert revocation.revoked_at == block_time(w3, receipt["blockNumber"])
    assert documents.document_revocation(tree.root, docs[3]) is None
    assert documents.batch(tree.root).revoked is False


def test_any_issuer_of_the_anchoring_member_may_revoke(
    documents, registry, admin, funded, anchored, events
):
    docs, tree = anchored(3)
    second = funded("TW/issuer-2")
    proposal = registry.propose_grant_role(admin("TW"), "ISSUER", second.address, "TW")
    assert registry.vote(admin("SG"), proposal.id, True).state == "executed"
    receipt = documents.revoke_document(second, tree.root, docs[0], tree.proof(0))
    assert events(receipt, "DocumentRevoked")[0]["by"] == second.address
    documents.revoke_batch(second, tree.root)


@pytest.mark.parametrize("who", ["SG/ISSUER", "TW/AUDITOR", "TW/admin", "outsider"])
def test_only_issuers_of_the_anchoring_member_may_revoke(
    documents, chain, role_account, admin, funded, anchored, reverts, who
):
    docs, tree = anchored(3)
    member, _, role = who.partition("/")
    if who == "outsider":
        sender = funded("outsider")
    elif role == "admin":
        sender = admin(member)
    else:
        sender = chain.sender(role_account(member, role))
    with reverts("NotBatchIssuer", account=sender.address, root=tree.root):
        documents.revoke_batch(sender, tree.root, "not mine")
    with reverts("NotBatchIssuer", account=sender.address, root=tree.root):
        documents.revoke_document(sender, tree.root, docs[0], tree.proof(0), "not mine")


def test_issuer_of_a_removed_member_cannot_revoke_its_batches(
    documents, issuer, anchored, remove_member, reverts
):
    _, tree = anchored(3, member="NZ")
    remove_member("NZ")
    nz = issuer("NZ")
    with reverts("NotBatchIssuer", account=nz.address, root=tree.root):
        documents.revoke_batch(nz, tree.root)
    batch = documents.batch(tree.root)  # the anchoring itself stays on record
    assert (batch.issuer_member, batch.revoked) == ("NZ", False)


def test_revoking_an_unknown_root_reverts(documents, issuer, snapshot, reverts):
    root = os.urandom(32)
    with reverts("UnknownRoot", root=root):
        documents.revoke_batch(issuer("TW"), root)
    with reverts("UnknownRoot", root=root):
        documents.revoke_document(issuer("TW"), root, os.urandom(32), [])


def test_revoking_a_document_with_a_bad_proof_reverts(documents, issuer, anchored, reverts):
    docs, tree = anchored(7)
    stranger = os.urandom(32)
    with reverts("NotInBatch", root=tree.root, docHash=docs[2]):
        documents.revoke_document(issuer("TW"), tree.root, docs[2], tree.proof(3))
    with reverts("NotInBatch", root=tree.root, docHash=stranger):
        documents.revoke_document(issuer("TW"), tree.root, stranger, tree.proof(2))
    with reverts("NotInBatch", root=tree.root, docHash=docs[2]):
        documents.revoke_document(issuer("TW"), tree.root, docs[2], [])


def test_revoking_twice_reverts(documents, issuer, anchored, reverts):
    docs, tree = anchored(7)
    tw = issuer("TW")
    documents.revoke_document(tw, tree.root, docs[1], tree.proof(1), "first")
    with reverts("AlreadyRevoked", root=tree.root, docHash=docs[1]):
        documents.revoke_document(tw, tree.root, docs[1], tree.proof(1), "again")
    documents.revoke_batch(tw, tree.root, "all of it")
    with reverts("AlreadyRevoked", root=tree.root, docHash=ZERO):
        documents.revoke_batch(tw, tree.root, "again")
    with reverts("AlreadyRevoked", root=tree.root, docHash=ZERO):  # revoked with its batch
        documents.revoke_document(tw, tree.root, docs[2], tree.proof(2))
    assert documents.document_revocation(tree.root, docs[1]).reason == "first"
    assert documents.batch_revocation(tree.root).reason == "all of it"


def test_statuses_reflect_revocations(documents, issuer, anchored):
    docs, tree = anchored(7)
    tw = issuer("TW")
    fresh = [DocumentStatus(d, True, False, False) for d in docs]
    assert documents.statuses(tree.root, docs) == fresh
    documents.revoke_document(tw, tree.root, docs[2], tree.proof(2), "forged")
    statuses = documents.statuses(tree.root, docs)
    assert [s.doc_revoked for s in statuses] == [i == 2 for i in range(7)]
    assert [s.revoked for s in statuses] == [i == 2 for i in range(7)]
    assert documents.status(tree.root, docs[2]) == DocumentStatus(docs[2], True, False, True)
    documents.revoke_batch(tw, tree.root, "recalled")
    statuses = documents.statuses(tree.root, docs)
    assert all(s.anchored and s.batch_revoked and s.revoked for s in statuses)
    assert [s.doc_revoked for s in statuses] == [i == 2 for i in range(7)]
    assert statuses[0].to_json()["revoked"] is True


def test_statuses_of_a_root_never_anchored(documents):
    docs = [os.urandom(32) for _ in range(3)]
    root = os.urandom(32)
    assert documents.statuses(root, docs) == [DocumentStatus(d, False, False, False) for d in docs]
    assert documents.status(root, docs[0]) == DocumentStatus(docs[0], False, False, False)
    assert documents.statuses(root, []) == []
    assert documents.batch(root) is None
    assert documents.is_anchored(root) is False
    assert documents.batch_revocation(root) is None


def test_statuses_of_a_whole_1024_document_batch_in_one_call(documents, anchored, issuer):
    docs, tree = anchored(1024)
    documents.revoke_document(issuer("TW"), tree.root, docs[1000], tree.proof(1000))
    statuses = documents.statuses(tree.root, docs)
    assert [i for i, s in enumerate(statuses) if s.revoked] == [1000]


def test_revocation_is_per_batch(documents, issuer, snapshot):
    """The same document anchored in two batches is revoked only in the one named."""
    doc = os.urandom(32)
    first = MerkleTree.from_values([doc, os.urandom(32)])
    second = MerkleTree.from_values([os.urandom(32), doc, os.urandom(32)])
    tw = issuer("TW")
    documents.anchor_many(
        tw,
        [(first.root, 2, DocType.COMMERCIAL_INVOICE), (second.root, 3, DocType.COMMERCIAL_INVOICE)],
    )
    documents.revoke_document(tw, first.root, doc, first.proof(0))
    assert documents.status(first.root, doc).doc_revoked is True
    assert documents.status(second.root, doc).doc_revoked is False


def test_batch_of_unknown_root_reverts_unknown_root(documents, reverts):
    root = os.urandom(32)
    with reverts("UnknownRoot", root=root):
        view(documents, "batchOf", root)


# ------------------------------------------------------------------ facade


def test_anchor_many_pipelines_and_returns_results_in_order(documents, issuer, w3, snapshot):
    trees = [tree_of(n)[1] for n in (1, 2, 3, 4, 5)]
    sender = issuer("SG")
    results = documents.anchor_many(sender, [(t.root, len(t), DocType.PACKING_LIST) for t in trees])
    assert [r.root for r in results] == [t.root for t in trees]
    assert all(r.issuer == sender.address and r.issuer_member == "SG" for r in results)
    assert [documents.batch(t.root).count for t in trees] == [1, 2, 3, 4, 5]
    for r in results:
        assert w3.eth.get_transaction_receipt(r.tx_hash)["blockNumber"] == r.block


def test_anchor_many_refuses_before_sending(documents, issuer, funded, w3, snapshot, reverts):
    root = os.urandom(32)
    with pytest.raises(ValueError, match="more than once"):
        documents.anchor_many(issuer("TW"), [(root, 1, 1), ("0x" + root.hex(), 1, 2)])
    outsider = funded("outsider")
    block = w3.eth.block_number
    with reverts("NotIssuer", account=outsider.address):
        documents.anchor_many(outsider, [(os.urandom(32), 1, 1), (os.urandom(32), 1, 1)])
    assert w3.eth.block_number == block
    assert documents.anchor_many(issuer("TW"), []) == []


def test_anchoring_is_read_back_from_the_log(documents, issuer, deployment, snapshot):
    _, tree = tree_of(3)
    result = documents.anchor_batch(issuer("TW"), tree.root, 3, DocType.COMMERCIAL_INVOICE)
    found = documents.anchoring(
        tree.root, from_block=deployment.contracts["DocumentRegistry"].block
    )
    assert found == result
    assert documents.anchoring(os.urandom(32)) is None


def test_facade_takes_hex_and_refuses_wrong_lengths(documents, issuer, snapshot):
    docs, tree = tree_of(2)
    documents.anchor_batch(issuer("TW"), "0x" + tree.root.hex(), 2, DocType.COMMERCIAL_INVOICE)
    assert documents.batch(tree.root.hex()).root == tree.root
    proof_hex = ["0x" + p.hex() for p in tree.proof(0)]
    assert documents.verify_on_chain("0x" + tree.root.hex(), "0x" + docs[0].hex(), proof_hex)
    with pytest.raises(ValueError, match="root must be 32 bytes"):
        documents.batch(b"\x01" * 31)
    with pytest.raises(ValueError, match="doc_hash must be 32 bytes of hex"):
        documents.status(tree.root, "0xnothex")
    with pytest.raises(ValueError, match="proof element must be 32 bytes"):
        documents.verify_on_chain(tree.root, docs[0], [b"\x00"])


# ------------------------------------------------------------------ gas


def test_anchoring_costs_at_most_100_gas_per_document_at_1024(documents, issuer, snapshot):
    sender = issuer("TW")
    used = {}
    for n in (1, 64, 1024):
        result = documents.anchor_batch(sender, os.urandom(32), n, DocType.COMMERCIAL_INVOICE)
        used[n] = documents.contract.w3.eth.get_transaction_receipt(result.tx_hash)["gasUsed"]
    print(
        "\nanchorBatch gas (all in, 21k base included): "
        + ", ".join(f"{n} docs {g} ({g / n:.1f}/doc)" for n, g in used.items())
    )
    assert used[1024] <= GAS_PER_DOC_LIMIT * 1024  # 102,400
    assert used[1024] - used[1] < 100  # count only changes calldata: no per-document cost


def test_revoke_gas_is_reported(documents, issuer, anchored, w3):
    docs, tree = anchored(1024)
    tw = issuer("TW")
    doc_receipt = documents.revoke_document(tw, tree.root, docs[7], tree.proof(7), "forged")
    batch_receipt = documents.revoke_batch(tw, tree.root, "recalled")
    print(
        f"\nrevokeDocument gas (1024-doc batch, 10-step proof, 6-char reason): "
        f"{doc_receipt['gasUsed']}; revokeBatch gas (8-char reason): {batch_receipt['gasUsed']}"
    )
    assert doc_receipt["gasUsed"] < 150_000
    assert batch_receipt["gasUsed"] < 150_000
