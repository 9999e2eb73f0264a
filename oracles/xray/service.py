"""The X-ray service of a node: scans in, verdicts, alerts and officer feedback kept.

Knows nothing of HTTP.  A scan is checked and decoded (`oracles.xray.image`), judged by the
verified model, its original bytes put in the node's content-addressed store (the image
database: the CID is the address, the sha256 the subject attested on chain) and its
metadata and result in SQLite.  Every threat over its class threshold becomes an alert
row and is handed to `on_alert` (the node wires it to its real-time alert stream).
Officers confirm or reject alerts, or add a threat the model missed; those decisions are
the labels `smartcustoms xray retrain` fine-tunes on.
"""

from __future__ import annotations

import builtins
import json
import logging
import sqlite3
import time
import uuid
from collections.abc import Callable
from typing import Any

import numpy as np

from offchain.cas import ContentNotFound, ContentStore
from offchain.db import Database
from offchain.outbox import utc_now
from oracles.xray.errors import XrayError
from oracles.xray.image import ImageLimits, load_image
from oracles.xray.model import XrayModel
from oracles.xray.overlay import draw_overlay

log = logging.getLogger(__name__)

DECISIONS = ("confirm", "reject")

MIGRATIONS = [
    """
    CREATE TABLE xray_scans (
        scan_id TEXT PRIMARY KEY,
        sha256 TEXT NOT NULL,
        cid TEXT NOT NULL,
        filename TEXT NOT NULL DEFAULT '',
        format TEXT NOT NULL,
        width INTEGER NOT NULL,
        height INTEGER NOT NULL,
        verdict TEXT NOT NULL,
        score REAL NOT NULL,
        result TEXT NOT NULL,
        model_version TEXT NOT NULL,
        declaration_id TEXT,
        ms REAL NOT NULL,
        created_at TEXT NOT NULL,
        created_by TEXT NOT NULL
    );
    CREATE INDEX xray_scans_sha256 ON xray_scans (sha256);
    CREATE INDEX xray_scans_created ON xray_scans (created_at);
    CREATE TABLE xray_alerts (
        alert_id INTEGER PRIMARY KEY AUTOINCREMENT,
        scan_id TEXT NOT NULL REFERENCES xray_scans (scan_id),
        class TEXT NOT NULL,
        score REAL NOT NULL,
        box TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'confirmed', 'rejected')),
        created_at TEXT NOT NULL,
        decided_by TEXT,
        decided_at TEXT,
        note TEXT
    );
    CREATE INDEX xray_alerts_status ON xray_alerts (status, alert_id);
    CREATE TABLE xray_feedback (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        scan_id TEXT NOT NULL REFERENCES xray_scans (scan_id),
        class TEXT NOT NULL,
        decision TEXT NOT NULL CHECK (decision IN ('confirm', 'reject')),
        alert_id INTEGER REFERENCES xray_alerts (alert_id),
        note TEXT NOT NULL DEFAULT '',
        created_by TEXT NOT NULL,
        created_at TEXT NOT NULL
    );
    CREATE INDEX xray_feedback_scan ON xray_feedback (scan_id)
    """,
    # The verdict's attestation on AttestationHub (kind XRAY), when the node obtained one.
    "ALTER TABLE xray_scans ADD COLUMN attestation TEXT;",
]


def latest_attested_scan(db: Database, declaration_id: str) -> dict[str, Any] | None:
    """The newest scan of a declaration whose verdict is attested on chain, as clearance
    reads it (`threat`, `score`, the attestation), or None — also when this node never
    scanned anything (no table yet)."""
    try:
        rows = db.query(
            "SELECT scan_id, sha256, verdict, score, model_version, attestation FROM xray_scans"
            " WHERE declaration_id = ? AND attestation IS NOT NULL"
            " ORDER BY created_at DESC, rowid DESC LIMIT 1",
            (declaration_id,),
        )
    except sqlite3.OperationalError:
        return None
    if not rows:
        return None
    r = rows[0]
    return {
        "scan_id": r["scan_id"],
        "image_sha256": r["sha256"],
        "threat": r["verdict"] == "threat",
        "uncertain": r["verdict"] == "uncertain",
        "score": r["score"],
        "verdict": r["verdict"],
        "model_version": r["model_version"],
        "attestation": json.loads(r["attestation"]),
    }


