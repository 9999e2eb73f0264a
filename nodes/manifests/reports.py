"""What officers, carriers and auditors read about manifests: one manifest with its lines,
lists, pre-arrival risk, undeclared lines and cross-checks (part of ManifestService)."""

from __future__ import annotations

import builtins
import json
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from nodes.manifests.schema import LINE_COLUMNS, ManifestError, utc

if TYPE_CHECKING:
    from nodes.documents.service import DocumentService
    from nodes.records import RecordService
    from offchain.db import Database
    from offchain.settings import Settings


class ManifestReports:
    """Mixed into ManifestService (its database, records and documents services)."""

    # Set by ManifestService.__init__ (declared here for the type checker only).
    settings: Settings
    member_id: str
    db: Database
    documents: DocumentService
    records: RecordService

    if TYPE_CHECKING:
        # Defined by ManifestService.
        def country_of(self, member_id: str) -> str | None: ...

    def _manifest_row(self, source: str, sender: str, manifest_id: str) -> Any:
        rows = self.db.query(
            "SELECT * FROM manifests WHERE source = ? AND sender = ? AND manifest_id = ?",
            (source, sender, manifest_id),
        )
        return rows[0] if rows else None

    def find(self, ref: str, sender: str | None = None) -> Any:
        """A manifest by id (lodged here first, else received) or by document hash."""
        if ref.startswith("0x"):
            rows = self.db.query(
                "SELECT * FROM manifests WHERE doc_hash = ? ORDER BY source", (ref.lower(),)
            )
        elif sender:
            rows = self.db.query(
                "SELECT * FROM manifests WHERE manifest_id = ? AND sender = ?", (ref, sender)
            )
        else:
            rows = self.db.query(
                "SELECT * FROM manifests WHERE manifest_id = ? ORDER BY source, sender", (ref,)
            )
        if not rows:
            raise ManifestError("unknown_manifest", f"no manifest {ref} at this node")
        return rows[0]

    def summary(self, row: Any) -> dict[str, Any]:
        state, receipt = self._anchoring(row)
        lanes = {
            r["lane"]: r["n"]
            for r in self.db.query(
                "SELECT lane, COUNT(*) AS n FROM manifest_lines WHERE source = ? AND sender = ?"
                " AND manifest_id = ? GROUP BY lane",
                (row["source"], row["sender"], row["manifest_id"]),
            )
        }
        return {
            "manifest": row["manifest_id"],
            "type": row["type"],
            "source": row["source"],
            "sender": row["sender"] or None,
            "doc_hash": row["doc_hash"],
            "form": row["form"],
            "carrier": {"id": row["carrier_id"], "name": row["carrier_name"]},
            "transport": {
                "mode": row["mode"],
                "means_id": row["means_id"],
                "journey": row["journey"],
            },
            "loading_port": row["loading_port"],
            "discharge_port": row["discharge_port"],
            "departure": row["departure"],
            "arrival": row["arrival"],
            "lodged_at": row["lodged_at"],
            "lodged_by": row["lodged_by"],
            "late": bool(row["late"]),
            "lines": row["line_count"],
            "packages": row["packages"],
            "gross_mass_kg": row["gross_mass_kg"],
            "forwarded_to": row["forwarded_to"] if row["source"] == "lodged" else None,
            "pre_arrival": {
                "C1": lanes.get("C1", 0),
                "C2": lanes.get("C2", 0),
                "C3": lanes.get("C3", 0),
            },
            "state": state,
            "receipt": receipt,
        }

    def _anchoring(self, row: Any) -> tuple[str, dict[str, Any] | None]:
        if row["pipeline"] == "records":
            r = self.records.receipt(row["doc_hash"])
            return (self.records.state(row["doc_hash"]) or "unknown"), (r.to_json() if r else None)
        if row["pipeline"] == "documents":
            doc = self.documents.outbox.document(row["doc_hash"])
            if doc is None:
                return "unknown", None
            r = self.documents.receipt(doc)
            return doc.state, (r.to_json() if r else None)
        got = self.documents.inbox.get(row["doc_hash"], row["sender"])
        return "received", (got.receipt if got else None)

    def show(self, ref: str, sender: str | None = None) -> dict[str, Any]:
        """A manifest with every line: flags, what declarations took of it, partner data."""
        row = self.find(ref, sender)
        lines = self.db.query(
            f"SELECT id, {LINE_COLUMNS} FROM manifest_lines WHERE source = ? AND sender = ?"
            " AND manifest_id = ? ORDER BY seq",
            (row["source"], row["sender"], row["manifest_id"]),
        )
        usage = self._usage(row["type"], [(r["td_number"], r["td_line"]) for r in lines])
        return {**self.summary(row), "lines_detail": [self._line_json(r, usage) for r in lines]}

    def _usage(self, type_: str, keys: Iterable[tuple[str, int]]) -> dict:
        out: dict[tuple[str, int], list[dict[str, Any]]] = {}
        wanted = set(keys)
        numbers = sorted({k[0] for k in wanted})
        for i in range(0, len(numbers), 500):
            part = numbers[i : i + 500]
            for u in self.db.query(
                "SELECT declaration_id, td_number, td_line, packages, gross_mass_kg, state, at"
                f" FROM manifest_usage WHERE type = ? AND td_number IN ({','.join('?' * len(part))})"
                " ORDER BY at",
                (type_, *part),
            ):
                if (u["td_number"], u["td_line"]) not in wanted:
                    continue
                out.setdefault((u["td_number"], u["td_line"]), []).append(
                    {"declaration": u["declaration_id"], "packages": u["packages"],
                     "gross_mass_kg": u["gross_mass_kg"], "state": u["state"], "at": u["at"]}
                )  # fmt: skip
        return out

    @staticmethod
    def _line_json(r: Any, usage: dict) -> dict[str, Any]:
        declared = usage.get((r["td_number"], r["td_line"]), [])
        taken = sum(u["packages"] for u in declared)
        return {
            "manifest": r["manifest_id"],
            "source": r["source"],
            "sender": r["sender"] or None,
            "type": r["type"],
            "seq": r["seq"],
            "transport_document": {
                "type": r["td_type"],
                "number": r["td_number"],
                "line": r["td_line"],
            },
            "consignor": {"name": r["consignor_name"], "country": r["consignor_country"]},
            "consignee": {
                "name": r["consignee_name"],
                "country": r["consignee_country"],
                "id": r["consignee_id"],
                "id_scheme": r["consignee_scheme"],
            },
            "description": r["description"],
            "hs_code": r["hs_code"],
            "packages": r["packages"],
            "package_type": r["package_type"],
            "gross_mass_kg": r["gross_mass_kg"],
            "containers": json.loads(r["containers"]),
            "loading_port": r["loading_port"],
            "arrival": r["arrival"],
            "late": bool(r["late"]),
            "pre_arrival": {"lane": r["lane"], "flags": json.loads(r["flags"])},
            "partner_diff": json.loads(r["partner_diff"]) if r["partner_diff"] else None,
            "declared": declared,
            "remaining_packages": max(r["packages"] - taken, 0),
        }

    def list(self, *, type_: str | None = None, source: str | None = None,
             limit: int = 100) -> builtins.list[dict[str, Any]]:  # fmt: skip
        where, args = [], []
        if type_:
            where.append("type = ?")
            args.append(type_)
        if source:
            where.append("source = ?")
            args.append(source)
        sql = "SELECT * FROM manifests" + (" WHERE " + " AND ".join(where) if where else "")
        rows = self.db.query(sql + " ORDER BY lodged_at DESC LIMIT ?", (*args, limit))
        return [self.summary(r) for r in rows]

    def pre_arrival(self, *, lane: str | None = None, include_arrived_days: int = 2,
                    limit: int = 500) -> builtins.list[dict[str, Any]]:  # fmt: skip
        """Lines flagged C2/C3 (or `lane`) whose arrival is ahead or recent, soonest first:
        lodged by carriers here, or received from the exporting customs."""
        since = utc(datetime.now(UTC) - timedelta(days=include_arrived_days))
        lanes = [lane] if lane else ["C2", "C3"]
        rows = self.db.query(
            f"SELECT id, {LINE_COLUMNS} FROM manifest_lines WHERE arrival >= ?"
            f" AND lane IN ({','.join('?' * len(lanes))}) AND (type = 'IM' OR source = 'partner')"
            " ORDER BY arrival, manifest_id, seq LIMIT ?",
            (since, *lanes, limit),
        )
        usage = self._usage("IM", [(r["td_number"], r["td_line"]) for r in rows])
        return [self._line_json(r, usage) for r in rows]

    def undeclared(
        self, *, days: int | None = None, limit: int = 500
    ) -> builtins.list[dict[str, Any]]:
        """Carrier-reported arrival lines not fully declared `days` after arrival."""
        days = self.settings.manifests.undeclared_after_days if days is None else days
        cutoff = utc(datetime.now(UTC) - timedelta(days=days))
        rows = self.db.query(
            f"SELECT id, {LINE_COLUMNS} FROM manifest_lines l WHERE source = 'lodged'"
            " AND type = 'IM' AND arrival <= ? AND packages > COALESCE((SELECT SUM(u.packages)"
            " FROM manifest_usage u WHERE u.type = 'IM' AND u.td_number = l.td_number"
            " AND u.td_line = l.td_line), 0) ORDER BY arrival LIMIT ?",
            (cutoff, limit),
        )
        usage = self._usage("IM", [(r["td_number"], r["td_line"]) for r in rows])
        return [self._line_json(r, usage) for r in rows]

    def crosscheck(self, *, limit: int = 500) -> dict[str, Any]:
        """The carrier's import lines against the exporting customs' lines.

        `differ`: both report the line, differently; `not_reported`: the exporter reported
        it, its arrival passed, the carrier did not; `not_exported`: the carrier reports a
        line loaded in a member's country whose customs sent no such line.
        """
        differ = self.db.query(
            f"SELECT id, {LINE_COLUMNS} FROM manifest_lines WHERE source = 'lodged'"
            " AND partner_diff IS NOT NULL AND partner_diff != '[]' ORDER BY arrival LIMIT ?",
            (limit,),
        )
        now = utc(datetime.now(UTC))
        not_reported = self.db.query(
            f"SELECT id, {LINE_COLUMNS} FROM manifest_lines p WHERE source = 'partner'"
            " AND arrival <= ? AND NOT EXISTS (SELECT 1 FROM manifest_lines l WHERE"
            " l.source = 'lodged' AND l.type = 'IM' AND l.td_number = p.td_number AND"
            " l.td_line = p.td_line) ORDER BY arrival LIMIT ?",
            (now, limit),
        )
        partners = [m.id for m in self.settings.members if m.id != self.member_id]
        countries = [c for c in (self.country_of(p) for p in partners) if c]
        not_exported = []
        if countries:
            not_exported = self.db.query(
                f"SELECT id, {LINE_COLUMNS} FROM manifest_lines l WHERE source = 'lodged'"
                f" AND type = 'IM' AND substr(loading_port, 1, 2) IN ({','.join('?' * len(countries))})"
                " AND NOT EXISTS (SELECT 1 FROM manifest_lines p WHERE p.source = 'partner'"
                " AND p.td_number = l.td_number AND p.td_line = l.td_line)"
                " ORDER BY arrival LIMIT ?",
                (*countries, limit),
            )
        return {
            "differ": [self._line_json(r, {}) for r in differ],
            "not_reported": [self._line_json(r, {}) for r in not_reported],
            "not_exported": [self._line_json(r, {}) for r in not_exported],
        }
