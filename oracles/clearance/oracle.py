"""The clearance oracle: duties, permit and document checks, selectivity -> C1 / C2 / C3.

Request: `{"declaration": <declaration JSON>, "oracles": {optional results of the tariff,
audit and X-ray oracles}}`.  Output: duties per item and in total, every permit check, every
document check, the channel and the reasons.  Every instance reads the chain itself
(permits, document anchors) rather than trusting the requester, and computes the same output
for the same request and chain state — which is what lets k independent instances sign it.

Documents are checked from their receipts: the proof must lead to an anchored root whose
batch DocumentRegistry recorded as the claimed type, neither the document nor its batch
revoked.  The documents' contents were verified by the importing node when they arrived
(documents flow); the oracle does not hold them.

Cargo manifests: a declaration citing transport document lines comes with `"manifest":
{"citations": [...], "tolerances": {...}}`, what the node found for each cited line (the
manifest line, what earlier declarations took of it, its pre-arrival flags).  Every instance
re-runs the matching (`offchain.manifests.match_citations`) with the packages and mass the
declaration itself states, so the verdict is the oracles', and attests it with the decision
(output `manifest`); the manifest's anchored hash is named per line for the auditor.
"""

from __future__ import annotations

import datetime as dt
import threading
from decimal import Decimal
from typing import Any

from chain.context import Chain
from offchain import attestation as att
from offchain import doctypes
from offchain.declarations import (
    Declaration,
    DeclarationRejected,
    declaration_hash,
    load_declaration_json,
)
from offchain.manifests import match_citations
from offchain.merkle import leaf_hash, process_proof
from offchain.permits import convert_quantity, holder_hash, permit_id_bytes
from offchain.tariff import TariffError, TariffTable
from oracles.base import Oracle, OracleError
from oracles.clearance.selectivity import RiskInput, RiskItem, RuleSet, Selectivity

PERMIT_REGULATION = "IMP_PERMIT"


