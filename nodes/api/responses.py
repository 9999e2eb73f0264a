"""What the node's JSON API answers: one response model per shape, in one place.

Why here: the OpenAPI schema of a node is its contract with partner nodes, gateways and the
console; with a model on every route it types every answer, and the schema-driven fuzzer
(tests/fuzz) checks each answer against it.

How they are written: each model names and types the fields clients read and that every
answer of its route carries.  Services still build plain dicts (they know no HTTP); a model
never drops a field: `Answer` allows extra fields, so a field a service adds passes through
untouched (it simply is not typed yet).  Numbers that may be integral are `Number`, so an
integer is never rewritten as a float.  Nested records that are open-ended (decisions,
timelines, model cards) stay `dict[str, Any]`.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

# A JSON number as the service computed it: an int stays an int, a float a float.
Number = int | float
Json = dict[str, Any]


class Answer(BaseModel):
    """A JSON object answer: the declared fields typed, any other field kept as it is."""

    model_config = ConfigDict(extra="allow")


# --- errors ---------------------------------------------------------------------------------


class ErrorOut(Answer):
    """Every error: a machine-readable code and a sentence a person can act on.

    Some codes add fields (a contract revert adds `revert`, a schema violation `issues`).
    """

    error: str = Field(description="machine-readable code, e.g. unknown_member, xml_too_large")
    detail: str = Field(description="what went wrong and what to do about it")


ERRORS: dict[int | str, dict[str, Any]] = {
    "4XX": {"model": ErrorOut, "description": "The request was refused (see `error`)"},
    "5XX": {"model": ErrorOut, "description": "The node or the chain failed (see `error`)"},
}


# --- node ------------------------------------------------------------------------------------


class HealthOut(Answer):
    member: str
    name: str
    status: str = Field(description="ok, or degraded (the chain or the contracts are missing)")
    chain: Json = Field(description="rpc_url, reachable, and when reachable chain_id and block")
    contracts: dict[str, str] = Field(description="contract name -> address")


# --- consortium -------------------------------------------------------------------------------


class MemberOut(BaseModel):
    id: str
    name: str
    admin: str
    active: bool
    x25519_key: str
    joined_at: int
    nodes: list[str]
    accounts: list[str]


class ProposalOut(BaseModel):
    id: int
    kind: str
    state: str
    proposer_member: str
    proposer: str
    created_at: int
    expires_at: int
    member_id: str
    role: str | None
    account: str
    name: str
    x25519_key: str
    yes: int
    no: int


# --- documents --------------------------------------------------------------------------------


class ReceiptOut(Answer):
    """What an exporter keeps to prove a document was anchored (offchain.receipt.Receipt)."""

    doc_hash: str
    doc_type: str
    leaf_index: int
    proof: list[str]
    root: str
    tx: str
    block: int
    anchored_at: int
    chain_id: int
    registry: str
    issuer: str
    issuer_member: str
    cid: str
    recipient: str
    version: int


class SubmissionOut(Answer):
    """A submitted document; with `wait` and an anchored batch, also its `receipt`."""

    doc_hash: str
    doc_type: str
    recipient: str
    state: str
    duplicate: bool
    summary: Json | None


class DocumentOut(Answer):
    doc_hash: str
    doc_type: str
    recipient: str
    state: str
    submitted_at: str
    submitted_by: str
    summary: Json | None
    receipt: ReceiptOut | None
    delivery: Json | None = Field(description="state, attempts, last_error, delivered_at, verdict")


class DocumentsOut(Answer):
    counts: dict[str, int]
    documents: list[DocumentOut]


class RevokedDocumentOut(Answer):
    doc_hash: str
    root: str
    tx: str
    reason: str


class RevokedBatchOut(Answer):
    root: str
    tx: str
    reason: str
    documents: int


class CheckOut(Answer):
    name: str
    ok: bool
    detail: str


class VerdictOut(Answer):
    valid: bool
    doc_hash: str | None
    reason: str | None = Field(description="the first failing check, as a sentence")
    checks: list[CheckOut]


class DeliveryOut(Answer):
    """A partner node's answer to a delivery: our verdict, and whether it was new to us."""

    verdict: Json
    new: bool


class ReceivedOut(Answer):
    doc_hash: str
    sender: str
    doc_type: str
    received_at: str
    valid: bool
    verdict: Json | None
    receipt: Json | None


