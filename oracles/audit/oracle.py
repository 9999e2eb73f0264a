"""The audit oracle (kind AUDIT): risk scores and attested audit selections.

Requests (JSON), one of:

* `{"declaration": {<column>: <value>, ...}}`: one declaration in the model's column
  layout (or a list of its item rows: it scores as its riskiest item).  Output `{"declaration_id", "score", "reasons", "model_version"}`; `score` in
  [0, 1] is what the clearance oracle reads as `others["audit"]["score"]`.
* `{"declarations": [{...}, ...], "select_pct": 5.0}` (or `"top": k`): score every
  declaration (rows are items; a declaration scores as its riskiest item) and select the
  riskiest.  Output `{"selected": [{"declaration_id",
  "score"}], "count", "merkle_root", "model_version", "scores"}`.
* `{"selected": ["D1", "D2", ...]}`: a list chosen elsewhere (an officer's final audit
  plan, a company list), attested as is.  Output `{"selected", "count", "merkle_root",
  "model_version"}`.

The selection's Merkle root (`offchain.merkle`, leaves `leaf_hash(keccak256(id))` in
selection order) is the subject, so AttestationHub holds one root per attested plan and
any declaration's membership is later proved with `selection_proof`.

Deterministic: the same request and model directory give the same output on every
instance; scores are rounded to 6 decimals, so the two scoring backends (onnxruntime,
scikit-learn; margins equal within 1e-9) hash the same.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from offchain import attestation as att
from offchain.declarations import DeclarationRejected, declaration_hash, load_declaration_json
from offchain.hexbytes import hex0x
from offchain.merkle import MerkleTree, keccak256
from oracles.audit import explain
from oracles.audit.errors import AuditError
from oracles.audit.model import AuditModel
from oracles.audit.service import SCORE_DECIMALS, prepare_for, select
from oracles.base import Oracle, OracleError, hash_json

MAX_REQUEST_ROWS = 100_000


def selection_leaf_value(declaration_id: str) -> bytes:
    """The 32-byte value a selected declaration id stands for in the tree."""
    return keccak256(declaration_id.encode("utf-8"))


def selection_tree(ids: list[str]) -> MerkleTree:
    return MerkleTree.from_values([selection_leaf_value(i) for i in ids])


def selection_proof(ids: list[str], declaration_id: str) -> list[bytes]:
    """Proof that `declaration_id` is in the selection `ids` (ValueError if it is not)."""
    return selection_tree(ids).proof(ids.index(declaration_id))


def rows_from_declaration(decl: dict[str, Any], columns: dict[str, str]) -> list[dict[str, Any]]:
    """A declaration as lodged (offchain.declarations JSON) as the model's item rows.

    Why: the clearance service asks the AUDIT oracle about the declaration it is deciding;
    the model was trained on a history file's layout, so the fields are renamed to the
    model's columns (values in the national currency, at the declaration's exchange rate).
    """
    rate = float(decl.get("exchange_rate") or 1.0)
    rows = []
    for item in decl.get("items") or []:
        fields = {
            "declaration_id": decl.get("declaration_id"),
            "date": decl.get("date"),
            "office": decl.get("office"),
            "process_type": decl.get("type"),
            "transport_mode": (decl.get("transport") or {}).get("mode"),
            "declarant": (decl.get("declarant") or {}).get("id"),
            "importer": (decl.get("importer") or {}).get("id"),
            "seller": (decl.get("exporter") or {}).get("id"),
            "hs_code": item.get("hs_code"),
            "departure_country": decl.get("departure_country"),
            "origin_country": item.get("origin_country") or decl.get("origin_country"),
            "net_mass": item.get("net_mass_kg"),
            "price": round(float(item.get("customs_value") or 0) * rate, 2),
        }
        rows.append({columns[k]: v for k, v in fields.items() if columns.get(k)})
    return rows


def _rows(rows: Any, what: str) -> pd.DataFrame:
    if not isinstance(rows, list) or not rows or not all(isinstance(r, dict) for r in rows):
        raise OracleError("invalid_request", f"{what} must be a non-empty list of objects")
    if len(rows) > MAX_REQUEST_ROWS:
        raise OracleError(
            "invalid_request",
            f"{len(rows)} declarations; at most {MAX_REQUEST_ROWS} per request",
        )
    cols = list(dict.fromkeys(k for r in rows for k in r))
    data = {c: ["" if r.get(c) is None else str(r.get(c)) for r in rows] for c in cols}
    return pd.DataFrame(data, dtype=object).astype(str)


class AuditOracle(Oracle):
    kind = att.AUDIT

    def __init__(self, model: AuditModel, select_pct: float = 5.0) -> None:
        self.model = model
        self.model_version = model.version
        self.select_pct = select_pct
        self._last: tuple[Any, dict[str, Any]] | None = None  # (request, output)

    def _ids(self, request: dict[str, Any]) -> list[str]:
        ids = request.get("selected")
        if not isinstance(ids, list) or not ids or not all(isinstance(i, str) and i for i in ids):
            raise OracleError(
                "invalid_request", "`selected` must be a non-empty list of declaration ids"
            )
        if len(set(ids)) != len(ids):
            raise OracleError("invalid_request", "`selected` lists a declaration twice")
        return ids

    def subject(self, request: dict[str, Any]) -> bytes:
        if not isinstance(request, dict):
            raise OracleError("invalid_request", "an audit request is a JSON object")
        if "declaration" in request:
            decl = request["declaration"]
            if isinstance(decl, dict) and isinstance(decl.get("items"), list):
                try:  # a lodged declaration: the same subject as its TARIFF and CLEARANCE results
                    return declaration_hash(load_declaration_json(decl))
                except DeclarationRejected as exc:
                    raise OracleError.reporting(exc) from None
            column = self.model.mapping.column("declaration_id")
            did = decl.get(column) if isinstance(decl, dict) else None
            if not did:
                raise OracleError("invalid_request", f"the declaration has no {column!r}")
            return hash_json({"audit_declaration": str(did)})
        last = self._last
        # `evaluate` computes then asks for the subject of the same request object
        out = last[1] if last is not None and last[0] is request else self.compute(request)
        return bytes.fromhex(out["merkle_root"][2:])

    def compute(self, request: dict[str, Any]) -> dict[str, Any]:
        if not isinstance(request, dict):
            raise OracleError("invalid_request", "an audit request is a JSON object")
        try:
            if "declaration" in request:
                return self._one(request["declaration"])
            if "declarations" in request:
                out = self._select(request)
                self._last = (request, out)
                return out
            if "selected" in request:
                return self._attest(self._ids(request), [])
        except AuditError as exc:
            raise OracleError.reporting(exc) from exc
        raise OracleError("invalid_request", "give `declaration`, `declarations` or `selected`")

    def _one(self, row: Any) -> dict[str, Any]:
        if isinstance(row, dict) and isinstance(row.get("items"), list):
            row = rows_from_declaration(row, self.model.mapping.columns)
        rows = row if isinstance(row, list) else [row]
        frame = prepare_for(self.model, _rows(rows, "declaration"), need_label=False).frame
        if frame["declaration_id"].nunique() != 1:
            raise OracleError("invalid_request", "the items of `declaration` carry different ids")
        X, score = self.model.score(frame)
        i = int(np.argmax(score))  # a declaration is as risky as its riskiest item
        rs = explain.reasons(
            frame.iloc[[i]], X[[i]], self.model.contributions(X[[i]]), self.model.features
        )[0]
        return {
            "declaration_id": str(frame["declaration_id"].iloc[0]),
            "score": round(float(score[i]), SCORE_DECIMALS),
            "reasons": rs,
            "model_version": self.model_version,
        }

    def _select(self, request: dict[str, Any]) -> dict[str, Any]:
        frame = prepare_for(
            self.model, _rows(request["declarations"], "declarations"), need_label=False
        ).frame
        _, item_score = self.model.score(frame)
        # one row per item: a declaration scores as its riskiest item, ids in date order
        per = (
            pd.DataFrame({"id": frame["declaration_id"].to_numpy(), "s": item_score})
            .groupby("id", sort=False)["s"]
            .max()
        )
        ids = per.index.tolist()
        score = np.round(per.to_numpy(dtype="float64"), SCORE_DECIMALS)
        top, pct = request.get("top"), request.get("select_pct")
        if top is not None and (not isinstance(top, int) or isinstance(top, bool) or top < 1):
            raise OracleError("invalid_request", "`top` must be a positive integer")
        if pct is not None and (not isinstance(pct, (int, float)) or isinstance(pct, bool)):
            raise OracleError("invalid_request", "`select_pct` must be a number")
        picked = select(
            score,
            None
            if pct is None and top is not None
            else float(pct if pct is not None else self.select_pct),
            top,
        )
        chosen = [ids[i] for i in picked]
        scores = {d: float(s) for d, s in zip(ids, score.tolist(), strict=True)}
        return self._attest(chosen, [scores[d] for d in chosen]) | {"scores": scores}

    def _attest(self, ids: list[str], scores: list[float]) -> dict[str, Any]:
        root = selection_tree(ids).root
        selected: list[Any] = (
            ids
            if not scores
            else [{"declaration_id": d, "score": s} for d, s in zip(ids, scores, strict=True)]
        )
        return {
            "selected": selected,
            "count": len(ids),
            "merkle_root": hex0x(root),
            "model_version": self.model_version,
        }