class ClearanceOracle(Oracle):
    kind = att.CLEARANCE

    def __init__(self, chain: Chain, tariff: TariffTable, rules: RuleSet, seed: bytes) -> None:
        self.chain = chain
        self.tariff = tariff
        self.selectivity = Selectivity(rules, seed)
        self.model_version = f"clearance-{rules.version[:12]}"
        # `evaluate` asks `compute` and then `subject` about the same request: the hash of
        # the declaration `compute` parsed is handed to `subject` (per thread, once) rather
        # than parsing and hashing the declaration twice (a third of the time of a decision).
        self._handoff = threading.local()

    def subject(self, request: dict[str, Any]) -> bytes:
        handed = getattr(self._handoff, "last", None)
        self._handoff.last = None
        if handed is not None and handed[0] is request:
            return handed[1]
        return declaration_hash(self._declaration(request))

    @staticmethod
    def _declaration(request: dict[str, Any]) -> Declaration:
        body = request.get("reroute", request) if isinstance(request, dict) else None
        if not isinstance(body, dict) or "declaration" not in body:
            raise OracleError("invalid_request", "a clearance request needs a `declaration`")
        try:
            return load_declaration_json(body["declaration"])
        except DeclarationRejected as exc:
            raise OracleError.reporting(exc) from None

    def compute(self, request: dict[str, Any]) -> dict[str, Any]:
        if "reroute" in request:
            return self._reroute(request["reroute"])
        decl = self._declaration(request)
        subject = declaration_hash(decl)
        self._handoff.last = (request, subject)
        others = request.get("oracles") or {}
        documents = self._documents(decl)
        certificates = {
            d["doc_hash"]
            for d in documents
            if d["ok"] and d.get("doc_type") == "certificate-of-origin"
        }
        duties = self._duties(decl, certificates)
        permits = self._permits(decl, duties)
        manifest = self._manifest(decl, request.get("manifest"))
        selection = self.selectivity.select(
            self._risk(decl, duties, permits, documents, others, manifest)
        )
        out = {
            "declaration_id": decl.declaration_id,
            "declaration_hash": "0x" + subject.hex(),
            "channel": str(selection.channel),
            "audit_candidate": selection.audit_candidate,
            "random_selected": selection.random_selected,
            "reasons": [r.to_dict() for r in selection.reasons],
            "duties": duties,
            "permits": permits,
            "documents": documents,
            "oracles": others,
            "rules_version": selection.rules_version,
        }
        if manifest is not None:
            out["manifest"] = manifest
        return out

    # --- cargo manifest -----------------------------------------------------------------

    @staticmethod
    def _manifest(decl: Declaration, given: Any) -> dict[str, Any] | None:
        """Match the cited transport document lines; None when the node sent no findings."""
        if given is None:
            return None
        refs = decl.transport_documents or ()
        citations = given.get("citations") if isinstance(given, dict) else None
        if not isinstance(citations, list) or len(citations) != len(refs):
            raise OracleError(
                "invalid_request",
                "manifest: one finding per cited transport document line is needed",
            )
        try:
            merged = []
            for ref, c in zip(refs, citations, strict=True):
                if not isinstance(c, dict) or (str(c.get("number")), c.get("line")) != (
                    ref.number,
                    ref.line,
                ):
                    raise ValueError(f"finding for {ref.number} line {ref.line} is missing")
                # what is declared is read from the declaration, never from the node's copy
                merged.append(
                    {**c, "packages": ref.packages, "gross_mass_kg": str(ref.gross_mass_kg)}
                )
            tolerances = given.get("tolerances") or {}
            return match_citations([it.hs_code for it in decl.items], merged, tolerances)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise OracleError("invalid_request", f"manifest: {exc}") from None

    def _reroute(self, r: dict[str, Any]) -> dict[str, Any]:
        """An officer's re-route, attested like a decision: every instance checks that it
        re-routes the decision the chain holds now, so a re-route cannot be replayed onto
        a newer decision or invented for a declaration never decided."""
        decl = load_declaration_json(r["declaration"])
        subject = declaration_hash(decl)
        latest = self.chain.attestations.latest(subject, att.CLEARANCE)
        if latest is None or "0x" + latest.result_hash.hex() != r.get("previous_result_hash"):
            raise OracleError(
                "stale_decision",
                f"declaration {decl.declaration_id}: the re-route names result "
                f"{r.get('previous_result_hash')}, the chain holds "
                f"{'none' if latest is None else '0x' + latest.result_hash.hex()}",
            )
        missing = [k for k in ("from", "to", "officer", "reason") if not r.get(k)]
        if missing or r["to"] not in ("C1", "C2", "C3") or r["to"] == r["from"]:
            raise OracleError(
                "invalid_reroute",
                f"a re-route needs from, to (another of C1/C2/C3), officer and "
                f"reason; missing or wrong: {missing or ['to']}",
            )
        return {
            "declaration_id": decl.declaration_id,
            "declaration_hash": "0x" + subject.hex(),
            "rerouted": True,
            "channel": r["to"],
            "previous_channel": r["from"],
            "previous_result_hash": r["previous_result_hash"],
            "officer": r["officer"],
            "reason": r["reason"],
        }

    # --- duties -------------------------------------------------------------------------

    def _duties(self, decl: Declaration, certificates: set[str]) -> dict[str, Any]:
        """Duty and tax per item; a preference counts only with a verified certificate."""
        rate = Decimal(str(decl.exchange_rate)) if decl.exchange_rate else Decimal(1)
        items, total_duty, total_vat = [], Decimal(0), Decimal(0)
        for it in decl.items:
            preference, denied = None, None
            if it.preference is not None:
                cert = it.preference.certificate
                if cert is not None and cert in certificates:
                    preference = it.preference.agreement
                else:
                    denied = (
                        f"preference {it.preference.agreement} not granted: no verified "
                        "certificate of origin among the declaration's documents"
                    )
            try:
                d = self.tariff.duty(
                    it.hs_code,
                    Decimal(str(it.customs_value)) * rate,
                    Decimal(str(it.quantity)),
                    it.unit,
                    it.origin_country,
                    preference,
                    net_mass_kg=Decimal(str(it.net_mass_kg)),
                )
            except TariffError as exc:
                raise OracleError(exc.code, f"item {it.sequence}: {exc.detail}") from None
            total_duty += d.amount
            total_vat += d.vat_amount
            line = {"sequence": it.sequence, **_plain(d.to_json())}
            if denied:
                line["preference_denied"] = denied
            items.append(line)
        return {
            "items": items,
            "duty": str(total_duty),
            "tax": str(total_vat),
            "total": str(total_duty + total_vat),
            "exchange_rate": str(rate),
        }

    # --- permits ------------------------------------------------------------------------

    def _permits(self, decl: Declaration, duties: dict[str, Any]) -> list[dict[str, Any]]:
        holder = holder_hash(f"{decl.importer.id_scheme}-{decl.importer.id}")
        at = int(dt.datetime.combine(decl.date, dt.time(12), dt.UTC).timestamp())
        regs = {d["sequence"]: set(d.get("regulation_codes", ())) for d in duties["items"]}
        out = []
        lines = []
        for it in decl.items:
            if not it.permits:
                if PERMIT_REGULATION in regs.get(it.sequence, set()):
                    out.append(
                        {
                            "item": it.sequence,
                            "permit": None,
                            "ok": False,
                            "reason": f"HS {it.hs_code} needs an import permit; none cited",
                        }
                    )
                continue
            for pid in it.permits:
                entry = {
                    "item": it.sequence,
                    "permit": pid,
                    **self._permit_check(pid, holder, it, at),
                }
                out.append(entry)
                lines.append((entry, it))
        self._check_totals(lines, holder, at)
        return out

    def _permit_check(self, pid: str, holder: bytes, it, at: int) -> dict[str, Any]:
        view = self.chain.permits.permit(permit_id_bytes(pid))
        if view is None:
            return {"ok": False, "reason": f"permit {pid} does not exist on chain"}
        try:
            qty = convert_quantity(Decimal(str(it.quantity)), it.unit, view.unit)
        except ValueError as exc:
            return {"ok": False, "reason": f"permit {pid} is in {view.unit}: {exc}"}
        check = self.chain.permits.check(permit_id_bytes(pid), holder, it.hs_code[:6], qty, at)
        return {
            "ok": check.ok,
            "reason": check.reason_text,
            "quantity": str(qty),
            "unit": view.unit,
        }

    def _check_totals(self, lines: list, holder: bytes, at: int) -> None:
        """Items drawing on the same permit and HS code must fit together, not one by one."""
        totals: dict[tuple[str, str], Decimal] = {}
        for entry, it in lines:
            if entry["ok"]:
                key = (entry["permit"], it.hs_code[:6])
                totals[key] = totals.get(key, Decimal(0)) + Decimal(entry["quantity"])
        for (pid, hs6), qty in totals.items():
            check = self.chain.permits.check(permit_id_bytes(pid), holder, hs6, qty, at)
            if check.ok:
                continue
            for entry, it in lines:
                if entry["permit"] == pid and it.hs_code[:6] == hs6:
                    entry["ok"] = False
                    entry["reason"] = (
                        f"together the items ask {qty} {entry['unit']} of "
                        f"permit {pid}: {check.reason_text}"
                    )

    # --- documents ----------------------------------------------------------------------

    def _documents(self, decl: Declaration) -> list[dict[str, Any]]:
        docs = self.chain.documents
        out = []
        for ref in decl.documents:
            r = ref.receipt
            if r is None:
                out.append(
                    {
                        "doc_hash": ref.doc_hash,
                        "ok": False,
                        "reason": "no receipt: the document cannot be checked on chain",
                    }
                )
                continue
            leaf = leaf_hash(bytes.fromhex(r.doc_hash[2:]))
            root = process_proof([bytes.fromhex(p[2:]) for p in r.proof], leaf)
            if r.doc_hash != ref.doc_hash or "0x" + root.hex() != r.root:
                out.append(
                    {
                        "doc_hash": ref.doc_hash,
                        "ok": False,
                        "reason": "the receipt's proof does not lead to its root",
                    }
                )
                continue
            batch = docs.batch(r.root)
            if batch is None:
                out.append(
                    {
                        "doc_hash": ref.doc_hash,
                        "ok": False,
                        "reason": f"root {r.root} was never anchored",
                    }
                )
                continue
            anchored_as = doctypes.doc_type(int(batch.doc_type)).name
            if anchored_as != ref.doc_type:
                out.append(
                    {
                        "doc_hash": ref.doc_hash,
                        "ok": False,
                        "reason": f"its batch was anchored as {anchored_as}, not {ref.doc_type}",
                    }
                )
                continue
            status = docs.status(r.root, r.doc_hash)
            if status.revoked:
                what = "its batch was" if status.batch_revoked else "it was"
                out.append({"doc_hash": ref.doc_hash, "ok": False, "reason": f"{what} revoked"})
                continue
            out.append(
                {
                    "doc_hash": ref.doc_hash,
                    "ok": True,
                    "doc_type": r.doc_type,
                    "issuer_member": batch.issuer_member,
                    "reason": f"anchored by {batch.issuer_member}, not revoked",
                }
            )
        return out

    # --- selectivity --------------------------------------------------------------------

    def _risk(
        self, decl: Declaration, duties, permits, documents, others, manifest=None
    ) -> RiskInput:
        regs = {d["sequence"]: frozenset(d.get("regulation_codes", ())) for d in duties["items"]}
        tariff = others.get("tariff") or {}
        audit = others.get("audit") or {}
        xray = others.get("xray") or {}
        return RiskInput(
            declaration_id=decl.declaration_id,
            importer=decl.importer.id,
            declarant=decl.declarant.id,
            origin=decl.origin_country,
            departure=decl.departure_country,
            items=tuple(
                RiskItem(
                    hs=it.hs_code,
                    value=float(it.customs_value),
                    quantity=float(it.quantity),
                    regulations=regs.get(it.sequence, frozenset()),
                )
                for it in decl.items
            ),
            date=decl.date,
            permit_ok=all(p["ok"] for p in permits) if permits else None,
            documents_ok=all(d["ok"] for d in documents) if documents else None,
            tariff_mismatch=tariff.get("mismatch"),
            tariff_duty_gap=tariff.get("duty_gap"),
            audit_score=audit.get("score"),
            xray_threat=xray.get("threat"),
            xray_uncertain=xray.get("uncertain"),
            xray_score=xray.get("score"),
            description="; ".join(it.description for it in decl.items),
            **_manifest_risk(manifest),
        )


def _manifest_risk(m: dict[str, Any] | None) -> dict[str, Any]:
    """The RiskInput fields of a manifest match (none when the declaration cites no line)."""
    if m is None:
        return {}
    return {
        "manifest_unknown": m["unknown"],
        "manifest_exhausted": m["exhausted"],
        "manifest_packages_mismatch": m["packages_mismatch"],
        "manifest_weight_mismatch": m["weight_mismatch"],
        "manifest_hs_mismatch": m["hs_mismatch"],
        "manifest_late": m["late"],
        "pre_arrival": frozenset(m["pre_arrival"]),
    }


def _plain(obj: Any) -> Any:
    """Decimals as strings (exact, and the same text on every instance)."""
    if isinstance(obj, Decimal):
        return str(obj)
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    return obj