class TraceOut(Answer):
    """An auditor's trace: every on-chain event in order, each record re-verified."""

    doc_hash: str
    member: str
    timeline: list[Json]


# --- clearance --------------------------------------------------------------------------------


class DecisionOut(Answer):
    """A lodged declaration's attested decision (a resubmission adds `duplicate`)."""

    declaration: str
    declaration_hash: str
    channel: str
    duties: Json
    reasons: list[Json]
    permits: list[Any]
    documents: list[Any]
    attestation: Json | None
    permit_draws: list[Any]
    release: Json | None


class DeclarationOut(Answer):
    """A declaration as this node recorded it, with re-routes."""

    declaration: str
    declaration_hash: str
    channel: str
    engine_channel: str
    duties: Json
    reasons: list[Json]
    permits: list[Any]
    documents: list[Any]
    attestation: Json | None
    permit_draws: list[Any]
    reroutes: list[Json]
    created_at: str
    created_by: str


class DeclarationStatsOut(Answer):
    declarations: int
    channels: dict[str, int]
    engine_channels: dict[str, int]
    rules: dict[str, int]


class PermitIssuedOut(Answer):
    permit_id: str
    permit_number: str
    tx_hash: str
    block: int
    issued_at: int
    agency: str
    issuer_member: str
    document_hash: str


class PermitOut(Answer):
    permit_id: str
    holder_hash: str
    document_hash: str
    issuer_member: str
    hs_codes: list[Any]
    quantity: str
    remaining: str
    unit: str
    valid_from: int
    valid_to: int
    issued_at: int
    revoked: bool


# --- payments ---------------------------------------------------------------------------------


class OrderOut(Answer):
    reference: str
    declaration: str
    amount: str
    currency: str
    due_date: str
    state: str
    created_at: str
    settled_at: str | None
    guarantee_id: str | None


class PaymentOut(Answer):
    gateway: str
    reference: str
    order_ref: str
    declaration_id: str | None
    amount: str
    currency: str
    status: str
    received_at: str


class DeclarationStatusOut(Answer):
    declaration: str
    declaration_hash: str
    channel: str
    engine_channel: str
    reasons: list[Json]
    duties: Json
    release: Json
    release_history: list[Json]
    manifest: Json | None
    payments: list[PaymentOut]


class PaymentViewOut(Answer):
    """What the trader has to pay (the order, or none yet) and what was paid."""

    declaration: str
    order: OrderOut | None
    payable: bool
    payments: list[PaymentOut]
    guarantee_movements: list[Json]


class DeferredOut(PaymentViewOut):
    release: Json


class ReleaseOut(Answer):
    declaration: str
    state: str
    channel: str
    released_at: str | None
    waiting_for: list[Any]


class ReleaseRowOut(Answer):
    declaration_id: str
    channel: str
    state: str
    released_at: str | None


class PaymentReceiptOut(Answer):
    receipt_id: str
    kind: str
    record: Json
    doc_hash: str
    state: str
    document: str


class GuaranteeOut(Answer):
    id: str
    holder_scheme: str
    holder_id: str
    holder_name: str
    issuer: str
    amount: str
    available: str
    currency: str
    valid_from: str
    valid_to: str
    registered_at: str
    registered_by: str
    revoked_at: str | None


class GuaranteeDetailOut(GuaranteeOut):
    movements: list[Json]


class GatewayOut(Answer):
    id: str
    public_key: str
    registered_at: str
    registered_by: str
    revoked_at: str | None


class GatewayCheckOut(Answer):
    results: list[Json]


class GatewayCallbackOut(Answer):
    gateway: str
    results: list[Json]
    summary: Json


# --- manifests --------------------------------------------------------------------------------


class ManifestOut(Answer):
    manifest: str
    type: str
    source: str
    sender: str | None
    doc_hash: str
    form: str
    lodged_at: str
    lodged_by: str
    late: bool
    lines: int
    packages: int
    state: str
    receipt: Json | None


class LodgedManifestOut(ManifestOut):
    duplicate: bool


class ManifestDetailOut(ManifestOut):
    lines_detail: list[Json]


