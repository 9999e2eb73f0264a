"""Bulk intake on worker processes, batch receipts and the verifier's chain reads (issue #17).

The promise of a single submission holds for a bulk one: what `BulkIntake.submit` answers
as accepted is in the content store and the outbox when it answers, and is anchored exactly
once; one bad document is refused on its own.  No test here times anything.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from chain.context import Chain
from chain.verification import ChainReads, verify_many
from nodes.documents.intake import BulkIntake, Refused
from nodes.documents.service import DocumentService, Submitted
from offchain.db import Database
from offchain.outbox import Outbox
from offchain.xmlsafe import XmlLimits

pytestmark = [pytest.mark.integration]

CO = "certificate-of-origin"


@pytest.fixture
def service(fresh_consortium) -> Iterator[DocumentService]:
    fresh = fresh_consortium()
    db = Database(fresh.node_dir("TW") / "node.sqlite")
    yield DocumentService(fresh, "TW", Chain(fresh), db)
    db.close()


def test_bulk_intake_accepts_each_document_durably_and_refuses_bad_ones_alone(
    service: DocumentService, sample_xml
):
    good = [sample_xml(CO) for _ in range(5)]
    bad = good[1].replace(b"<HSCode>", b"<HSCode>x", 1)
    xmls = [good[0], bad, good[1], good[2], good[0], good[3], b"<not xml", good[4]]
    with BulkIntake(service, workers=2, chunk=3) as intake:
        outcomes = intake.submit(xmls, CO, "SG", "importer-clerk")

    assert [type(o).__name__ for o in outcomes] == [
        "Submitted",
        "Refused",
        "Submitted",
        "Submitted",
        "Submitted",
        "Submitted",
        "Refused",
        "Submitted",
    ]
    refused = [o for o in outcomes if isinstance(o, Refused)]
    assert [(r.index, r.code) for r in refused] == [(1, "schema_invalid"), (6, "xml_malformed")]
    accepted = [o for o in outcomes if isinstance(o, Submitted)]
    assert [o.duplicate for o in accepted] == [False, False, False, True, False, False]
    assert accepted[3].doc_hash == accepted[0].doc_hash

    # Accepted means stored: read by another connection, as a restarted node would.
    db = Database(service.settings.node_dir("TW") / "node.sqlite")
    try:
        outbox = Outbox(db)
        assert outbox.counts()["queued"] == 5
        for o in accepted:
            doc = outbox.document(o.doc_hash)
            assert doc.recipient == "SG" and doc.submitted_by == "importer-clerk"
            assert service.store.has(doc.cid_recipient)
    finally:
        db.close()
    assert [e.kind for e in service.log.events(accepted[0].doc_hash)] == ["submitted"]

    assert service.anchor_pending(force=True) == 5
    assert service.anchor_pending(force=True) == 0  # exactly once
    # The sealed copy opens for SG; our own copy for us.
    sg_key = service.chain.keys.box_key("SG")
    from offchain import crypto

    doc = service.document(accepted[0].doc_hash)
    assert crypto.unseal(sg_key, service.store.get(doc.cid_recipient)) == service.open_own(
        doc.doc_hash
    )


def test_bulk_intake_refuses_a_document_already_sent_to_another_partner(
    service: DocumentService, sample_xml
):
    xml = sample_xml(CO)
    first = service.submit(xml, CO, "NZ", "clerk")
    with BulkIntake(service, workers=1) as intake:
        (again,) = intake.submit([xml], CO, "SG", "clerk")
        (same,) = intake.submit([xml], CO, "NZ", "clerk")
    assert isinstance(again, Refused) and again.code == "already_sent_elsewhere"
    assert again.http_status == 409
    assert isinstance(same, Submitted) and same.duplicate and same.doc_hash == first.doc_hash


def test_batch_receipts_are_the_receipts_of_each_document_and_verify(
    service: DocumentService, sample_xml
):
    xmls = [sample_xml(CO) for _ in range(7)]
    hashes = [s.doc_hash for s in service.submit_many(xmls, CO, "SG", "clerk")]
    service.anchor_pending(force=True)
    root = service.document(hashes[0]).batch_root
    receipts = service.batch_receipts(root)
    assert receipts == [service.receipt(service.document(h)) for h in hashes]
    assert service.batch_receipts("0x" + "00" * 32) == []

    chain = service.chain
    reads = ChainReads(chain.documents, chain.registry)
    calls = []
    real_batch = chain.documents.batch
    chain.documents.batch = lambda r: calls.append(r) or real_batch(r)  # type: ignore[method-assign]
    try:
        for _ in range(2):  # the second time the batch and its anchoring are remembered
            verdicts = verify_many(
                list(zip(xmls, receipts, strict=True)),
                documents=chain.documents,
                registry=chain.registry,
                chain_id=chain.deployment.chain_id,
                limits=XmlLimits(),
                reads=reads,
            )
            assert all(v.valid for v in verdicts), [v.reason for v in verdicts]
    finally:
        del chain.documents.batch
    assert calls == [root]

    # Revocations are never cached: revoking one document shows at once.
    service.revoke_document(hashes[2], "issued in error", "officer")
    verdicts = verify_many(
        list(zip(xmls, receipts, strict=True)),
        documents=chain.documents,
        registry=chain.registry,
        chain_id=chain.deployment.chain_id,
        limits=XmlLimits(),
        reads=reads,
    )
    assert [v.valid for v in verdicts] == [True, True, False, True, True, True, True]
    assert "issued in error" in verdicts[2].reason


def test_chain_reads_keep_membership_for_a_bounded_time(service: DocumentService):
    now = [100.0]
    asked = []

    class Registry:
        def is_active_member(self, member: str) -> bool:
            asked.append(member)
            return len(asked) < 2

    reads = ChainReads(service.chain.documents, Registry(), ttl_s=5.0, clock=lambda: now[0])
    assert reads.is_active_member("TW") is True
    now[0] += 4.9
    assert reads.is_active_member("TW") is True
    now[0] += 0.2
    assert reads.is_active_member("TW") is False  # asked again once the TTL ran out
    assert asked == ["TW", "TW"]


def test_document_statuses_encoded_here_match_the_contracts_answer(
    service: DocumentService, sample_xml
):
    hashes = [s.doc_hash for s in service.submit_many([sample_xml(CO)], CO, "SG", "c")]
    service.anchor_pending(force=True)
    root = service.document(hashes[0]).batch_root
    others = ["0x" + i.to_bytes(32, "big").hex() for i in range(300)]
    found = service.chain.documents.statuses(root, hashes + others)
    assert len(found) == 301
    assert all(s.anchored and not s.revoked for s in found)
    one = service.chain.documents.status(root, hashes[0])
    assert (one.anchored, one.batch_revoked, one.doc_revoked) == (True, False, False)
