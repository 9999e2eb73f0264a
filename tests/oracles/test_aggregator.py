"""The oracle framework: k-of-n collection, submission to AttestationHub, and its faults.

Three independent instances (TW, SG, NZ, each with its registered signer) judge one
clearance request; the aggregator must get the on-chain quorum (2) of matching signatures
or send nothing.  Faults are those of a real network: an instance down, slow, computing
something else, signing something else, a clock far off, a member voted out, a quorum
raised by governance, a replayed attestation.  The instance HTTP app and its client are
tested the same way, over HTTP in process and against a closed port.
"""

from __future__ import annotations

import dataclasses
import os
import time
import uuid
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from chain.devnet import free_port
from chain.errors import ContractReverted
from offchain import attestation as att
from oracles.aggregator import LocalInstance, OracleUnavailable
from oracles.base import KIND_NAMES, MAX_SKEW_S, OracleError, SignedResult, hash_json
from oracles.service import (
    HttpInstance,
    create_instance_app,
    signed_batch_from_json,
    signed_batch_to_json,
    signed_to_json,
)

pytestmark = [
    pytest.mark.contract,
    # offchain/declarations/'s date field warns when serialised (model_dump_json)
    pytest.mark.filterwarnings("ignore:Pydantic serializer warnings:UserWarning"),
]

CLEARANCE = int(att.CLEARANCE)
MACHINERY = "01-machinery-parts-sg.json"


# --- faulty instances ----------------------------------------------------------------------