class ManifestLineOut(Answer):
    manifest: str
    source: str
    sender: str | None
    type: str
    seq: int
    description: str
    hs_code: str | None
    packages: int
    declared: list[Any]
    remaining_packages: int


class CrosscheckOut(Answer):
    differ: list[Json]
    not_reported: list[Json]
    not_exported: list[Json]


class ReconciliationOut(Answer):
    member: str
    manifest: str
    doc_hash: str
    lines: list[Json]


# --- transport --------------------------------------------------------------------------------


class DeviceOut(Answer):
    device: str
    public_key: str


class TripOut(Answer):
    trip: str
    device: str
    seal_id: str
    vehicle_id: str
    origin: str
    destination: str
    corridor: str | None
    route_hash: str
    deadline: Number
    state: str
    outcome: str | None
    started_by: str
    started_at: Number
    start_tx: str
    arrived_at: Number | None
    closed_at: Number | None
    close_tx: str | None
    close_reason: str | None


class TripRowOut(TripOut):
    events: int


class TripStatusOut(TripOut):
    events: int
    flagged: int
    last_point: Json | None
    alerts: Json
    anchored: Json
    chain: Json


class IngestOut(Answer):
    broker: str
    enabled: bool
    connected: bool


class TripEventOut(Answer):
    id: int
    device: str
    seq: int
    ts: Number
    lat: Number
    lon: Number
    seal_state: str | None
    flag: str | None
    received_at: Number


class AnchoredOut(Answer):
    trip: str
    anchored: list[Any]


class TripClosedOut(Answer):
    trip: str
    outcome: str
    reason: str
    tx: str
    anchored: list[Any]


class EventProofOut(Answer):
    event: Json
    payload: str
    payload_hash: str
    root: str
    leaf_index: int
    proof: list[str]
    tx: str
    block: int
    verified_on_chain: bool


class ProofCheckOut(Answer):
    valid: bool
    checks: list[Json]


# --- alerts -----------------------------------------------------------------------------------


class AlertOut(Answer):
    id: int
    source: str
    subject: str
    kind: str
    severity: str
    ts: Number
    detail: str
    created_at: Number
    acked_by: str | None
    acked_at: Number | None
    ack_note: str | None


class AckedOut(Answer):
    acknowledged: int
    up_to_id: int


# --- tariff -----------------------------------------------------------------------------------


class ClassificationOut(Answer):
    """Ranked candidates, the pending question (if any) and the dialogue's session."""

    model_version: str
    candidates: list[Json]
    question: Json | None
    done: bool


class CodeCheckOut(Answer):
    declared_hs6: str
    model_version: str
    mismatch: bool


class TariffEvaluationOut(Answer):
    n: int
    model_version: str


# --- audit ------------------------------------------------------------------------------------


class AuditModelOut(Answer):
    model_version: str
    format_version: int
    created_at: str
    data: Json
    features: list[str]
    metrics: Json
    backend: str


class AuditScoreOut(Answer):
    model_version: str
    backend: str
    rows: int
    rows_dropped: int
    unseen: Json
    ranking: list[Json]


class AuditCompaniesOut(Answer):
    model_version: str
    companies: list[Json]


class AuditEvaluationOut(Answer):
    n: int
    model_version: str
    backend: str


# --- x-ray ------------------------------------------------------------------------------------


class ScanRowOut(Answer):
    scan_id: str
    image: str | None
    sha256: str
    verdict: str
    score: Number
    model_version: str
    created_at: str


class ScanOut(ScanRowOut):
    cid: str
    format: str
    width: int
    height: int
    threat: bool
    threats: list[Json]
    scores: Json
    review: list[Json] = Field(
        default_factory=list,
        description="classes scored under their alert threshold but in the review band "
        "(verdict uncertain: look at the image)",
    )
    declaration_id: str | None
    created_by: str
    alerts: list[Json]
    feedback: list[Json]
    attestation: Json | None


class XrayAlertOut(Answer):
    alert_id: int
    scan_id: str
    score: Number
    status: str
    created_at: str


class XrayStatsOut(Answer):
    scans: dict[str, int]
    alerts: Json
    model_version: str


class XrayModelOut(Answer):
    model_version: str
    sha256: str
    classes: list[str]
    alarm_rate: Number
    thresholds: Json
    review_rate: Number | None
    review_thresholds: Json | None
    scan_threshold: Number
    test: Json
