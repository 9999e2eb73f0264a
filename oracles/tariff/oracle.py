"""The tariff oracle: does a declared HS code match what the goods' description says?

Request: `{"declaration": <declaration JSON>}` (every item is checked) or
`{"items": [{"sequence", "description", "hs_code", optional "customs_value", "quantity",
"unit", "net_mass_kg", "origin_country"}]}`.  Output, as the clearance oracle's selectivity
reads it under `others["tariff"]`:

    {"mismatch": bool,          # some item's declared HS6 differs from a confident prediction
     "uncertain": bool,         # some item's prediction is under the model's threshold
     "duty_gap": float,         # extra duty (tariff currency) if the predictions are right
     "items": [{"sequence", "declared", "declared_known", "predicted", "confidence",
                "declared_confidence", "uncertain", "mismatch", "duty_gap", "candidates",
                "reason"}],
     "model_version": str}

A mismatch is flagged only against a prediction that is sure — at least the model's
calibrated `accuse_below` (set on real development lines, stricter than the assistant's
`uncertain_below`) and the installation's `mismatch_confidence` — of the
subheading, or of the heading or chapter (the candidates of one HS4 or HS2 together) when
the declared code lies outside it; or when the declared code is not an HS 2022 subheading
at all.  An unsure prediction is "uncertain":
it accuses no one (selectivity sees no mismatch), and the attested result says so with
its confidence.  The output is deterministic for a request and
model version (scores rounded, ties broken by code), with no NaN.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from eth_utils import keccak

from offchain import attestation as att
from offchain.declarations import DeclarationRejected, declaration_hash, load_declaration_json
from offchain.settings import Settings
from offchain.tariff import TariffError, TariffTable, nomenclature, normalize_hs
from oracles.base import Oracle, OracleError, canonical_json
from oracles.tariff.config import TariffSettings
from oracles.tariff.dialogue import Dialogue
from oracles.tariff.model import TariffModel
from oracles.tariff.service import check_description, load_model

MAX_ITEMS = 999
TOP = 3


class TariffOracle(Oracle):
    kind = att.TARIFF

    def __init__(
        self,
        model: TariffModel,
        table: TariffTable,
        mismatch_confidence: float = 0.5,
        max_chars: int = 5000,
    ) -> None:
        self.model = model
        self.table = table
        self.mismatch_confidence = mismatch_confidence
        self.max_chars = max_chars
        self.model_version = model.version

    def subject(self, request: dict[str, Any]) -> bytes:
        if isinstance(request, dict) and "declaration" in request:
            return declaration_hash(self._declaration(request))
        return keccak(canonical_json(self._items(request)))

    def compute(self, request: dict[str, Any]) -> dict[str, Any]:
        items = self._items(request)
        out_items = [self._item(it) for it in items]
        gap = round(sum(i["duty_gap"] for i in out_items), 2)
        return {
            "mismatch": any(i["mismatch"] for i in out_items),
            "uncertain": any(i["uncertain"] for i in out_items),
            "duty_gap": gap,
            "items": out_items,
            "model_version": self.model_version,
        }

    # --- request forms --------------------------------------------------------------------

    @staticmethod
    def _declaration(request: dict[str, Any]):
        try:
            return load_declaration_json(request["declaration"])
        except DeclarationRejected as exc:
            raise OracleError.reporting(exc) from None

    def _items(self, request: dict[str, Any]) -> list[dict[str, Any]]:
        if not isinstance(request, dict):
            raise OracleError("invalid_request", "a tariff request is a JSON object")
        if "declaration" in request:
            decl = self._declaration(request)
            rate = Decimal(str(decl.exchange_rate)) if decl.exchange_rate else Decimal(1)
            return [
                {
                    "sequence": it.sequence,
                    "description": it.description,
                    "hs_code": it.hs_code,
                    "customs_value": str(Decimal(str(it.customs_value)) * rate),
                    "quantity": str(it.quantity),
                    "unit": it.unit,
                    "net_mass_kg": str(it.net_mass_kg),
                    "origin_country": it.origin_country,
                }
                for it in decl.items
            ]
        items = request.get("items")
        if not isinstance(items, list) or not items or len(items) > MAX_ITEMS:
            raise OracleError(
                "invalid_request",
                f"a tariff request needs a `declaration` or 1 to {MAX_ITEMS} `items`",
            )
        for i, it in enumerate(items):
            if not isinstance(it, dict) or not {"description", "hs_code"} <= it.keys():
                raise OracleError(
                    "invalid_request", f"items[{i}] needs `description` and `hs_code`"
                )
        return [{"sequence": it.get("sequence", i + 1), **it} for i, it in enumerate(items)]

    # --- one item -------------------------------------------------------------------------

    def _item(self, it: dict[str, Any]) -> dict[str, Any]:
        text = check_description(it["description"], self.max_chars)
        try:
            declared = normalize_hs(str(it["hs_code"]))
        except TariffError as exc:
            raise OracleError("invalid_hs_code", f"item {it['sequence']}: {exc.detail}") from None
        known = declared[:6] in nomenclature().entries
        d = Dialogue.start(self.model, text)
        ranked = d.ranked()
        probs = dict(ranked)
        predicted, conf = ranked[0] if ranked else (None, 0.0)
        declared_conf = round(probs.get(declared[:6], 0.0), 4)
        conf = round(conf, 4)
        cal = self.model.calibration
        sure = max(self.mismatch_confidence, cal.uncertain_below, cal.accuse_below)
        uncertain = predicted is None or conf < sure
        # Unsure of the subheading can still be sure of the heading or the chapter: "men's
        # cotton knitted T-shirts" splits 6109 and 6103 but is chapter 61 at 0.95, and 8482
        # (ball bearings) is contradicted.  The narrowest sure level that excludes the
        # declared code decides.
        level = next(
            (
                (n, prefix, mass)
                for n, prefix, mass in _levels(predicted, ranked)
                if mass >= sure and declared[:n] != prefix
            ),
            None,
        )
        if not known:
            mismatch, reason = True, f"{declared[:6]} is not an HS 2022 subheading"
        elif predicted is None:
            mismatch, reason = False, "uncertain: the description has no word the model knows"
        elif predicted == declared[:6]:
            mismatch, reason = False, "the description matches the declared subheading"
        elif not uncertain:
            mismatch, reason = (
                True,
                (f"the description points to {predicted} (confidence {conf}), not {declared[:6]}"),
            )
        elif level is not None:
            n, prefix, mass = level
            mismatch, reason = (
                True,
                (
                    f"the description points to {'heading' if n == 4 else 'chapter'} "
                    f"{prefix} (confidence {mass}; {predicted} most likely, at {conf}), "
                    f"not {declared[:6]}"
                ),
            )
        else:
            mismatch, reason = (
                False,
                (
                    f"uncertain: {predicted} is most likely (confidence "
                    f"{conf}); the declared code is not contradicted"
                ),
            )
        gap = (
            self._duty_gap(it, declared, predicted)
            if mismatch and known and predicted is not None
            else 0.0
        )
        return {
            "sequence": it["sequence"],
            "declared": declared,
            "declared_known": known,
            "predicted": predicted,
            "confidence": conf,
            "declared_confidence": declared_conf,
            "uncertain": uncertain,
            "mismatch": mismatch,
            "duty_gap": gap,
            "reason": reason,
            "candidates": [{"hs6": c, "confidence": round(p, 4)} for c, p in ranked[:TOP]],
        }

    def _duty_gap(self, it: dict[str, Any], declared: str, predicted: str) -> float:
        """Duty on the predicted subheading minus duty on the declared code (never negative)."""
        if "customs_value" not in it:
            return 0.0
        try:
            args = (
                Decimal(str(it["customs_value"])),
                Decimal(str(it.get("quantity", "1"))),
                it.get("unit", "C62"),
                it.get("origin_country", "XX"),
            )
            mass = it.get("net_mass_kg")
            kg = Decimal(str(mass)) if mass is not None else None
            on_declared = self.table.duty(declared, *args, net_mass_kg=kg).amount
            on_predicted = self.table.duty(predicted, *args, net_mass_kg=kg).amount
        except (TariffError, ArithmeticError, ValueError):
            return 0.0
        return float(max(Decimal(0), on_predicted - on_declared))


def tariff_oracle(settings: Settings, model_dir: Path | None = None) -> TariffOracle:
    """The TARIFF oracle of an installation: its active model and tariff table.

    Every instance of a consortium must run the same model version (the version is part of
    the attested result), so a new version is rolled out to all members before use.
    """
    ts = TariffSettings.from_settings(settings, model_dir)
    return TariffOracle(
        load_model(ts.active_model_dir()),
        TariffTable.load(ts.tariff_dir),
        ts.mismatch_confidence,
        ts.max_description_chars,
    )


def _levels(predicted: str | None, ranked: list[tuple[str, float]]) -> list[tuple[int, str, float]]:
    """(digits, prefix, probability) of the best candidate's heading and chapter."""
    if not predicted:
        return []
    return [
        (n, predicted[:n], round(sum(p for c, p in ranked if c[:n] == predicted[:n]), 4))
        for n in (4, 2)
    ]