class DownInstance:
    """An instance that cannot be reached."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.calls = 0

    def attest(self, kind: int, request: dict, *, issued_at: int, nonce: int) -> SignedResult:
        self.calls += 1
        raise ConnectionRefusedError(f"instance {self.name} is down")

    def attest_batch(self, kind: int, requests: list, *, issued_at: int, nonce: int):
        self.calls += 1
        raise ConnectionRefusedError(f"instance {self.name} is down")


class SlowInstance:
    """An instance that answers, but only after `delay_s`."""

    def __init__(self, inner: LocalInstance, delay_s: float) -> None:
        self.name = inner.name
        self.inner = inner
        self.delay_s = delay_s

    def attest(self, kind: int, request: dict, *, issued_at: int, nonce: int) -> SignedResult:
        time.sleep(self.delay_s)
        return self.inner.attest(kind, request, issued_at=issued_at, nonce=nonce)


class AlteredInstance:
    """An honest signer that judges an altered request, so its result hash differs."""

    def __init__(self, inner: LocalInstance, audit_score: float) -> None:
        self.name = inner.name
        self.inner = inner
        self.audit_score = audit_score

    def attest(self, kind: int, request: dict, *, issued_at: int, nonce: int) -> SignedResult:
        altered = {**request, "oracles": {"audit": {"score": self.audit_score}}}
        return self.inner.attest(kind, altered, issued_at=issued_at, nonce=nonce)


class ForgingInstance:
    """Reports the honest result, but its signature is over another subject."""

    def __init__(self, inner: LocalInstance, oracle_instance: Any) -> None:
        self.name = inner.name
        self.inner = inner
        self.oracle_instance = oracle_instance

    def attest(self, kind: int, request: dict, *, issued_at: int, nonce: int) -> SignedResult:
        honest = self.inner.attest(kind, request, issued_at=issued_at, nonce=nonce)
        other = dataclasses.replace(honest.attestation, subject=os.urandom(32))
        oi = self.oracle_instance
        sig = att.sign(oi.account, att.domain(oi.chain_id, oi.hub_address), other)
        return dataclasses.replace(honest, signature=sig)


# --- helpers -------------------------------------------------------------------------------


@pytest.fixture
def decl(example):
    """Example 01 (machinery parts, C1) under a declaration id no other test attests."""
    return example(MACHINERY, declaration_id=f"T-AGG-{uuid.uuid4().hex[:12]}")


@pytest.fixture
def tw_oracle(oracle_instances):
    return oracle_instances["TW"][CLEARANCE]


def signer_of(oracle_instances, member: str) -> str:
    return oracle_instances[member][CLEARANCE].signer


def assert_nothing_attested(chain, attested_events, subject: bytes, since_block: int) -> None:
    assert chain.attestations.latest(subject, CLEARANCE) is None
    assert [e for e in attested_events(since_block) if bytes(e.args["subject"]) == subject] == []


# --- a quorum of independent instances -----------------------------------------------------


def test_two_of_three_quorum_is_attested_on_chain(
    chain,
    decl,
    request_for,
    local_instances,
    aggregator_of,
    tw_oracle,
    oracle_instances,
    results_of,
    attested_events,
    snapshot,
):
    request = request_for(decl)
    expected = tw_oracle.oracle.evaluate(request)
    start = chain.w3.eth.block_number

    done = aggregator_of(local_instances).attest(CLEARANCE, request)

    assert chain.attestations.quorum(CLEARANCE) == 2
    assert done.tx.startswith("0x") and len(done.tx) == 66
    assert len(done.signers) == len({s.lower() for s in done.signers}) >= 2
    registered = {signer_of(oracle_instances, m).lower() for m in ("TW", "SG", "NZ")}
    assert {s.lower() for s in done.signers} <= registered
    assert done.result.result_hash == expected.result_hash
    latest = chain.attestations.latest(expected.subject, CLEARANCE)
    assert latest is not None
    assert latest.result_hash == expected.result_hash
    assert latest.signer_count == len(done.signers)
    assert att.model_version_str(latest.model_version) == tw_oracle.oracle.model_version
    events = [e for e in attested_events(start) if bytes(e.args["subject"]) == expected.subject]
    assert len(events) == 1 and events[0].tx_hash.lower() == done.tx.lower()
    # every instance that signed kept the full result, whose hash is the attested one
    stored = results_of(expected.subject)
    for member in done.instances:
        rows = [r for r in stored[member] if r["nonce"] == latest.nonce]
        assert len(rows) == 1
        assert rows[0]["result_hash"] == "0x" + expected.result_hash.hex()
        assert rows[0]["output"] == expected.output


def test_one_instance_down_still_reaches_quorum(
    chain, decl, request_for, local_instances, aggregator_of, oracle_instances, snapshot
):
    down = DownInstance("NZ")
    done = aggregator_of([*local_instances[:2], down]).attest(CLEARANCE, request_for(decl))

    assert down.calls == 1
    assert done.instances == ["TW", "SG"]
    assert {s.lower() for s in done.signers} == {
        signer_of(oracle_instances, m).lower() for m in ("TW", "SG")
    }
    subject = done.result.subject
    assert chain.attestations.latest(subject, CLEARANCE).signer_count == 2


def test_a_slow_instance_counts_as_down(
    chain, decl, request_for, local_instances, aggregator_of, snapshot
):
    slow = SlowInstance(local_instances[2], delay_s=3.0)
    agg = aggregator_of([*local_instances[:2], slow], timeout_s=1.0)
    started = time.monotonic()
    done = agg.attest(CLEARANCE, request_for(decl))
    assert time.monotonic() - started < 3.0  # did not wait for the slow one
    assert done.instances == ["TW", "SG"]


def test_all_instances_down_is_unavailable_and_nothing_is_submitted(
    chain, decl, request_for, aggregator_of, tw_oracle, attested_events, operator
):
    request = request_for(decl)
    subject = tw_oracle.oracle.subject(request)
    start = chain.w3.eth.block_number
    nonce_before = chain.w3.eth.get_transaction_count(operator.address)
    downs = [DownInstance(m) for m in ("TW", "SG", "NZ")]

    with pytest.raises(OracleUnavailable) as caught:
        aggregator_of(downs).attest(CLEARANCE, request)

    err = caught.value
    assert (err.http_status, err.code) == (503, "oracle_unavailable")
    assert "0 matching signature(s) of 3 instances, quorum is 2" in err.detail
    assert "nothing was submitted" in err.detail
    for m in ("TW", "SG", "NZ"):
        assert f"{m}: ConnectionRefusedError" in err.detail
    assert all(d.calls == 1 for d in downs)
    assert chain.w3.eth.get_transaction_count(operator.address) == nonce_before
    assert_nothing_attested(chain, attested_events, subject, start)


def test_two_instances_down_is_below_quorum(
    chain,
    decl,
    request_for,
    local_instances,
    aggregator_of,
    tw_oracle,
    attested_events,
    results_of,
):
    request = request_for(decl)
    subject = tw_oracle.oracle.subject(request)
    start = chain.w3.eth.block_number
    with pytest.raises(OracleUnavailable, match=r"1 matching signature\(s\) of 3 instances"):
        aggregator_of([local_instances[0], DownInstance("SG"), DownInstance("NZ")]).attest(
            CLEARANCE, request
        )
    assert_nothing_attested(chain, attested_events, subject, start)
    assert len(results_of(subject)["TW"]) == 1  # TW signed and kept it; nothing went on chain


def test_disagreeing_instance_is_outvoted_by_the_agreeing_pair(
    chain, decl, request_for, local_instances, aggregator_of, tw_oracle, snapshot
):
    request = request_for(decl)
    honest = tw_oracle.oracle.evaluate(request)
    odd = AlteredInstance(local_instances[1], audit_score=0.99)

    done = aggregator_of([local_instances[0], odd, local_instances[2]]).attest(CLEARANCE, request)

    assert done.instances == ["TW", "NZ"]
    assert done.result.result_hash == honest.result_hash
    assert done.result.output == honest.output
    latest = chain.attestations.latest(honest.subject, CLEARANCE)
    assert latest.result_hash == honest.result_hash and latest.signer_count == 2


def test_the_largest_agreeing_group_wins_even_against_the_aggregators_own_member(
    chain, decl, request_for, local_instances, aggregator_of, tw_oracle, snapshot
):
    request = request_for(decl)
    honest = tw_oracle.oracle.evaluate(request)
    agg = aggregator_of(
        [
            AlteredInstance(local_instances[0], 0.5),
            local_instances[1],
            local_instances[2],
        ]
    )
    done = agg.attest(CLEARANCE, request)
    assert done.instances == ["SG", "NZ"]
    assert done.result.result_hash == honest.result_hash


def test_no_two_instances_agreeing_is_unavailable(
    chain, decl, request_for, local_instances, aggregator_of, tw_oracle, attested_events
):
    request = request_for(decl)
    subject = tw_oracle.oracle.subject(request)
    start = chain.w3.eth.block_number
    agg = aggregator_of(
        [
            local_instances[0],
            AlteredInstance(local_instances[1], 0.2),
            AlteredInstance(local_instances[2], 0.3),
        ]
    )
    with pytest.raises(OracleUnavailable) as caught:
        agg.attest(CLEARANCE, request)
    assert "1 matching signature(s) of 3 instances, quorum is 2" in caught.value.detail
    assert "instances disagreed on the result" in caught.value.detail
    assert_nothing_attested(chain, attested_events, subject, start)


def test_the_same_signer_twice_counts_once(
    chain, decl, request_for, local_instances, aggregator_of, tw_oracle, attested_events
):
    """Two instances holding the same key are one oracle, not a quorum."""
    request = request_for(decl)
    subject = tw_oracle.oracle.subject(request)
    start = chain.w3.eth.block_number
    twin = LocalInstance("TW-twin", local_instances[0].by_kind)
    with pytest.raises(OracleUnavailable, match=r"1 matching signature\(s\)"):
        aggregator_of([local_instances[0], twin, DownInstance("NZ")]).attest(CLEARANCE, request)
    assert_nothing_attested(chain, attested_events, subject, start)


# --- time ------------------------------------------------------------------------------------


def test_an_instance_refuses_an_issued_at_far_from_its_clock(
    decl, request_for, tw_oracle, results_of
):
    request = request_for(decl)
    now = int(time.time())
    for issued_at in (now - MAX_SKEW_S - 60, now + MAX_SKEW_S + 60):
        with pytest.raises(OracleError) as caught:
            tw_oracle.attest(request, issued_at=issued_at, nonce=1)
        assert (caught.value.code, caught.value.http_status) == ("bad_time", 400)
    assert results_of(tw_oracle.oracle.subject(request))["TW"] == []  # refused: nothing kept
    signed = tw_oracle.attest(request, issued_at=now - MAX_SKEW_S + 30, nonce=2)  # within skew
    assert signed.attestation.issued_at == now - MAX_SKEW_S + 30


def test_an_instance_with_a_wrong_clock_only_costs_its_vote(
    chain, decl, request_for, local_instances, aggregator_of, oracle_instances, snapshot
):
    skewed = dataclasses.replace(
        oracle_instances["NZ"][CLEARANCE], clock=lambda: time.time() + 3600
    )
    nz = LocalInstance("NZ", {CLEARANCE: skewed})
    done = aggregator_of([*local_instances[:2], nz]).attest(CLEARANCE, request_for(decl))
    assert done.instances == ["TW", "SG"]


def test_an_aggregator_with_a_wrong_clock_gets_no_quorum(
    chain, decl, request_for, local_instances, aggregator_of, tw_oracle, attested_events
):
    request = request_for(decl)
    start = chain.w3.eth.block_number
    agg = aggregator_of(local_instances, clock=lambda: time.time() - 7200)
    with pytest.raises(OracleUnavailable) as caught:
        agg.attest(CLEARANCE, request)
    assert caught.value.detail.count("bad_time") == 3
    assert_nothing_attested(chain, attested_events, tw_oracle.oracle.subject(request), start)


# --- governance: quorum and members ------------------------------------------------------------


def test_quorum_raised_to_three_by_governance_with_two_instances_is_unavailable(
    chain,
    decl,
    request_for,
    local_instances,
    aggregator_of,
    set_quorum,
    tw_oracle,
    attested_events,
):
    set_quorum(CLEARANCE, 3)
    request = request_for(decl)
    start = chain.w3.eth.block_number
    agg = aggregator_of([*local_instances[:2], DownInstance("NZ")])
    with pytest.raises(
        OracleUnavailable,
        match=r"2 matching signature\(s\) of 3 instances, "
        r"quorum is 3",
    ):
        agg.attest(CLEARANCE, request)
    assert_nothing_attested(chain, attested_events, tw_oracle.oracle.subject(request), start)

    done = aggregator_of(local_instances).attest(CLEARANCE, request)  # all three: accepted
    assert len(done.signers) == 3
    assert chain.attestations.latest(done.result.subject, CLEARANCE).signer_count == 3


def test_removed_members_oracle_with_one_other_is_below_quorum(
    chain,
    decl,
    request_for,
    local_instances,
    aggregator_of,
    remove_member,
    tw_oracle,
    oracle_instances,
    attested_events,
):
    """The aggregator does not count a signature the hub would refuse (NZ was removed):
    one countable signature is below the quorum, so nothing is sent at all."""
    remove_member("NZ")
    request = request_for(decl)
    subject = tw_oracle.oracle.subject(request)
    start = chain.w3.eth.block_number
    nz_signer = oracle_instances["NZ"][CLEARANCE].signer
    agg = aggregator_of([local_instances[0], DownInstance("SG"), local_instances[2]])
    with pytest.raises(OracleUnavailable) as caught:
        agg.attest(CLEARANCE, request)
    assert "not an active oracle" in str(caught.value)
    assert "1 matching signature" in str(caught.value)
    assert chain.w3.eth.block_number == start
    assert_nothing_attested(chain, attested_events, subject, start)
    assert chain.attestations.oracle(nz_signer).active is True  # the hub's flag is untouched


def test_removed_members_oracle_does_not_block_the_other_two(
    chain,
    decl,
    request_for,
    local_instances,
    aggregator_of,
    remove_member,
    oracle_instances,
):
    remove_member("NZ")
    done = aggregator_of(local_instances).attest(CLEARANCE, request_for(decl))
    assert {s.lower() for s in done.signers} == {
        signer_of(oracle_instances, m).lower() for m in ("TW", "SG")
    }


# --- signatures the hub must refuse ------------------------------------------------------------


def test_a_replayed_attestation_is_refused(
    chain, decl, request_for, local_instances, aggregator_of, operator, snapshot
):
    group = aggregator_of(local_instances).collect(CLEARANCE, request_for(decl))
    signatures = [g.signature for g in group]
    first = chain.attestations.submit(operator, group[0].attestation, signatures)
    assert len(first.signers) == len(group)

    with pytest.raises(ContractReverted) as caught:
        chain.attestations.submit(operator, group[0].attestation, signatures)
    assert caught.value.error == "AlreadyAttested"
    assert bytes(caught.value.error_args["digest"]) == first.digest
    assert chain.attestations.is_attested(group[0].attestation)


def test_a_signature_over_another_subject_is_refused(
    chain,
    decl,
    request_for,
    local_instances,
    aggregator_of,
    oracle_instances,
    operator,
    tw_oracle,
    attested_events,
):
    request = request_for(decl)
    start = chain.w3.eth.block_number
    group = aggregator_of(local_instances).collect(CLEARANCE, request)
    a = group[0].attestation
    other = dataclasses.replace(a, subject=os.urandom(32))
    tw = oracle_instances["TW"][CLEARANCE]
    forged = att.sign(tw.account, att.domain(tw.chain_id, tw.hub_address), other)
    # over `a`, that signature recovers to an address no one registered
    assert att.recover(chain.attestations.domain, a, forged).lower() != tw.signer.lower()
    honest_sg = next(g.signature for g in group if g.instance == "SG")

    with pytest.raises(ContractReverted) as caught:
        chain.attestations.submit(operator, a, [forged, honest_sg])
    assert caught.value.error == "UnknownOracle"
    assert_nothing_attested(chain, attested_events, a.subject, start)


def test_a_forged_signature_is_refused(
    chain, decl, request_for, local_instances, aggregator_of, operator
):
    group = aggregator_of(local_instances).collect(CLEARANCE, request_for(decl))
    bad = bytes(64) + b"\x1b"  # r = s = 0: ECDSA recovers nothing
    with pytest.raises(ContractReverted) as caught:
        chain.attestations.submit(operator, group[0].attestation, [group[0].signature, bad])
    assert caught.value.error == "InvalidSignature"
    assert chain.attestations.latest(group[0].attestation.subject, CLEARANCE) is None


def test_an_instance_signing_another_subject_only_costs_its_vote(
    chain, decl, request_for, local_instances, aggregator_of, oracle_instances, snapshot
):
    forging = ForgingInstance(local_instances[2], oracle_instances["NZ"][CLEARANCE])
    done = aggregator_of([*local_instances[:2], forging]).attest(CLEARANCE, request_for(decl))
    assert done.instances == ["TW", "SG"]


# --- the instance over HTTP --------------------------------------------------------------------


@pytest.fixture
def instance_client(oracle_instances):
    """member -> an httpx client talking to that member's instance app in process."""
    clients = {
        m: TestClient(create_instance_app(m, oracle_instances[m])) for m in ("TW", "SG", "NZ")
    }
    yield clients
    for c in clients.values():
        c.close()


