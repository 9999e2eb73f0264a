"""Oracle instances in this process, the aggregator over them, and the chain facts they judge.

Every member (TW, SG, NZ) runs one clearance instance with its registered signer, as
`member_instances` builds them; the aggregator asks them all and submits through TW's
ORACLE_OPERATOR.  Wrappers stand for the faults a real network has: an instance that is down,
one that computes something else, one that signs the wrong thing.  Fixtures that change the
chain (permits, documents, governance) take `snapshot`, so every test starts from the same
chain.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest

from chain.context import Chain
from chain.events import read_events
from chain.registry import ConsortiumRegistry
from chain.sender import TxSender
from offchain import attestation as att
from offchain.declarations import Declaration, load_declaration_json, load_declaration_xml
from offchain.doctypes import DOC_TYPES
from offchain.keystore import role_account_name
from offchain.merkle import MerkleTree, leaf_hash
from offchain.permits import Permit, load_permit
from offchain.settings import REPO_ROOT, Settings
from oracles.aggregator import Aggregator, LocalInstance
from oracles.base import OracleInstance
from oracles.instances import member_instances

MEMBERS = ("TW", "SG", "NZ")
CLEARANCE = int(att.CLEARANCE)
EXAMPLES = REPO_ROOT / "examples"
BEEF_PERMIT = "IP-TW-2025-0042"
BEEF_IMPORTER = "TW-BAN-89012457"


# --- declarations --------------------------------------------------------------------------


def example_declaration(name: str, **update: Any) -> Declaration:
    """An example declaration (`"02-frozen-beef-nz-permit.json"`) dated today, then `update`."""
    path = EXAMPLES / "declarations" / name
    raw = path.read_bytes()
    decl = load_declaration_xml(raw) if path.suffix == ".xml" else load_declaration_json(raw)
    return revalidated(decl, **{"date": dt.date.today().isoformat(), **update})


def revalidated(decl: Declaration, **fields: Any) -> Declaration:
    """`decl` with top-level `fields` replaced (JSON values), checked again like a new one."""
    return load_declaration_json({**decl.to_json(), **fields})


def clearance_request(decl: Declaration, oracles: dict | None = None) -> dict[str, Any]:
    """The request the node sends the clearance oracle (ClearanceService.declare's form)."""
    return {"declaration": json.loads(decl.model_dump_json()), "oracles": oracles or {}}


def with_items(decl: Declaration, **changes: Any) -> Declaration:
    """`decl` with every item's fields changed alike (`permits=["P-1"]`, JSON values)."""
    items = [{**item, **changes} for item in decl.to_json()["items"]]
    return revalidated(decl, items=items)


# --- instances and the aggregator ----------------------------------------------------------


@pytest.fixture(scope="session")
def oracle_instances(settings: Settings, chain: Chain) -> dict[str, dict[int, OracleInstance]]:
    """member -> kind -> OracleInstance: each member's clearance instance with its own store."""
    return {m: member_instances(settings, m, chain) for m in MEMBERS}


@pytest.fixture
def local_instances(oracle_instances) -> list[LocalInstance]:
    """The three members' instances as the aggregator reaches them (TW, SG, NZ)."""
    return [LocalInstance(m, oracle_instances[m]) for m in MEMBERS]


@pytest.fixture(scope="session")
def operator(chain: Chain) -> TxSender:
    """TW's ORACLE_OPERATOR: submits attestations and draws permits down."""
    return chain.sender(role_account_name("TW", "ORACLE_OPERATOR"))


@pytest.fixture
def aggregator_of(chain: Chain, operator: TxSender) -> Iterator[Callable[..., Aggregator]]:
    """`aggregator_of(instances)`: an Aggregator over them with the hub's quorum; closed after."""
    made: list[Aggregator] = []

    def make(instances: Sequence[Any], **kw: Any) -> Aggregator:
        agg = Aggregator(
            instances,
            chain.attestations,
            operator,
            quorum=chain.attestations.quorum,
            **{"timeout_s": 20.0, **kw},
        )
        made.append(agg)
        return agg

    yield make
    for agg in made:
        agg.close()


# --- chain facts: events, permits, documents, governance -----------------------------------


@pytest.fixture
def attested_events(chain: Chain, w3) -> Callable[[int], list]:
    """`attested_events(from_block)`: the hub's Attested events since that block."""
    hub = chain.attestations
    return lambda from_block: list(
        read_events(w3, hub.contract, hub.name, events=["Attested"], from_block=from_block)
    )


def shifted_permit(**changes: Any) -> Permit:
    """The example permit IP-TW-2025-0042 valid from 30 days ago for a year, then `changes`."""
    permit = load_permit((EXAMPLES / "permits" / "frozen-beef-tw.json").read_bytes())
    today = dt.date.today()
    fields = {
        "valid_from": today - dt.timedelta(days=30),
        "valid_to": today + dt.timedelta(days=365),
        **changes,
    }
    if "hs_codes" in fields:
        fields["hs_codes"] = tuple(sorted(fields["hs_codes"]))
    return dataclasses.replace(permit, **fields)


@pytest.fixture
def issue_permit(chain: Chain, snapshot: None) -> Callable[..., Permit]:
    """`issue_permit(quantity=Decimal(5))`: issue the shifted beef permit from TW's agency."""

    def issue(**changes: Any) -> Permit:
        permit = shifted_permit(**changes)
        sender = chain.sender(role_account_name(permit.agency, "PERMIT_AGENCY"))
        chain.permits.issue(sender, permit)
        return permit

    return issue


@pytest.fixture
def anchor_documents(chain: Chain, snapshot: None) -> Callable[..., list[dict]]:
    """`anchor_documents("SG", [(doc_type, doc_hash), ...])`: anchor one batch from the member's
    ISSUER; returns each document's receipt JSON (as a declaration embeds it) and the proof."""

    def anchor(member: str, docs: Sequence[tuple[str, str]]) -> list[dict]:
        codes = {t.name: t.code for t in DOC_TYPES}
        types = {t for t, _ in docs}
        assert len(types) == 1, "one batch holds one document type"
        tree = MerkleTree([leaf_hash(bytes.fromhex(h[2:])) for _, h in docs])
        issuer = chain.sender(role_account_name(member, "ISSUER"))
        done = chain.documents.anchor_batch(issuer, tree.root, len(docs), codes[types.pop()])
        out = []
        for i, (doc_type, doc_hash) in enumerate(docs):
            proof = ["0x" + p.hex() for p in tree.proof(i)]
            out.append(
                {
                    "doc_hash": doc_hash,
                    "doc_type": doc_type,
                    "leaf_index": i,
                    "proof": proof,
                    "root": "0x" + tree.root.hex(),
                    "tx": _hex32(done.tx_hash),
                    "block": done.block,
                    "anchored_at": done.anchored_at,
                    "chain_id": chain.deployment.chain_id,
                    "registry": chain.documents.address,
                    "issuer": issuer.address,
                    "issuer_member": member,
                    "cid": "bafy-test",
                    "recipient": "TW",
                    "version": 1,
                }
            )
        return out

    return anchor


def _hex32(value: Any) -> str:
    text = value if isinstance(value, str) else "0x" + bytes(value).hex()
    return text.lower()


@pytest.fixture
def remove_member(registry: ConsortiumRegistry, admin, snapshot: None) -> Callable[[str], None]:
    """`remove_member("NZ")`: the other members vote it out of the consortium."""

    def run(member_id: str) -> None:
        others = [m.id for m in registry.members(active_only=True) if m.id != member_id]
        proposal = registry.propose_remove_member(admin(others[0]), member_id)
        for m in [*others[1:], member_id]:
            if registry.proposal(proposal.id).state != "pending":
                break
            registry.vote(admin(m), proposal.id, True)
        assert registry.proposal(proposal.id).state == "executed"
        assert member_id not in {m.id for m in registry.members(active_only=True)}

    return run


@pytest.fixture
def set_quorum(
    chain: Chain, registry: ConsortiumRegistry, admin, snapshot: None
) -> Callable[[int, int], None]:
    """`set_quorum(CLEARANCE, 3)`: TW proposes the Call, SG votes it through."""

    def run(kind: int, k: int) -> None:
        hub = chain.attestations
        proposal = hub.propose_quorum(registry, admin("TW"), kind, k)
        for m in ("SG", "NZ"):
            if registry.proposal(proposal.id).state != "pending":
                break
            registry.vote(admin(m), proposal.id, True)
        assert hub.quorum(kind) == k

    return run


@pytest.fixture
def results_of(oracle_instances) -> Callable[[bytes], dict[str, list]]:
    """`results_of(subject)`: member -> the results its instance stored for that subject."""

    def read(subject: bytes) -> dict[str, list]:
        key = "0x" + subject.hex()
        return {m: oracle_instances[m][CLEARANCE].store.results(key, CLEARANCE) for m in MEMBERS}

    return read


@pytest.fixture(scope="session")
def example() -> Callable[..., Declaration]:
    """`example("01-machinery-parts-sg.json", declaration_id=...)`: see example_declaration."""
    return example_declaration


@pytest.fixture(scope="session")
def request_for() -> Callable[..., dict[str, Any]]:
    """`request_for(decl)`: the clearance request of a declaration (clearance_request)."""
    return clearance_request


@pytest.fixture(scope="session")
def items_changed() -> Callable[..., Declaration]:
    """`items_changed(decl, permits=[...])`: see with_items."""
    return with_items


@pytest.fixture(scope="session")
def unsampled(oracle_instances) -> Callable[[str], str]:
    """`unsampled("DUP")`: a new declaration id the random selection leaves alone, so a
    low-risk declaration under it stays in C1 whatever this session's sampling seed is."""
    selectivity = oracle_instances["TW"][CLEARANCE].oracle.selectivity
    cut = sum(selectivity.rules.sampling.values())

    def make(prefix: str) -> str:
        while True:
            candidate = f"T-{prefix}-{uuid.uuid4().hex[:12]}"
            if selectivity.draw(candidate) >= cut:
                return candidate

    return make
