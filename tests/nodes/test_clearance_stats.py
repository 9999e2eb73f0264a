"""Selectivity statistics of a node: counts per channel and per rule from stored decisions."""

from __future__ import annotations

import json

from nodes.clearance.service import ClearanceService
from offchain.db import Database


def _store(db: Database, decl_id: str, engine: str, final: str, rules: list[str]) -> None:
    decision = {
        "channel": engine,
        "reasons": [{"rule": r, "channel": engine, "text": r} for r in rules],
    }
    db.execute(
        "INSERT INTO declarations (declaration_id, declaration_hash, channel, decision,"
        " attestation, draws, created_at, created_by) VALUES (?,?,?,?,?,?,?,?)",
        (decl_id, "0x" + "00" * 32, final, json.dumps(decision), "{}", "[]", "now", "t"),
    )


def test_stats_count_channels_before_and_after_reroutes_and_rules(settings, tmp_path):
    db = Database(tmp_path / "node.sqlite")
    svc = ClearanceService(settings, "TW", chain=None, db=db)
    _store(db, "D1", "C1", "C1", [])
    _store(db, "D2", "C3", "C3", ["QUARANTINE", "PERMIT-INVALID"])
    _store(db, "D3", "C2", "C3", ["DANGEROUS-GOODS"])  # re-routed by an officer
    _store(db, "D4", "C3", "C3", ["QUARANTINE"])
    stats = svc.stats()
    assert stats["declarations"] == 4
    assert stats["engine_channels"] == {"C1": 1, "C3": 2, "C2": 1}
    assert stats["channels"] == {"C1": 1, "C3": 3}
    assert next(iter(stats["rules"].items())) == ("QUARANTINE", 2)
    assert stats["rules"]["DANGEROUS-GOODS"] == 1