def test_health_lists_the_kinds_and_signers(instance_client, oracle_instances):
    body = instance_client["SG"].get("/health").json()
    assert body["instance"] == "SG"
    assert body["oracles"] == {
        KIND_NAMES[k]: {"signer": i.signer, "model_version": i.oracle.model_version}
        for k, i in oracle_instances["SG"].items()
    }
    assert {"CLEARANCE", "TARIFF"} <= set(body["oracles"])


def test_attest_over_http_returns_a_verifiable_signature(
    chain, instance_client, decl, request_for, oracle_instances
):
    request = request_for(decl)
    issued_at, nonce = int(time.time()), 12345
    resp = instance_client["TW"].post(
        "/attest/clearance", json={"request": request, "issued_at": issued_at, "nonce": nonce}
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    a = body["attestation"]
    typed = att.Attestation(
        a["subject"], a["kind"], a["result_hash"], a["model_version"], a["issued_at"], a["nonce"]
    )
    assert (typed.kind, typed.issued_at, typed.nonce) == (att.CLEARANCE, issued_at, nonce)
    assert a["result_hash"] == body["result"]["result_hash"]
    signer = att.recover(chain.attestations.domain, typed, bytes.fromhex(body["signature"][2:]))
    assert signer == body["signer"] == oracle_instances["TW"][CLEARANCE].signer
    assert chain.attestations.hash_attestation(typed) == att.digest(
        chain.attestations.domain, typed
    )
    assert body["result"]["output"]["declaration_id"] == decl.declaration_id


def test_unknown_kind_is_404_and_a_kind_not_run_too(instance_client, decl, request_for):
    body = {"request": request_for(decl), "issued_at": int(time.time()), "nonce": 1}
    for kind in ("lottery", "audit"):  # not a kind; a kind not run here (no audit model)
        resp = instance_client["TW"].post(f"/attest/{kind}", json=body)
        assert resp.status_code == 404, (kind, resp.text)
        assert resp.json()["error"] == "unknown_kind"
        assert "CLEARANCE" in resp.json()["detail"]


def test_bad_time_over_http_is_400_and_the_client_raises_it(instance_client, decl, request_for):
    request = request_for(decl)
    resp = instance_client["TW"].post(
        "/attest/clearance", json={"request": request, "issued_at": 1000, "nonce": 1}
    )
    assert resp.status_code == 400
    assert resp.json()["error"] == "bad_time"
    client = HttpInstance("TW", "http://testserver", client=instance_client["TW"])
    with pytest.raises(OracleError) as caught:
        client.attest(CLEARANCE, request, issued_at=1000, nonce=1)
    assert (caught.value.code, caught.value.http_status) == ("bad_time", 400)


def test_an_invalid_declaration_over_http_is_a_422_naming_the_problem(
    oracle_instances, decl, request_for
):
    app = create_instance_app("TW", oracle_instances["TW"])
    with TestClient(app, raise_server_exceptions=False) as client:
        request = request_for(decl)
        request["declaration"]["currency"] = "XYZ"
        resp = client.post(
            "/attest/clearance",
            json={"request": request, "issued_at": int(time.time()), "nonce": 1},
        )
    assert resp.status_code == 422, resp.text
    assert resp.json()["error"] == "invalid_currency"


def test_http_instances_reach_quorum_with_one_on_a_closed_port(
    chain, instance_client, decl, request_for, aggregator_of, snapshot
):
    closed = HttpInstance("NZ", f"http://127.0.0.1:{free_port()}", timeout_s=2.0)
    instances = [
        HttpInstance(m, "http://testserver", client=instance_client[m]) for m in ("TW", "SG")
    ]
    done = aggregator_of([*instances, closed]).attest(CLEARANCE, request_for(decl))
    assert done.instances == ["TW", "SG"]
    assert chain.attestations.latest(done.result.subject, CLEARANCE).signer_count == 2


def test_an_http_instance_on_a_closed_port_counts_as_down(decl, request_for, aggregator_of):
    closed = [
        HttpInstance(m, f"http://127.0.0.1:{free_port()}", timeout_s=2.0)
        for m in ("TW", "SG", "NZ")
    ]
    with pytest.raises(OracleUnavailable) as caught:
        aggregator_of(closed).attest(CLEARANCE, request_for(decl))
    assert caught.value.detail.count("ConnectError") == 3


def test_http_client_refuses_an_answer_that_signs_another_result(decl, request_for, tw_oracle):
    """An instance reporting one result and signing another is not believed."""
    signed = tw_oracle.attest(request_for(decl), issued_at=int(time.time()), nonce=7)
    body = signed_to_json(signed)
    body["result"]["result_hash"] = "0x" + os.urandom(32).hex()
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json=body))
    client = HttpInstance("TW", "http://tw", client=httpx.Client(transport=transport))
    with pytest.raises(OracleError) as caught:
        client.attest(CLEARANCE, request_for(decl), issued_at=signed.attestation.issued_at, nonce=7)
    assert caught.value.code == "inconsistent"


