"""An auditor's trace of one bonded trip: start, anchored batches, alerts and close, in time
order, each re-verified now against the chain rather than taken from the node's records.

- started / closed: TransportLedger's record of the trip must be this member's, with the same
  route hash, deadline and (when closed) outcome as the node recorded.
- each anchored batch: the root must be anchored on chain for this trip with the node's
  event count; every event's signed payload must still hash to its recorded hash and the
  batch's Merkle root must follow from them; and events are re-proved one by one with
  `TripEvidence.check_proof` (signature, fields as signed, anchoring, proof) — every event
  for trips up to `FULL_CHECK_EVENTS`, else the first, last and flagged events of each batch.
- alerts are the node's judgement, not anchored: they are shown as recorded.

What can go wrong: TransportError `unknown_trip` (404); a chain that does not answer turns
the affected entries into failed re-verifications that say so, never into a crash.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from chain.errors import ChainError
from chain.transport import trip_id_bytes
from nodes.transport.monitor import SOURCE
from nodes.transport.service import TransportService
from offchain.errors import OffchainError
from offchain.hexbytes import hex0x
from offchain.merkle import MerkleTree

FULL_CHECK_EVENTS = 300


def trace_trip(transport: TransportService, trip_id: str) -> dict[str, Any]:
    t = transport.trip(trip_id)
    try:
        view = transport.chain.transport.trip(trip_id)
        chain_error = None
    except ChainError as exc:
        view, chain_error = None, f"{type(exc).__name__}: {exc}"
    timeline: list[dict[str, Any]] = []

    started = _ok(True, "")
    if chain_error:
        started = _ok(False, chain_error)
    elif view is None:
        started = _ok(False, "TransportLedger has no trip with this id")
    else:
        problems = []
        if view.member != transport.member_id:
            problems.append(f"the chain says member {view.member} started it")
        if hex0x(view.route_hash) != t.route_hash:
            problems.append("the route hash on chain differs from the node's corridor")
        if view.deadline != int(t.deadline):
            problems.append(f"the deadline on chain is {view.deadline}")
        started = _ok(
            not problems,
            "; ".join(problems)
            or f"on chain: started by {view.member}, same route hash and deadline",
        )
    timeline.append(
        {
            "at": t.started_at,
            "source": "chain",
            "kind": "trip started",
            "detail": {
                "tx": t.start_tx,
                "by": t.started_by,
                "device": t.device,
                "seal": t.seal_id,
                "vehicle": t.vehicle_id,
                "route": f"{t.origin} → {t.destination} via {t.corridor}",
                "route_hash": t.route_hash,
                "deadline": _iso(t.deadline),
            },
            "reverified": started,
        }
    )

    batches = transport.db.query(
        "SELECT root, count, first_ts, last_ts, state, tx, block, prepared_at FROM trip_batches"
        " WHERE trip = ? ORDER BY first_ts, prepared_at",
        (trip_id,),
    )
    total = sum(b["count"] for b in batches)
    key = transport.devices.verify_key(t.device)
    for b in batches:
        timeline.append(
            {
                "at": b["prepared_at"],
                "source": "chain" if b["state"] == "anchored" else "node",
                "kind": "events anchored" if b["state"] == "anchored" else "batch prepared",
                "detail": {
                    "root": hex0x(b["root"]),
                    "events": b["count"],
                    "from": _iso(b["first_ts"]),
                    "to": _iso(b["last_ts"]),
                    "tx": b["tx"],
                    "block": b["block"],
                },
                "reverified": _batch(transport, trip_id, b, key, full=total <= FULL_CHECK_EVENTS),
            }
        )

    for a in transport.alerts.list(source=SOURCE, subject=trip_id, limit=10_000):
        timeline.append(
            {
                "at": a["created_at"],
                "source": "node",
                "kind": f"alert: {a['kind']}",
                "severity": a["severity"],
                "detail": {
                    "detail": a["detail"],
                    "device time": _iso(a["ts"]),
                    "acknowledged by": a["acked_by"],
                },
                "reverified": _ok(
                    True,
                    "recorded by this node (alerts are not anchored; the fixes behind them are)",
                ),
            }
        )

    if t.closed_at is not None:
        if chain_error:
            closed = _ok(False, chain_error)
        elif view is None or view.open:
            closed = _ok(False, "the chain does not record this trip as closed")
        else:
            same = view.outcome.name == t.outcome
            closed = _ok(
                same,
                f"on chain: closed {view.outcome.name}"
                + ("" if same else f", the node says {t.outcome}"),
            )
        timeline.append(
            {
                "at": t.closed_at,
                "source": "chain",
                "kind": "trip closed",
                "detail": {"outcome": t.outcome, "reason": t.close_reason, "tx": t.close_tx},
                "reverified": closed,
            }
        )
    timeline.sort(key=lambda e: e["at"] or 0)
    return {
        "trip": t.to_json(),
        "timeline": timeline,
        "events": total,
        "all_ok": all(e["reverified"]["ok"] for e in timeline),
    }


def _iso(unix: float | None) -> str | None:
    return None if unix is None else datetime.fromtimestamp(unix, UTC).isoformat(timespec="seconds")


def _ok(ok: bool, detail: str) -> dict[str, Any]:
    return {"ok": ok, "detail": detail}


def _batch(transport: TransportService, trip_id: str, b, key, *, full: bool) -> dict[str, Any]:
    if b["state"] != "anchored":
        return _ok(
            False,
            "prepared but not anchored yet (the chain was unavailable, or the "
            "next anchoring round has not run)",
        )
    root = bytes(b["root"])
    rows = transport.db.query(
        "SELECT e.id, e.payload, e.payload_hash, e.flag, m.leaf_index FROM trip_batch_events m"
        " JOIN trip_events e ON e.id = m.event_id WHERE m.root = ? ORDER BY m.leaf_index",
        (root,),
    )
    problems = []
    stored = [bytes(r["payload_hash"]) for r in rows]
    edited = [
        r["id"]
        for r in rows
        if r["payload"] is None
        or hashlib.sha256(bytes(r["payload"])).digest() != bytes(r["payload_hash"])
    ]
    if edited:
        problems.append(f"events {edited[:10]} no longer hash to their recorded payload hash")
    if len(rows) != b["count"] or not rows or MerkleTree.from_values(stored).root != root:
        problems.append("the root does not follow from the stored events")
    try:
        on_chain = transport.chain.transport.batch(root)
        if on_chain is None or on_chain.trip_id != trip_id_bytes(trip_id):
            problems.append("the root is not anchored on chain for this trip")
        elif on_chain.count != b["count"]:
            problems.append(f"the chain records {on_chain.count} events, the node {b['count']}")
        picked = (
            rows
            if full
            else [r for i, r in enumerate(rows) if i in (0, len(rows) - 1) or r["flag"]]
        )
        failed = []
        for r in picked:
            result = transport.evidence.check_proof(transport.evidence.prove(r["id"]), key)
            if not result["valid"]:
                names = [c["check"] for c in result["checks"] if not c["ok"]]
                failed.append(f"event {r['id']}: {', '.join(names)}")
        if failed:
            problems.append("re-proving failed for " + "; ".join(failed[:10]))
    except (ChainError, OffchainError) as exc:
        problems.append(f"{type(exc).__name__}: {exc}")
        picked = []
    if problems:
        return _ok(False, "; ".join(problems))
    how = "every event" if full else f"{len(picked)} sampled events (first, last, flagged)"
    return _ok(
        True,
        f"root anchored for this trip; all {len(rows)} payloads hash to the root; "
        f"{how} re-proved against the chain (signature, fields, proof)",
    )