class XrayService:
    """Scans, alerts and feedback of one node; `on_alert(alert)` is called per new alert."""

    def __init__(
        self,
        db: Database,
        store: ContentStore,
        model: XrayModel,
        *,
        limits: ImageLimits = ImageLimits(),
        on_alert: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.db = db
        self.store = store
        self.model = model
        self.limits = limits
        self.on_alert = on_alert
        db.migrate("oracles.xray", MIGRATIONS)

    # --- scanning -------------------------------------------------------------------------

    def scan(
        self, data: bytes, *, user: str, filename: str = "", declaration_id: str | None = None
    ) -> dict[str, Any]:
        """Judge and keep one scan; its record (with alerts).  XrayError for a bad image, and
        `not_a_scan` for a picture the gate refuses (`oracles.xray.gate`): it is neither
        stored nor judged, raises no alert and is never sent for attestation."""
        t0 = time.perf_counter()
        loaded = load_image(data, self.limits)
        det = self.model.detect(loaded.image).require_scan()  # not_a_scan: nothing is kept
        ms = round((time.perf_counter() - t0) * 1000, 2)
        cid = self.store.put(data)
        scan_id = uuid.uuid4().hex
        now = utc_now()
        result = {**det.to_json(), "warnings": loaded.warnings}
        score = max(det.scores.values()) if det.scores else 0.0
        alerts = []
        with self.db.transaction() as tx:
            tx.execute(
                "INSERT INTO xray_scans (scan_id, sha256, cid, filename, format, width, height,"
                " verdict, score, result, model_version, declaration_id, ms, created_at,"
                " created_by) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    scan_id,
                    loaded.sha256,
                    cid,
                    filename[:255],
                    loaded.format,
                    loaded.width,
                    loaded.height,
                    det.verdict,
                    score,
                    json.dumps(result, sort_keys=True),
                    self.model.version_id,
                    declaration_id,
                    ms,
                    now,
                    user,
                ),
            )
            for t in det.threats:
                cur = tx.execute(
                    "INSERT INTO xray_alerts (scan_id, class, score, box, created_at)"
                    " VALUES (?,?,?,?,?)",
                    (scan_id, t["class"], t["score"], json.dumps(t["box"]), now),
                )
                alerts.append(
                    self._alert_json(
                        {
                            "alert_id": cur.lastrowid,
                            "scan_id": scan_id,
                            "class": t["class"],
                            "score": t["score"],
                            "box": json.dumps(t["box"]),
                            "status": "open",
                            "created_at": now,
                            "decided_by": None,
                            "decided_at": None,
                            "note": None,
                            "sha256": loaded.sha256,
                            "declaration_id": declaration_id,
                        }
                    )
                )
        for alert in alerts:
            self._notify(alert)
        return self.get(scan_id)

    def _notify(self, alert: dict[str, Any]) -> None:
        if self.on_alert is None:
            return
        try:
            self.on_alert({"kind": "xray", **alert})
        except Exception:  # an alert sink that fails must not lose the scan
            log.exception("on_alert failed for X-ray alert %s", alert["alert_id"])

    # --- reading --------------------------------------------------------------------------

    def _row(self, scan_id: str):
        rows = self.db.query("SELECT * FROM xray_scans WHERE scan_id = ?", (scan_id,))
        if not rows:
            raise XrayError("unknown_scan", f"no X-ray scan {scan_id} on this node")
        return rows[0]

    @staticmethod
    def _alert_json(r: Any) -> dict[str, Any]:
        d = dict(r)
        d["box"] = json.loads(d["box"])
        return d

    def get(self, scan_id: str) -> dict[str, Any]:
        """The scan's record: the CLI/API shape plus alerts and feedback."""
        r = self._row(scan_id)
        result = json.loads(r["result"])
        alerts = [
            self._alert_json(a)
            for a in self.db.query(
                "SELECT * FROM xray_alerts WHERE scan_id = ? ORDER BY alert_id", (scan_id,)
            )
        ]
        feedback = [
            dict(f)
            for f in self.db.query(
                "SELECT id, class, decision, alert_id, note, created_by, created_at"
                " FROM xray_feedback WHERE scan_id = ? ORDER BY id",
                (scan_id,),
            )
        ]
        return {
            "scan_id": r["scan_id"],
            "image": r["filename"],
            "sha256": r["sha256"],
            "cid": r["cid"],
            "format": r["format"],
            "width": r["width"],
            "height": r["height"],
            "verdict": r["verdict"],
            "threat": r["verdict"] == "threat",
            "score": r["score"],
            "threats": result["threats"],
            "scores": result["scores"],
            "scan": result.get("scan"),
            "alarm_rate": result.get("alarm_rate"),
            "thresholds": result.get("thresholds"),
            "review": result.get("review", []),
            "review_rate": result.get("review_rate"),
            "warnings": result.get("warnings", []),
            "model_version": r["model_version"],
            "declaration_id": r["declaration_id"],
            "ms": r["ms"],
            "created_at": r["created_at"],
            "created_by": r["created_by"],
            "alerts": alerts,
            "feedback": feedback,
            "attestation": json.loads(r["attestation"]) if r["attestation"] else None,
        }

    def record_attestation(self, scan_id: str, attestation: dict[str, Any]) -> None:
        self.db.execute(
            "UPDATE xray_scans SET attestation = ? WHERE scan_id = ?",
            (json.dumps(attestation, sort_keys=True), scan_id),
        )

    def latest_for_declaration(self, declaration_id: str) -> dict[str, Any] | None:
        scan = latest_attested_scan(self.db, declaration_id)
        return self.get(scan["scan_id"]) if scan else None

    def list(self, limit: int = 100, verdict: str | None = None) -> list[dict[str, Any]]:
        sql = (
            "SELECT scan_id, filename AS image, sha256, verdict, score, model_version,"
            " created_at FROM xray_scans"
        )
        params: list[Any] = []
        if verdict:
            sql += " WHERE verdict = ?"
            params.append(verdict)
        sql += " ORDER BY created_at DESC, scan_id LIMIT ?"
        return [dict(r) for r in self.db.query(sql, (*params, limit))]

    # `builtins.list`: in the class body after `def list`, plain `list` names that method
    def alerts(
        self, status: str | None = "open", limit: int = 100
    ) -> builtins.list[dict[str, Any]]:
        sql = (
            "SELECT a.*, s.sha256, s.declaration_id FROM xray_alerts a"
            " JOIN xray_scans s USING (scan_id)"
        )
        params: list[Any] = []
        if status:
            sql += " WHERE a.status = ?"
            params.append(status)
        sql += " ORDER BY a.alert_id DESC LIMIT ?"
        return [self._alert_json(r) for r in self.db.query(sql, (*params, limit))]

    def image_bytes(self, scan_id: str) -> bytes:
        r = self._row(scan_id)
        try:
            return self.store.get(r["cid"])
        except ContentNotFound:
            raise XrayError(
                "unknown_scan",
                f"the image of scan {scan_id} ({r['cid']}) is no longer in the content store",
            ) from None

    def overlay(self, scan_id: str) -> bytes:
        """PNG: the stored scan with its stored threats drawn (no second inference)."""
        rec = self.get(scan_id)
        loaded = load_image(self.image_bytes(scan_id), self.limits)
        return draw_overlay(loaded.image, rec["threats"], rec["verdict"], rec["review"])

    # --- feedback -------------------------------------------------------------------------

    def feedback(
        self,
        scan_id: str,
        cls: str,
        decision: str,
        *,
        user: str,
        note: str = "",
        alert_id: int | None = None,
    ) -> dict[str, Any]:
        """An officer's decision on one class of one scan.

        `confirm`: the class is in the bag (an alert was right, or the model missed it);
        `reject`: it is not (a false alarm).  Open alerts of that class on the scan take the
        decision.  The latest decision per class counts for retraining.
        """
        if decision not in DECISIONS:
            raise XrayError(
                "bad_feedback", f"decision must be one of {', '.join(DECISIONS)}, not {decision!r}"
            )
        if cls not in self.model.classes:
            raise XrayError(
                "bad_feedback",
                f"unknown class {cls!r}; classes are {', '.join(self.model.classes)}",
            )
        self._row(scan_id)
        now = utc_now()
        status = "confirmed" if decision == "confirm" else "rejected"
        with self.db.transaction() as tx:
            if alert_id is not None:
                hit = tx.execute(
                    "SELECT class FROM xray_alerts WHERE alert_id = ? AND scan_id = ?",
                    (alert_id, scan_id),
                ).fetchone()
                if hit is None:
                    raise XrayError("unknown_alert", f"no alert {alert_id} on scan {scan_id}")
                if hit["class"] != cls:
                    raise XrayError(
                        "bad_feedback", f"alert {alert_id} is about {hit['class']}, not {cls}"
                    )
            tx.execute(
                "INSERT INTO xray_feedback (scan_id, class, decision, alert_id, note,"
                " created_by, created_at) VALUES (?,?,?,?,?,?,?)",
                (scan_id, cls, decision, alert_id, note[:1000], user, now),
            )
            tx.execute(
                "UPDATE xray_alerts SET status = ?, decided_by = ?, decided_at = ?,"
                " note = ? WHERE scan_id = ? AND class = ?"
                + (" AND alert_id = ?" if alert_id is not None else ""),
                (
                    status,
                    user,
                    now,
                    note[:1000],
                    scan_id,
                    cls,
                    *((alert_id,) if alert_id is not None else ()),
                ),
            )
        return self.get(scan_id)

    def alert_feedback(
        self, alert_id: int, decision: str, *, user: str, note: str = ""
    ) -> dict[str, Any]:
        rows = self.db.query(
            "SELECT scan_id, class FROM xray_alerts WHERE alert_id = ?", (alert_id,)
        )
        if not rows:
            raise XrayError("unknown_alert", f"no X-ray alert {alert_id} on this node")
        return self.feedback(
            rows[0]["scan_id"], rows[0]["class"], decision, user=user, note=note, alert_id=alert_id
        )

    def labelled(self) -> builtins.list[tuple[bytes, np.ndarray, np.ndarray, str]]:
        """Scans with officer decisions: (image bytes, labels, known mask, sha256).

        The latest decision per (scan, class) wins; classes nobody decided are unknown.
        Scans of the same image collapse to one sample.
        """
        classes = self.model.classes
        rows = self.db.query(
            "SELECT f.scan_id, f.class, f.decision, s.cid, s.sha256 FROM xray_feedback f"
            " JOIN xray_scans s USING (scan_id) ORDER BY f.id"
        )
        by_image: dict[str, dict[str, Any]] = {}
        for r in rows:
            rec = by_image.setdefault(r["sha256"], {"cid": r["cid"], "labels": {}})
            if r["class"] in classes:
                rec["labels"][r["class"]] = 1.0 if r["decision"] == "confirm" else 0.0
        out = []
        for sha, rec in by_image.items():
            y = np.array([rec["labels"].get(c, 0.0) for c in classes], np.float32)
            known = np.array([c in rec["labels"] for c in classes], np.float32)
            out.append((self.store.get(rec["cid"]), y, known, sha))
        return out

    def stats(self) -> dict[str, Any]:
        scans = self.db.query("SELECT verdict, COUNT(*) AS n FROM xray_scans GROUP BY verdict")
        alerts = self.db.query(
            "SELECT class, status, COUNT(*) AS n FROM xray_alerts GROUP BY class, status"
        )
        by_class: dict[str, dict[str, int]] = {}
        for a in alerts:
            by_class.setdefault(a["class"], {})[a["status"]] = a["n"]
        return {
            "scans": {r["verdict"]: r["n"] for r in scans},
            "alerts": by_class,
            "model_version": self.model.version_id,
        }