# --- batches: many results under one attested Merkle root --------------------------------------


@pytest.fixture
def batch_requests(example, request_for):
    """Three clearance requests (examples 01, 04, 05) under ids no other test attests."""
    names = (
        "01-machinery-parts-sg.json",
        "04-lithium-batteries-cn.xml",
        "05-undervalued-apparel-vn.xml",
    )
    return [
        request_for(example(n, declaration_id=f"T-BATCH-{uuid.uuid4().hex[:12]}")) for n in names
    ]


def test_a_batch_is_attested_once_and_every_result_verifies(
    chain, batch_requests, local_instances, aggregator_of, tw_oracle, snapshot
):
    expected = [tw_oracle.oracle.evaluate(r) for r in batch_requests]
    done = aggregator_of(local_instances).attest_batch(CLEARANCE, batch_requests)

    assert [r.result_hash for r in done.results] == [e.result_hash for e in expected]
    tree = att.results_tree([(e.subject, e.result_hash) for e in expected])
    assert done.root == tree.root
    batch = chain.attestations.batch(done.root)
    assert batch is not None
    assert (batch.count, batch.kind) == (3, att.CLEARANCE)
    assert batch.signer_count == len(done.signers) >= 2
    for i, e in enumerate(expected):
        assert chain.attestations.verify_result(done.root, e.subject, e.result_hash, tree.proof(i))
    other = expected[1].result_hash
    assert not chain.attestations.verify_result(
        done.root, expected[0].subject, other, tree.proof(0)
    )


