"""An auditor's trace of a declaration lodged at this node, and of an importer's declarations.

One timeline, oldest first: the lodging (who, when), each AI oracle result attested before
the decision (TARIFF, AUDIT, ...: result hash, transaction, signers, model version), the
CLEARANCE decision, the permit draw-downs and any officer re-routes.  Nothing is taken on
trust from the node's database; every entry is re-verified now:

- the lodged declaration still hashes to the subject every attestation names;
- an oracle result or decision kept by the node still hashes to the result hash on chain
  (`keccak(canonical_json({"output", "model_version"}))`, as the oracles computed it);
- its transaction exists and succeeded, its `submit` call carried exactly that attestation
  (subject, kind, result hash, model version) and AttestationHub still holds it
  (`isAttested`), with the same signers in the `Attested` event;
- a permit draw is read back from PermitRegistry (`drawOf`) with the same quantity;
- a payment's or guarantee draw's receipt is rebuilt from the node's record and must be the
  anchored one, verified on chain (nodes/payments/trace.py).
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from eth_typing import HexStr
from web3.exceptions import TransactionNotFound
from web3.logs import DISCARD

from chain.errors import ChainError
from nodes.context import NodeContext
from nodes.errors import ApiError
from nodes.payments.trace import payment_trace
from nodes.web.render import when
from offchain import attestation as att
from offchain.declarations import DeclarationRejected, declaration_hash, load_declaration_json
from offchain.hexbytes import hex0x
from offchain.permits import permit_id_bytes
from oracles.base import hash_json

MAX_COMPANY_ROWS = 200
log = logging.getLogger(__name__)


def _ok(detail: str) -> dict[str, Any]:
    return {"ok": True, "detail": detail}


def _bad(detail: str) -> dict[str, Any]:
    return {"ok": False, "detail": detail}


def _iso(ts: int | float | None) -> str:
    if not ts:
        return ""
    return datetime.fromtimestamp(float(ts), UTC).isoformat(timespec="seconds")


class _Chain:
    """Chain reads for one trace, each block and signer looked up once."""

    def __init__(self, ctx: NodeContext) -> None:
        self.ctx = ctx
        self.w3 = ctx.chain.w3
        self.hub = ctx.chain.attestations
        self._blocks: dict[int, int] = {}
        self._members: dict[str, str] = {}

    def block_time(self, block: int | None) -> str:
        if block is None:
            return ""
        try:
            if block not in self._blocks:
                self._blocks[block] = int(self.w3.eth.get_block(block)["timestamp"])
        except Exception:  # the time is a nicety; the checks say what is wrong
            return ""
        return _iso(self._blocks[block])

    def member_of(self, signer: str) -> str:
        key = signer.lower()
        if key not in self._members:
            try:
                info = self.hub.oracle(signer)
                self._members[key] = info.member if info else "?"
            except Exception:
                self._members[key] = "?"
        return self._members[key]

    def check_attestation(self, a: dict[str, Any], subject: str, kind: att.Kind) -> dict[str, Any]:
        """Re-verify one attested result (`a` is the node's record of it) on chain."""
        tx = a.get("tx")
        if not isinstance(tx, str) or not tx.startswith("0x"):
            return _bad("the node's record has no transaction hash")
        try:
            receipt = self.w3.eth.get_transaction_receipt(HexStr(tx))
        except TransactionNotFound:
            return _bad(f"transaction {tx} is not on this chain")
        if receipt["status"] != 1:
            return _bad(f"transaction {tx} failed (status 0)")
        if a.get("block") is not None and receipt["blockNumber"] != a["block"]:
            return _bad(
                f"transaction {tx} is in block {receipt['blockNumber']}, "
                f"the node recorded block {a['block']}"
            )
        if (receipt.get("to") or "").lower() != self.hub.address.lower():
            return _bad(f"transaction {tx} was not sent to AttestationHub")
        tx_data = self.w3.eth.get_transaction(HexStr(tx))
        try:
            fn, args = self.hub.contract.decode_function_input(tx_data["input"])
        except Exception:
            return _bad(f"transaction {tx} is not an AttestationHub call this node can read")
        if fn.fn_name != "submit":
            return _bad(f"transaction {tx} called {fn.fn_name}, not submit")
        raw = next(iter(args.values()))
        try:
            sent = (
                att.Attestation(*raw)
                if not isinstance(raw, dict)
                else att.Attestation(
                    raw["subject"],
                    raw["kind"],
                    raw["resultHash"],
                    raw["modelVersion"],
                    raw["issuedAt"],
                    raw["nonce"],
                )
            )
        except (ValueError, KeyError, TypeError):
            return _bad(f"transaction {tx} carried a malformed attestation")
        problems = []
        if hex0x(sent.subject) != subject.lower():
            problems.append(f"it attests subject {hex0x(sent.subject)}, not this declaration")
        if sent.kind != kind:
            problems.append(f"it attests kind {sent.kind.name}, not {kind.name}")
        if hex0x(sent.result_hash) != str(a.get("result_hash", "")).lower():
            problems.append(
                f"it attests result {hex0x(sent.result_hash)}, the node recorded "
                f"{a.get('result_hash')}"
            )
        mv = att.model_version_str(sent.model_version)
        if a.get("model_version") and mv != a["model_version"]:
            problems.append(
                f"model version on chain is {mv}, the node recorded {a['model_version']}"
            )
        if problems:
            return _bad("; ".join(problems))
        if not self.hub.is_attested(sent):
            return _bad("AttestationHub does not hold this attestation")
        events = self.hub.contract.events.Attested().process_receipt(receipt, errors=DISCARD)
        signers = next(
            (
                list(e["args"]["signers"])
                for e in events
                if bytes(e["args"]["subject"]) == sent.subject
            ),
            None,
        )
        if signers is None:
            return _bad(f"transaction {tx} has no Attested event for this declaration")
        recorded = {s.lower() for s in a.get("signers") or []}
        if recorded and recorded != {s.lower() for s in signers}:
            return _bad("the Attested event names other signers than the node recorded")
        latest = self.hub.latest(sent.subject, kind)
        now = (
            "the latest"
            if latest and latest.result_hash == sent.result_hash
            else "superseded since by a later one"
        )
        who = ", ".join(sorted({self.member_of(s) for s in signers}))
        return _ok(
            f"tx succeeded in block {receipt['blockNumber']}; AttestationHub holds "
            f"this {kind.name} result ({now}), signed by {len(signers)} oracle(s) "
            f"of {who}"
        )


def _result_matches(output: dict[str, Any], a: dict[str, Any]) -> str | None:
    """Why the node's copy of a result does not hash to the attested result hash, or None."""
    mv = a.get("model_version")
    if not mv:
        return "the node's record has no model version to re-hash the result with"
    got = hex0x(hash_json({"output": output, "model_version": mv}))
    if got != str(a.get("result_hash", "")).lower():
        return f"the node's copy of the result hashes to {got}, not to the attested {a.get('result_hash')}"
    return None


def _checked(
    chain: _Chain, a: dict[str, Any], subject: str, kind: att.Kind, output: dict[str, Any] | None
) -> dict[str, Any]:
    try:
        on_chain = chain.check_attestation(a, subject, kind)
    except Exception as exc:  # the chain down, a node that cannot answer: say so, go on
        log.warning("declaration trace: cannot re-verify %s: %s", a.get("tx"), exc)
        return _bad(f"cannot re-verify now, the chain did not answer: {type(exc).__name__}: {exc}")
    if output is None or not on_chain["ok"]:
        return on_chain
    why = _result_matches(output, a)
    if why:
        return _bad(why)
    return _ok(
        "the node's copy of the result hashes to the attested result hash; " + on_chain["detail"]
    )


def _oracle_summary(kind: str, r: dict[str, Any]) -> dict[str, Any]:
    if kind == "tariff":
        items = r.get("items") or []
        return {
            "verdict": (
                "declared code disputed" if r.get("mismatch") else "declared codes consistent"
            ),
            "duty gap": r.get("duty_gap"),
            "items": "; ".join(
                f"item {i.get('sequence', '?')}: declared {i.get('declared')}, model "
                f"{i.get('predicted')} ({i.get('reason') or 'consistent'})"
                for i in items[:10]
            )
            or None,
        }
    if kind == "audit":
        reasons = r.get("reasons") or []
        return {
            "score": r.get("score"),
            "reasons": "; ".join(
                x.get("text", str(x)) if isinstance(x, dict) else str(x) for x in reasons[:5]
            )
            or None,
        }
    return {k: v for k, v in r.items() if isinstance(v, str | int | float | bool)}


def _stored(ctx: NodeContext, declaration_id: str) -> dict[str, Any]:
    rows = ctx.db.query("SELECT * FROM declarations WHERE declaration_id = ?", (declaration_id,))
    if not rows:
        raise ApiError(
            404, "unknown_declaration", f"no declaration {declaration_id} was lodged at this node"
        )
    r = rows[0]
    return {
        "id": r["declaration_id"],
        "hash": r["declaration_hash"],
        "channel": r["channel"],
        "decision": json.loads(r["decision"]),
        "attestation": json.loads(r["attestation"]),
        "draws": json.loads(r["draws"]),
        "reroutes": json.loads(r["reroutes"]),
        "created_at": r["created_at"],
        "created_by": r["created_by"],
    }


def trace_declaration(ctx: NodeContext, declaration_id: str) -> dict[str, Any]:
    rec = _stored(ctx, declaration_id)
    chain = _Chain(ctx)
    subject = rec["hash"]
    decision = rec["decision"]
    decl = decision.get("declaration") or {}
    timeline: list[dict[str, Any]] = []

    # 1. lodged: the node's copy of the declaration is the one every attestation names
    try:
        h = hex0x(declaration_hash(load_declaration_json(decl)))
        lodged = (
            _ok(f"the stored declaration hashes to {h}, the subject of every attestation")
            if h == subject.lower()
            else _bad(f"the stored declaration hashes to {h}, not to {subject}: it was edited")
        )
    except (DeclarationRejected, ValueError, TypeError) as exc:
        lodged = _bad(f"the stored declaration no longer parses: {exc}")
    importer = decl.get("importer") or {}
    timeline.append(
        {
            "at": rec["created_at"],
            "source": "node",
            "kind": "LODGED",
            "actor": rec["created_by"],
            "detail": {
                "declaration": rec["id"],
                "declaration hash": subject,
                "importer": f"{importer.get('id', '?')} {importer.get('name', '')}".strip(),
                "declarant": (decl.get("declarant") or {}).get("name"),
                "office": decl.get("office"),
                "items": len(decl.get("items") or []),
                "stored with its decision at": when(rec["created_at"]),
            },
            "reverified": lodged,
        }
    )

    # 2. each AI oracle's result, attested before the decision that used it
    for name, r in (decision.get("oracles") or {}).items():
        kind = att.Kind[name.upper()] if name.upper() in att.Kind.__members__ else None
        if not isinstance(r, dict):
            continue
        if "unavailable" in r or "attestation" not in r:
            entry_ok = _ok("nothing was attested: clearance went on without this oracle")
            if kind is not None:
                try:
                    if ctx.chain.attestations.latest(subject, kind) is not None:
                        entry_ok = _bad(
                            f"the node recorded {name} as unavailable, but the "
                            f"chain holds a {kind.name} result for it"
                        )
                except ChainError as exc:
                    entry_ok = _bad(f"cannot re-verify now: {exc}")
            timeline.append(
                {
                    "at": rec["created_at"],
                    "source": "oracle",
                    "kind": f"{name.upper()} unavailable",
                    "actor": None,
                    "detail": {"why": r.get("detail") or r.get("unavailable")},
                    "reverified": entry_ok,
                }
            )
            continue
        a = r["attestation"]
        output = {k: v for k, v in r.items() if k != "attestation"}
        timeline.append(
            {
                "at": chain.block_time(a.get("block")) or rec["created_at"],
                "source": "chain",
                "kind": f"{name.upper()} attested",
                "actor": "oracles " + ", ".join(a.get("instances") or []),
                "detail": {
                    **_oracle_summary(name, output),
                    "model version": a.get("model_version"),
                    "result hash": a.get("result_hash"),
                    "tx": a.get("tx"),
                    "block": a.get("block"),
                },
                "reverified": (
                    _checked(chain, a, subject, kind, output)
                    if kind is not None
                    else _bad(f"unknown oracle kind {name}")
                ),
            }
        )

    # 3. the clearance decision
    a = rec["attestation"]
    output = {k: v for k, v in decision.items() if k != "declaration"}
    timeline.append(
        {
            "at": chain.block_time(a.get("block")) or rec["created_at"],
            "source": "chain",
            "kind": "CLEARANCE attested",
            "actor": "oracles " + ", ".join(a.get("instances") or []),
            "detail": {
                "channel": decision.get("channel"),
                "rules": ", ".join(x.get("rule", "") for x in decision.get("reasons") or [])
                or "none",
                "duties": (decision.get("duties") or {}).get("total"),
                "audit candidate": "yes" if decision.get("audit_candidate") else "no",
                "model version": a.get("model_version"),
                "result hash": a.get("result_hash"),
                "tx": a.get("tx"),
                "block": a.get("block"),
                "signers": ", ".join(a.get("signers") or []),
            },
            "reverified": _checked(chain, a, subject, att.CLEARANCE, output),
        }
    )

    # 4. permit draw-downs
    for d in rec["draws"]:
        try:
            draw = ctx.chain.permits.draw_of(permit_id_bytes(d["permit"]), subject, d["hs_code"])
            if draw is None:
                ok = _bad(
                    f"PermitRegistry has no draw of permit {d['permit']} for this "
                    f"declaration and HS {d['hs_code']}"
                )
                at = rec["created_at"]
            else:
                at = _iso(draw.drawn_at) or rec["created_at"]
                ok = (
                    _ok(f"PermitRegistry holds the draw of {draw.quantity}")
                    if draw.quantity == Decimal(str(d["quantity"]))
                    else _bad(
                        f"PermitRegistry holds a draw of {draw.quantity}, the node recorded "
                        f"{d['quantity']}"
                    )
                )
        except (ChainError, ValueError, InvalidOperation, OSError) as exc:
            ok, at = _bad(f"cannot re-verify now: {exc}"), rec["created_at"]
        timeline.append(
            {
                "at": at,
                "source": "chain",
                "kind": "PERMIT drawn",
                "actor": "oracle operator",
                "detail": {
                    "permit": d["permit"],
                    "hs code": d["hs_code"],
                    "quantity": d["quantity"],
                },
                "reverified": ok,
            }
        )

    # 5. officer re-routes, each attested as a CLEARANCE result on top of the previous one
    for rr in rec["reroutes"]:
        ra = rr.get("attestation") or {}
        timeline.append(
            {
                "at": rr.get("at"),
                "source": "node",
                "kind": "RE-ROUTED",
                "actor": rr.get("officer"),
                "detail": {
                    "from": rr.get("from"),
                    "to": rr.get("to"),
                    "reason": rr.get("reason"),
                    "result hash": ra.get("result_hash"),
                    "tx": ra.get("tx"),
                },
                "reverified": _checked(chain, ra, subject, att.CLEARANCE, None),
            }
        )

    # 6. duties: payments, guarantee draws and release, each receipt re-verified on chain
    timeline.extend(payment_trace(ctx.payments, rec["id"]))

    # Lodging precedes every attestation; the node stores the declaration with its decision,
    # so its own timestamp comes after them: show the first block's time, and the record's.
    firsts = [e["at"] for e in timeline[1:] if e["source"] == "chain" and e["at"]]
    if firsts:
        timeline[0]["at"] = min(firsts)
    return {
        "declaration": rec["id"],
        "declaration_hash": subject,
        "channel": rec["channel"],
        "engine_channel": decision.get("channel"),
        "importer": importer,
        "member": ctx.member.id,
        "timeline": timeline,
    }


def trace_company(ctx: NodeContext, importer_id: str) -> dict[str, Any]:
    """The declarations of one importer lodged at this node, newest first, each with its
    channel and audit score, and its decision checked against the chain's latest result."""
    rows = ctx.db.query(
        "SELECT declaration_id, declaration_hash, channel, decision, attestation, reroutes,"
        " created_at FROM declarations ORDER BY created_at DESC LIMIT 5000"
    )
    out: list[dict[str, Any]] = []
    name = ""
    hub = ctx.chain.attestations
    for r in rows:
        decision = json.loads(r["decision"])
        imp = (decision.get("declaration") or {}).get("importer") or {}
        if str(imp.get("id", "")) != importer_id:
            continue
        name = name or imp.get("name", "")
        oracles = decision.get("oracles") or {}
        audit = oracles.get("audit") or {}
        tariff = oracles.get("tariff") or {}
        reroutes = json.loads(r["reroutes"])
        last = reroutes[-1]["attestation"] if reroutes else json.loads(r["attestation"])
        if len(out) < MAX_COMPANY_ROWS:
            try:
                latest = hub.latest(r["declaration_hash"], att.CLEARANCE)
                ok = (
                    _ok("the chain's latest CLEARANCE result is the node's")
                    if latest and hex0x(latest.result_hash) == last.get("result_hash")
                    else _bad("the chain's latest CLEARANCE result is not the node's")
                )
            except ChainError as exc:
                ok = _bad(f"cannot re-verify now: {exc}")
        else:
            ok = {"ok": True, "detail": "not re-verified (list too long)"}
        out.append(
            {
                "declaration": r["declaration_id"],
                "created_at": r["created_at"],
                "channel": r["channel"],
                "engine_channel": decision.get("channel"),
                "total": (decision.get("duties") or {}).get("total"),
                "audit_score": audit.get("score"),
                "tariff_mismatch": tariff.get("mismatch"),
                "rules": [x.get("rule") for x in decision.get("reasons") or []],
                "reverified": ok,
            }
        )
    if not out:
        raise ApiError(
            404,
            "unknown_importer",
            f"no declaration of importer {importer_id} was lodged at this node",
        )
    scores = [d["audit_score"] for d in out if isinstance(d["audit_score"], int | float)]
    channels: dict[str, int] = {}
    for d in out:
        channels[d["channel"]] = channels.get(d["channel"], 0) + 1
    return {
        "importer": importer_id,
        "name": name,
        "member": ctx.member.id,
        "declarations": out,
        "channels": dict(sorted(channels.items())),
        "mean_audit_score": round(sum(scores) / len(scores), 4) if scores else None,
        "max_audit_score": max(scores) if scores else None,
    }