def test_a_batch_with_one_instance_down_is_attested_by_the_other_two(
    chain, batch_requests, local_instances, aggregator_of, snapshot
):
    done = aggregator_of([*local_instances[:2], DownInstance("NZ")]).attest_batch(
        CLEARANCE, batch_requests
    )
    assert len(done.signers) == 2
    assert chain.attestations.batch(done.root).signer_count == 2


def test_a_batch_with_every_instance_down_submits_nothing(
    chain, batch_requests, aggregator_of, tw_oracle, operator
):
    expected = [tw_oracle.oracle.evaluate(r) for r in batch_requests]
    root = att.results_tree([(e.subject, e.result_hash) for e in expected]).root
    nonce_before = chain.w3.eth.get_transaction_count(operator.address)
    with pytest.raises(OracleUnavailable) as caught:
        aggregator_of([DownInstance(m) for m in ("TW", "SG", "NZ")]).attest_batch(
            CLEARANCE, batch_requests
        )
    assert "nothing was submitted" in caught.value.detail
    assert chain.attestations.batch(root) is None
    assert chain.w3.eth.get_transaction_count(operator.address) == nonce_before


def test_an_empty_batch_is_refused(local_instances, aggregator_of):
    with pytest.raises(OracleError) as caught:
        aggregator_of(local_instances).attest_batch(CLEARANCE, [])
    assert (caught.value.code, caught.value.http_status) == ("empty_batch", 400)


def test_batches_over_http_and_a_root_that_does_not_match_its_results(
    chain, instance_client, batch_requests, aggregator_of, snapshot
):
    instances = [
        HttpInstance(m, "http://testserver", client=instance_client[m]) for m in ("TW", "SG", "NZ")
    ]
    done = aggregator_of(instances).attest_batch(CLEARANCE, batch_requests)
    assert chain.attestations.batch(done.root).count == 3

    resp = instance_client["SG"].post(
        "/attest_batch/clearance",
        json={"requests": batch_requests, "issued_at": int(time.time()), "nonce": 5},
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    body["results"] = body["results"][:2]  # drops a result it signed
    with pytest.raises(OracleError) as caught:
        signed_batch_from_json(body)
    assert caught.value.code == "inconsistent"


def test_a_batch_answer_over_http_is_the_batch_as_json(instance_client, batch_requests):
    """The answer is serialised by hand (outputs spliced as hashed): it must read back as
    the signed batch, every result's output and hash intact."""
    resp = instance_client["TW"].post(
        "/attest_batch/clearance",
        json={"requests": batch_requests, "issued_at": int(time.time()), "nonce": 9},
    )
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"] == "application/json"
    signed = signed_batch_from_json(resp.json())  # checks the root against the results
    assert signed_batch_to_json(signed) == {**resp.json(), "instance": "TW"}
    for r in signed.results:
        full = {"output": r.output, "model_version": r.model_version}
        assert hash_json(full) == r.result_hash


def test_a_bad_batch_over_http_is_a_4xx_naming_the_problem(instance_client, batch_requests):
    client, now = instance_client["TW"], int(time.time())
    bad_decl = [dict(r) for r in batch_requests]
    bad_decl[1] = {**bad_decl[1], "declaration": {**bad_decl[1]["declaration"], "currency": "X"}}
    cases = [
        ("clearance", {"requests": [], "issued_at": now, "nonce": 1}, 422, "requests"),
        ("clearance", {"requests": batch_requests, "issued_at": now, "nonce": -1}, 422, "nonce"),
        ("clearance", {"requests": "all", "issued_at": now, "nonce": 1}, 422, "requests"),
        ("clearance", {"requests": batch_requests, "issued_at": 1000, "nonce": 1}, 400, "bad_time"),
        ("clearance", {"requests": bad_decl, "issued_at": now, "nonce": 1}, 422, "currency"),
        (
            "lottery",
            {"requests": batch_requests, "issued_at": now, "nonce": 1},
            404,
            "unknown_kind",
        ),
    ]
    for kind, body, status, named in cases:
        resp = client.post(f"/attest_batch/{kind}", json=body)
        assert resp.status_code == status, (body, resp.text)
        assert named in resp.text
    resp = client.post(
        "/attest_batch/clearance",
        content=b"{not json",
        headers={"content-type": "application/json"},
    )
    assert resp.status_code == 422


def test_batches_in_a_row_are_each_attested_with_their_own_root(
    chain, example, request_for, local_instances, aggregator_of, tw_oracle, snapshot
):
    """attest_batches collects the next batch while the previous one is submitted."""
    batches = [
        [
            request_for(example(MACHINERY, declaration_id=f"T-ROW-{b}-{uuid.uuid4().hex[:8]}"))
            for _ in range(2)
        ]
        for b in range(3)
    ]
    done = list(aggregator_of(local_instances).attest_batches(CLEARANCE, batches))

    assert len({d.root for d in done}) == 3
    for batch, d in zip(batches, done, strict=True):
        expected = [tw_oracle.oracle.evaluate(r) for r in batch]
        tree = att.results_tree([(e.subject, e.result_hash) for e in expected])
        assert d.root == tree.root
        assert chain.attestations.batch(d.root).count == 2
        assert chain.attestations.verify_result(
            d.root, expected[1].subject, expected[1].result_hash, tree.proof(1)
        )


def test_batches_in_a_row_stop_at_the_first_without_quorum(
    chain, batch_requests, local_instances, aggregator_of, operator
):
    agg = aggregator_of([local_instances[0], DownInstance("SG"), DownInstance("NZ")])
    nonce_before = chain.w3.eth.get_transaction_count(operator.address)
    with pytest.raises(OracleUnavailable):
        list(agg.attest_batches(CLEARANCE, [batch_requests[:1], batch_requests[1:]]))
    assert chain.w3.eth.get_transaction_count(operator.address) == nonce_before
