"""The manifest service of a node (advance cargo information); knows nothing of HTTP.

Lodging (`lodge`): a carrier or forwarder sends a cargo manifest (XML or JSON).  It is
validated (offchain.manifests), judged for plausibility (arrival window; lateness flagged,
not refused), checked against what the node already holds (the same manifest again is a
duplicate; another manifest listing the same transport document line is refused), queued for
anchoring, and each line judged by the selectivity rules of scope `manifest` before arrival.

- An arrival manifest (IM) is a record of this node: anchored through the records outbox
  (`nodes.records`), receipt as for trade documents.
- A departure manifest (EX) whose port of discharge is in another member's country is sent
  to that member's node through the trade-document pipeline (sealed for it, anchored,
  delivered with an EIP-712 envelope, verified there).  The importing node reads received
  manifests in (`sync_partner`): the importer sees the cargo before the carrier reports it
  there, and checks the carrier's import lines against the exporter's (`compare_lines`); a
  difference is a pre-arrival flag (`partner_mismatch`).  The exporting node can ask the
  importing one how its lines were reported (`reconciliation`, signed node to node).

Matching (`findings`, called by clearance before the oracles): for each transport document
line a declaration cites, what the node holds — the manifest line, what earlier declarations
took of it, its pre-arrival flags — and the declared share is recorded against the line in
the same transaction, so two declarations cannot both take the last packages.  The oracles
decide what the findings mean (offchain.manifests.match_citations).
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import cached_property
from typing import Any

import httpx

from chain.context import Chain
from nodes.documents.service import DocumentService, seal_documents
from nodes.jsonguard import json_depth
from nodes.records import RecordService
from offchain import crypto
from offchain.db import Database
from offchain.declarations import COUNTRY_CODES, Declaration
from offchain.errors import CodedError
from offchain.keystore import role_account_name
from offchain.manifests import (
    LoadedManifest,
    Manifest,
    ManifestLine,
    check_arrival,
    compare_lines,
    is_late,
    load_manifest,
    load_manifest_xml,
)
from offchain.outbox import utc_now
from offchain.settings import Settings
from offchain.xmlsafe import XmlLimits
from oracles.clearance.selectivity import RiskInput, RiskItem, Selectivity, load_rules
from oracles.instances import SEED_NAME

log = logging.getLogger(__name__)

MIGRATIONS = [
    """
    CREATE TABLE manifests (
        manifest_id TEXT NOT NULL,
        source TEXT NOT NULL CHECK (source IN ('lodged', 'partner')),
        sender TEXT NOT NULL,
        type TEXT NOT NULL CHECK (type IN ('IM', 'EX')),
        doc_hash TEXT NOT NULL,
        form TEXT NOT NULL,
        pipeline TEXT NOT NULL CHECK (pipeline IN ('records', 'documents', 'received')),
        forwarded_to TEXT,
        carrier_id TEXT NOT NULL,
        carrier_name TEXT NOT NULL,
        mode TEXT NOT NULL,
        means_id TEXT NOT NULL,
        journey TEXT NOT NULL,
        loading_port TEXT NOT NULL,
        discharge_port TEXT NOT NULL,
        departure TEXT,
        arrival TEXT NOT NULL,
        lodged_at TEXT NOT NULL,
        lodged_by TEXT NOT NULL,
        late INTEGER NOT NULL,
        line_count INTEGER NOT NULL,
        packages INTEGER NOT NULL,
        gross_mass_kg TEXT NOT NULL,
        PRIMARY KEY (source, sender, manifest_id)
    );
    CREATE INDEX manifests_hash ON manifests (doc_hash);
    CREATE INDEX manifests_lodged ON manifests (lodged_at);
    CREATE TABLE manifest_lines (
        id INTEGER PRIMARY KEY,
        source TEXT NOT NULL,
        sender TEXT NOT NULL,
        manifest_id TEXT NOT NULL,
        type TEXT NOT NULL,
        seq INTEGER NOT NULL,
        td_type TEXT NOT NULL,
        td_number TEXT NOT NULL,
        td_line INTEGER NOT NULL,
        consignor_name TEXT NOT NULL,
        consignor_country TEXT NOT NULL,
        consignee_name TEXT NOT NULL,
        consignee_country TEXT NOT NULL,
        consignee_id TEXT,
        consignee_scheme TEXT,
        description TEXT NOT NULL,
        hs_code TEXT,
        packages INTEGER NOT NULL,
        package_type TEXT NOT NULL,
        gross_mass_kg TEXT NOT NULL,
        containers TEXT NOT NULL,
        loading_port TEXT NOT NULL,
        arrival TEXT NOT NULL,
        late INTEGER NOT NULL,
        flags TEXT NOT NULL,
        lane TEXT NOT NULL,
        partner_diff TEXT,
        FOREIGN KEY (source, sender, manifest_id) REFERENCES manifests (source, sender, manifest_id)
    );
    CREATE UNIQUE INDEX manifest_lines_key ON manifest_lines (source, sender, type, td_number, td_line);
    CREATE INDEX manifest_lines_manifest ON manifest_lines (source, sender, manifest_id, seq);
    CREATE INDEX manifest_lines_arrival ON manifest_lines (source, arrival);
    CREATE TABLE manifest_usage (
        declaration_id TEXT NOT NULL,
        type TEXT NOT NULL,
        td_number TEXT NOT NULL,
        td_line INTEGER NOT NULL,
        packages INTEGER NOT NULL,
        gross_mass_kg TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('pending', 'decided')),
        at TEXT NOT NULL,
        PRIMARY KEY (declaration_id, td_number, td_line)
    );
    CREATE INDEX manifest_usage_line ON manifest_usage (type, td_number, td_line)
    """,
]

_LINE_COLUMNS = (
    "source, sender, manifest_id, type, seq, td_type, td_number, td_line, consignor_name,"
    " consignor_country, consignee_name, consignee_country, consignee_id, consignee_scheme,"
    " description, hs_code, packages, package_type, gross_mass_kg, containers, loading_port,"
    " arrival, late, flags, lane, partner_diff"
)


class ManifestError(CodedError):
    """A manifest request that cannot be served: codes and statuses below (422 otherwise)."""

    HTTP_STATUS = {
        "unknown_manifest": 404,
        "manifest_exists": 409,
        "transport_document_exists": 409,
        "not_forwarded": 409,
        "partner_unavailable": 502,
        "not_received_yet": 409,
        "invalid_request": 400,
    }
    DEFAULT_STATUS = 422


@dataclass(frozen=True)
class _Head:
    """What judging a line needs of its manifest."""

    manifest_id: str
    carrier_id: str
    loading_port: str
    arrival: datetime

    @classmethod
    def of(cls, m: Manifest) -> _Head:
        return cls(m.manifest_id, m.carrier.id, m.loading_port, m.arrival)


def _utc(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="seconds")


def _lane(flags: list[dict[str, Any]]) -> str:
    lanes = {f["channel"] for f in flags}
    return "C3" if "C3" in lanes else "C2" if "C2" in lanes else "C1"


class ManifestService:
    def __init__(
        self,
        settings: Settings,
        member_id: str,
        chain: Chain,
        db: Database,
        documents: DocumentService,
        records: RecordService,
    ) -> None:
        self.settings = settings
        self.member_id = member_id
        self.chain = chain
        self.db = db
        self.documents = documents
        self.records = records
        self.limits = XmlLimits(settings.documents.max_xml_bytes, settings.documents.max_xml_depth)
        self._lock = threading.Lock()
        db.migrate("nodes.manifests", MIGRATIONS)

    # --- who is where ------------------------------------------------------------------

    def country_of(self, member_id: str) -> str | None:
        """The member's ISO country: `manifests.member_countries`, else its id if it is one."""
        mapped = self.settings.manifests.member_countries.get(member_id)
        if mapped:
            return mapped
        return member_id if member_id in COUNTRY_CODES else None

    def member_in(self, country: str) -> str | None:
        for m in self.settings.members:
            if self.country_of(m.id) == country:
                return m.id
        return None

    @cached_property
    def selectivity(self) -> Selectivity:
        c = self.settings.clearance
        return Selectivity(load_rules(c.rules_file), self.chain.keys.secret(SEED_NAME))

    # --- lodging -----------------------------------------------------------------------

    def lodge(self, body: bytes, content_type: str | None, user: str) -> dict[str, Any]:
        """Validate, anchor and risk-assess a manifest; see the module docstring."""
        loaded = load_manifest(body, content_type, limits=self.limits)
        m = loaded.manifest
        now = datetime.now(UTC)
        s = self.settings.manifests
        check_arrival(
            m, now=now, ahead_days=s.max_arrival_ahead_days, age_days=s.max_arrival_age_days
        )
        own = self.country_of(self.member_id)
        recipient = None
        if m.type == "IM" and own and m.discharge_country != own:
            raise ManifestError(
                "wrong_customs",
                f"an arrival manifest is lodged where the goods are discharged: "
                f"{m.discharge_port} is not in {own} ({self.member_id}'s country)",
            )
        if m.type == "EX":
            if own and m.loading_country != own:
                raise ManifestError(
                    "wrong_customs",
                    f"a departure manifest is lodged where the goods are loaded: "
                    f"{m.loading_port} is not in {own} ({self.member_id}'s country)",
                )
            recipient = self.member_in(m.discharge_country)
        with self._lock:  # one lodging at a time: the duplicate and line checks hold
            existing = self._manifest_row("lodged", "", m.manifest_id)
            if existing is not None:
                if existing["doc_hash"] != loaded.doc_hash:
                    raise ManifestError(
                        "manifest_exists",
                        f"manifest {m.manifest_id} was already lodged with other content "
                        f"({existing['doc_hash']}); lodge an amendment under a new manifest id",
                    )
                return {**self.summary(existing), "duplicate": True}
            self._check_lines_free(m)
            pipeline = self._queue(loaded, recipient, user)
            late = is_late(m, now, s.late_lead_h)
            partner = self._partner_lines(m) if m.type == "IM" else {}
            rows = [self._line_row(m, i, line, late, partner) for i, line in enumerate(m.lines, 1)]
            with self.db.transaction() as tx:
                tx.execute(
                    "INSERT INTO manifests (manifest_id, source, sender, type, doc_hash, form,"
                    " pipeline, forwarded_to, carrier_id, carrier_name, mode, means_id, journey,"
                    " loading_port, discharge_port, departure, arrival, lodged_at, lodged_by,"
                    " late, line_count, packages, gross_mass_kg)"
                    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    self._manifest_values(m, "lodged", "", loaded, pipeline, recipient,
                                          now, user, late),
                )  # fmt: skip
                tx.executemany(
                    f"INSERT INTO manifest_lines ({_LINE_COLUMNS}) VALUES ({','.join('?' * 26)})",
                    rows,
                )
        return {**self.summary(self._manifest_row("lodged", "", m.manifest_id)), "duplicate": False}

    def _queue(self, loaded: LoadedManifest, recipient: str | None, user: str) -> str:
        """Anchor the manifest: a record here, or a document for the importing member."""
        if recipient is None or recipient == self.member_id:
            self.records.keep([loaded.prepared], user)
            return "records"
        key = self.documents.recipient_key(recipient)
        docs = [loaded.prepared]
        if self.documents.outbox.known([loaded.doc_hash]):
            return "documents"
        self.documents.accept(
            docs, seal_documents(docs, key, self.documents.rest_key), recipient, user
        )
        return "documents"

    def _check_lines_free(self, m: Manifest) -> None:
        keys = [line.key for line in m.lines]
        for i in range(0, len(keys), 400):
            part = keys[i : i + 400]
            where = " OR ".join("(td_number = ? AND td_line = ?)" for _ in part)
            args = [v for k in part for v in k]
            rows = self.db.query(
                "SELECT td_number, td_line, manifest_id FROM manifest_lines WHERE source = 'lodged'"
                f" AND type = ? AND ({where}) LIMIT 1",
                (m.type, *args),
            )
            if rows:
                r = rows[0]
                raise ManifestError(
                    "transport_document_exists",
                    f"transport document {r['td_number']} line {r['td_line']} is already on "
                    f"manifest {r['manifest_id']}; a line is reported once (amend that manifest "
                    "under a new id to change it)",
                )

    @staticmethod
    def _manifest_values(
        m: Manifest, source: str, sender: str, loaded_or_hash: Any, pipeline: str,
        forwarded_to: str | None, now: datetime, user: str, late: bool,
    ) -> tuple:  # fmt: skip
        doc_hash = loaded_or_hash if isinstance(loaded_or_hash, str) else loaded_or_hash.doc_hash
        form = "xml" if isinstance(loaded_or_hash, str) else loaded_or_hash.form
        return (
            m.manifest_id, source, sender, m.type, doc_hash, form, pipeline, forwarded_to,
            m.carrier.id, m.carrier.name, m.transport.mode, m.transport.means_id,
            m.transport.journey, m.loading_port, m.discharge_port,
            _utc(m.departure) if m.departure else None, _utc(m.arrival), _utc(now), user,
            int(late), len(m.lines), m.totals.packages, str(m.totals.gross_mass_kg),
        )  # fmt: skip

    def _line_row(
        self,
        m: Manifest,
        seq: int,
        line: ManifestLine,
        late: bool,
        partner: dict[tuple[str, int], dict[str, Any]],
        *,
        source: str = "lodged",
        sender: str = "",
    ) -> tuple:
        record = _line_record(line)
        flags, diff = self._judge(_Head.of(m), line, late, partner)
        td = line.transport_document
        return (
            source, sender, m.manifest_id, m.type, seq, td.type, td.number, td.line,
            line.consignor.name, line.consignor.country, line.consignee.name,
            line.consignee.country, line.consignee.id, line.consignee.id_scheme,
            line.description, line.hs_code, line.packages, line.package_type,
            str(line.gross_mass_kg), json.dumps(record["containers"]), m.loading_port,
            _utc(m.arrival), int(late), json.dumps(flags), _lane(flags),
            None if diff is None else json.dumps(diff),
        )  # fmt: skip

    def _judge(
        self,
        head: _Head,
        line: ManifestLine,
        late: bool,
        partner: dict[tuple[str, int], dict[str, Any]],
    ) -> tuple[list[dict[str, Any]], list[str] | None]:
        """Pre-arrival risk of one line (the selectivity rules of scope `manifest`), with the
        exporting customs' version of it when there is one: (flags, differences)."""
        diff = None
        exported = partner.get(line.key)
        if exported is not None:
            diff = compare_lines(
                exported, _line_record(line), self.settings.manifests.weight_tolerance_pct
            )
        risk = RiskInput(
            declaration_id=f"{head.manifest_id}/{line.key[0]}/{line.key[1]}",
            importer=line.consignee.id or "",
            declarant="",
            origin=line.consignor.country,
            departure=head.loading_port[:2],
            items=(RiskItem(hs=line.hs_code or "", value=0.0, quantity=float(line.packages)),),
            date=head.arrival.astimezone(UTC).date(),
            scope="manifest",
            carrier=head.carrier_id,
            loading_port=head.loading_port,
            description=line.description,
            packages=float(line.packages),
            gross_mass_kg=float(line.gross_mass_kg),
            manifest_late=late,
            partner_mismatch=None if diff is None else bool(diff),
        )
        flags = [r.to_dict() for r in self.selectivity.select(risk).reasons]
        if diff:
            for f in flags:
                if f["rule"] == "MF-PARTNER-MISMATCH":
                    f["text"] += ": " + "; ".join(diff)
        return flags, diff

    # --- partners' export manifests ----------------------------------------------------

    def _partner_lines(self, m: Manifest) -> dict[tuple[str, int], dict[str, Any]]:
        """The exporting customs' lines for the same transport documents (if it sent them)."""
        return self._partner_for([line.key for line in m.lines])

    def _partner_for(self, keys: list[tuple[str, int]]) -> dict[tuple[str, int], dict[str, Any]]:
        out: dict[tuple[str, int], dict[str, Any]] = {}
        for i in range(0, len(keys), 400):
            part = keys[i : i + 400]
            where = " OR ".join("(td_number = ? AND td_line = ?)" for _ in part)
            for r in self.db.query(
                f"SELECT {_LINE_COLUMNS} FROM manifest_lines WHERE source = 'partner' AND ({where})",
                [v for k in part for v in k],
            ):
                out[(r["td_number"], r["td_line"])] = _row_record(r)
        return out

    def sync_partner(self) -> int:
        """Read in export manifests partners delivered (verified valid) not read in yet."""
        # The documents service's inbox (same database) holds what partners delivered.
        rows = self.db.query(
            "SELECT doc_hash, sender FROM in_documents WHERE doc_type = 'cargo-manifest'"
            " AND valid = 1 AND NOT EXISTS (SELECT 1 FROM manifests m WHERE m.source = 'partner'"
            " AND m.sender = in_documents.sender AND m.doc_hash = in_documents.doc_hash)"
            " ORDER BY received_at LIMIT 50"
        )
        done = 0
        for r in rows:
            try:
                xml = self.documents.open_received(r["doc_hash"])
                loaded = load_manifest_xml(xml, self.limits)
            except CodedError as exc:
                log.warning("received manifest %s from %s unreadable: %s", r["doc_hash"],
                            r["sender"], exc)  # fmt: skip
                continue
            self.receive_partner(loaded.manifest, r["doc_hash"], r["sender"])
            done += 1
        return done

    def receive_partner(self, m: Manifest, doc_hash: str, sender: str) -> None:
        """Keep a partner's export manifest; re-judge the carrier's lines it concerns."""
        now = datetime.now(UTC)
        rows = [
            self._line_row(m, i, line, False, {}, source="partner", sender=sender)
            for i, line in enumerate(m.lines, 1)
        ]
        with self._lock, self.db.transaction() as tx:
            try:
                tx.execute(
                    "INSERT INTO manifests (manifest_id, source, sender, type, doc_hash, form,"
                    " pipeline, forwarded_to, carrier_id, carrier_name, mode, means_id, journey,"
                    " loading_port, discharge_port, departure, arrival, lodged_at, lodged_by,"
                    " late, line_count, packages, gross_mass_kg)"
                    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    self._manifest_values(m, "partner", sender, doc_hash, "received",
                                          self.member_id, now, sender, False),
                )  # fmt: skip
            except sqlite3.IntegrityError:
                # the same manifest id again from this partner (an amendment under the same id
                # is not accepted there either): keep the first
                log.warning("partner %s sent manifest %s twice", sender, m.manifest_id)
                return
            tx.executemany(
                f"INSERT OR IGNORE INTO manifest_lines ({_LINE_COLUMNS}) VALUES "
                f"({','.join('?' * 26)})",
                rows,
            )
        self._rejudge_lodged({line.key for line in m.lines})

    def _rejudge_lodged(self, keys: set[tuple[str, int]]) -> None:
        """The carrier's import lines for these keys, judged again now that the partner's
        version is known (a difference raises MF-PARTNER-MISMATCH)."""
        for key in keys:
            rows = self.db.query(
                "SELECT id, manifest_id FROM manifest_lines WHERE source = 'lodged' AND type = 'IM'"
                " AND td_number = ? AND td_line = ?",
                key,
            )
            if not rows:
                continue
            head, line, late = self._model_line(rows[0]["id"])
            flags, diff = self._judge(head, line, late, self._partner_for([line.key]))
            self.db.execute(
                "UPDATE manifest_lines SET flags = ?, lane = ?, partner_diff = ? WHERE id = ?",
                (json.dumps(flags), _lane(flags), None if diff is None else json.dumps(diff),
                 rows[0]["id"]),
            )  # fmt: skip

    def _model_line(self, line_id: int) -> tuple[_Head, ManifestLine, bool]:
        """A stored line as its manifest's head and the line model (to judge it again)."""
        r = self.db.query(f"SELECT {_LINE_COLUMNS} FROM manifest_lines WHERE id = ?", (line_id,))[0]
        head = self._manifest_row(r["source"], r["sender"], r["manifest_id"])
        doc = {
            "transport_document": {"type": r["td_type"], "number": r["td_number"], "line": r["td_line"]},
            "consignor": {"name": r["consignor_name"], "country": r["consignor_country"]},
            "consignee": {
                "name": r["consignee_name"], "country": r["consignee_country"],
                **({"id": r["consignee_id"], "id_scheme": r["consignee_scheme"]}
                   if r["consignee_id"] else {}),
            },
            "description": r["description"], "packages": r["packages"],
            "package_type": r["package_type"], "gross_mass_kg": r["gross_mass_kg"],
            "containers": json.loads(r["containers"]),
            **({"hs_code": r["hs_code"]} if r["hs_code"] else {}),
        }  # fmt: skip
        line = ManifestLine.model_validate(doc)
        stored = _Head(
            head["manifest_id"],
            head["carrier_id"],
            head["loading_port"],
            datetime.fromisoformat(head["arrival"]),
        )
        return stored, line, bool(head["late"])

    # --- matching declarations -----------------------------------------------------------

    def findings(self, decl: Declaration) -> dict[str, Any] | None:
        """What the node holds for each cited line; records the declared share (pending)."""
        refs = decl.transport_documents
        if not refs:
            return None
        s = self.settings.manifests
        citations = []
        now = utc_now()
        with self.db.transaction() as tx:
            for ref in refs:
                row = tx.execute(
                    f"SELECT {_LINE_COLUMNS} FROM manifest_lines WHERE source = 'lodged'"
                    " AND type = ? AND td_number = ? AND td_line = ?",
                    (decl.type, ref.number, ref.line),
                ).fetchone()
                if row is None:
                    citations.append({"number": ref.number, "line": ref.line, "found": False})
                    continue
                before_p, before_m = 0, Decimal(0)
                for u in tx.execute(
                    "SELECT packages, gross_mass_kg FROM manifest_usage WHERE type = ?"
                    " AND td_number = ? AND td_line = ? AND declaration_id != ?",
                    (decl.type, ref.number, ref.line, decl.declaration_id),
                ):
                    before_p += u["packages"]
                    before_m += Decimal(u["gross_mass_kg"])
                head = tx.execute(
                    "SELECT doc_hash, late FROM manifests WHERE source = 'lodged' AND sender = ''"
                    " AND manifest_id = ?",
                    (row["manifest_id"],),
                ).fetchone()
                citations.append(
                    {
                        "number": ref.number,
                        "line": ref.line,
                        "found": True,
                        "manifest": {
                            "manifest_id": row["manifest_id"],
                            "doc_hash": head["doc_hash"],
                            "late": bool(head["late"]),
                        },
                        "manifest_line": {
                            "packages": row["packages"],
                            "gross_mass_kg": row["gross_mass_kg"],
                            "hs_code": row["hs_code"],
                        },
                        "declared_before": {
                            "packages": before_p,
                            "gross_mass_kg": format(before_m, "f"),
                        },
                        "pre_arrival": json.loads(row["flags"]),
                    }
                )
                tx.execute(
                    "INSERT OR REPLACE INTO manifest_usage (declaration_id, type, td_number,"
                    " td_line, packages, gross_mass_kg, state, at) VALUES (?,?,?,?,?,?,'pending',?)",
                    (decl.declaration_id, decl.type, ref.number, ref.line, ref.packages,
                     str(ref.gross_mass_kg), now),
                )  # fmt: skip
        return {
            "citations": citations,
            "tolerances": {
                "packages": s.packages_tolerance,
                "weight_pct": str(s.weight_tolerance_pct),
            },
        }

    def decided(self, declaration_id: str) -> None:
        self.db.execute(
            "UPDATE manifest_usage SET state = 'decided' WHERE declaration_id = ?",
            (declaration_id,),
        )

    def abandon(self, declaration_id: str) -> None:
        """A declaration that was not decided gives its pending share back."""
        self.db.execute(
            "DELETE FROM manifest_usage WHERE declaration_id = ? AND state = 'pending'",
            (declaration_id,),
        )

    def decision_manifest(self, declaration_id: str) -> dict[str, Any] | None:
        rows = self.db.query(
            "SELECT decision FROM declarations WHERE declaration_id = ?", (declaration_id,)
        )
        return json.loads(rows[0][0]).get("manifest") if rows else None

    # --- reading -------------------------------------------------------------------------

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
            f"SELECT id, {_LINE_COLUMNS} FROM manifest_lines WHERE source = ? AND sender = ?"
            " AND manifest_id = ? ORDER BY seq",
            (row["source"], row["sender"], row["manifest_id"]),
        )
        usage = self._usage(row["type"], [(r["td_number"], r["td_line"]) for r in lines])
        return {**self.summary(row), "lines_detail": [self._line_json(r, usage) for r in lines]}

    def _usage(self, type_: str, keys: Iterable[tuple[str, int]]) -> dict:
        out: dict[tuple[str, int], list[dict[str, Any]]] = {}
        keys = list(keys)
        for i in range(0, len(keys), 400):
            part = keys[i : i + 400]
            where = " OR ".join("(td_number = ? AND td_line = ?)" for _ in part)
            for u in self.db.query(
                "SELECT declaration_id, td_number, td_line, packages, gross_mass_kg, state, at"
                f" FROM manifest_usage WHERE type = ? AND ({where}) ORDER BY at",
                (type_, *[v for k in part for v in k]),
            ):
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
             limit: int = 100) -> list[dict[str, Any]]:  # fmt: skip
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
                    limit: int = 500) -> list[dict[str, Any]]:  # fmt: skip
        """Lines flagged C2/C3 (or `lane`) whose arrival is ahead or recent, soonest first:
        lodged by carriers here, or received from the exporting customs."""
        since = _utc(datetime.now(UTC) - timedelta(days=include_arrived_days))
        lanes = [lane] if lane else ["C2", "C3"]
        rows = self.db.query(
            f"SELECT id, {_LINE_COLUMNS} FROM manifest_lines WHERE arrival >= ?"
            f" AND lane IN ({','.join('?' * len(lanes))}) AND (type = 'IM' OR source = 'partner')"
            " ORDER BY arrival, manifest_id, seq LIMIT ?",
            (since, *lanes, limit),
        )
        usage = self._usage("IM", [(r["td_number"], r["td_line"]) for r in rows])
        return [self._line_json(r, usage) for r in rows]

    def undeclared(self, *, days: int | None = None, limit: int = 500) -> list[dict[str, Any]]:
        """Carrier-reported arrival lines not fully declared `days` after arrival."""
        days = self.settings.manifests.undeclared_after_days if days is None else days
        cutoff = _utc(datetime.now(UTC) - timedelta(days=days))
        rows = self.db.query(
            f"SELECT id, {_LINE_COLUMNS} FROM manifest_lines l WHERE source = 'lodged'"
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
            f"SELECT id, {_LINE_COLUMNS} FROM manifest_lines WHERE source = 'lodged'"
            " AND partner_diff IS NOT NULL AND partner_diff != '[]' ORDER BY arrival LIMIT ?",
            (limit,),
        )
        now = _utc(datetime.now(UTC))
        not_reported = self.db.query(
            f"SELECT id, {_LINE_COLUMNS} FROM manifest_lines p WHERE source = 'partner'"
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
                f"SELECT id, {_LINE_COLUMNS} FROM manifest_lines l WHERE source = 'lodged'"
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

    # --- node to node: how did the importing customs see our export lines? ---------------

    def reconciliation_for(self, body: bytes, headers: dict[str, str]) -> dict[str, Any]:
        """Answer a partner's signed question about an export manifest it sent us."""
        env = crypto.Envelope.from_headers(headers)
        crypto.verify_envelope(
            env,
            body,
            recipient=self.member_id,
            chain_id=self.chain.deployment.chain_id,
            is_member_account=self.documents._is_member_account,
            seen_nonce=lambda sender, nonce: not self.documents.inbox.claim_nonce(sender, nonce),
            max_skew_s=self.settings.documents.envelope_max_skew_s,
        )
        if json_depth(body) > 4:
            raise ManifestError("invalid_request", "the question is nested too deeply")
        try:
            doc_hash = str(json.loads(body)["doc_hash"]).lower()
        except (ValueError, KeyError, TypeError) as exc:
            raise ManifestError(
                "invalid_request", f"the question needs a doc_hash: {exc}"
            ) from None
        rows = self.db.query(
            "SELECT manifest_id FROM manifests WHERE source = 'partner' AND sender = ?"
            " AND doc_hash = ?",
            (env.sender, doc_hash),
        )
        if not rows:
            raise ManifestError(
                "unknown_manifest",
                f"no export manifest {doc_hash} from {env.sender} has been read in here (yet)",
            )
        mid = rows[0]["manifest_id"]
        lines = self.db.query(
            f"SELECT {_LINE_COLUMNS} FROM manifest_lines WHERE source = 'partner' AND sender = ?"
            " AND manifest_id = ? ORDER BY seq",
            (env.sender, mid),
        )
        out = []
        for p in lines:
            rep = self.db.query(
                f"SELECT {_LINE_COLUMNS} FROM manifest_lines WHERE source = 'lodged' AND type = 'IM'"
                " AND td_number = ? AND td_line = ?",
                (p["td_number"], p["td_line"]),
            )
            entry = {"transport_document": {"number": p["td_number"], "line": p["td_line"]}}
            if not rep:
                entry["status"] = "not_reported_yet"
            else:
                diff = compare_lines(
                    _row_record(p),
                    _row_record(rep[0]),
                    self.settings.manifests.weight_tolerance_pct,
                )
                entry.update(status="differs" if diff else "matches", differences=diff,
                             reported_in=rep[0]["manifest_id"])  # fmt: skip
            out.append(entry)
        return {"member": self.member_id, "manifest": mid, "doc_hash": doc_hash, "lines": out}

    def reconciliation(self, ref: str) -> dict[str, Any]:
        """Ask the importing member how it saw an export manifest this node forwarded."""
        row = self.find(ref)
        if row["source"] != "lodged" or not row["forwarded_to"]:
            raise ManifestError(
                "not_forwarded",
                f"manifest {row['manifest_id']} was not forwarded to a partner customs",
            )
        body = json.dumps({"doc_hash": row["doc_hash"]}).encode()
        env = crypto.sign_envelope(
            self.chain.keys.account(role_account_name(self.member_id, "ISSUER")),
            self.member_id,
            row["forwarded_to"],
            body,
            chain_id=self.chain.deployment.chain_id,
        )
        url = f"{self.settings.node_url(row['forwarded_to'])}/manifests/partner/reconciliation"
        try:
            resp = httpx.post(
                url,
                content=body,
                headers={**env.to_headers(), "Content-Type": "application/json"},
                timeout=15.0,
            )
        except httpx.HTTPError as exc:
            raise ManifestError(
                "partner_unavailable", f"{row['forwarded_to']}'s node does not answer: {exc}"
            ) from None
        try:
            data = resp.json()
        except ValueError:
            data = {"error": "partner_error", "detail": resp.text[:200]}
        if resp.status_code == 404:
            raise ManifestError(
                "not_received_yet",
                f"{row['forwarded_to']} has not read the manifest in yet: {data.get('detail')}",
            )
        if resp.status_code != 200:
            raise ManifestError(
                "partner_unavailable",
                f"{row['forwarded_to']} answered {resp.status_code}: {data.get('detail')}",
            )
        return data


def _line_record(line: ManifestLine) -> dict[str, Any]:
    return {
        "packages": line.packages,
        "gross_mass_kg": str(line.gross_mass_kg),
        "hs_code": line.hs_code,
        "consignee_name": line.consignee.name,
        "containers": [{"number": c.number, "seals": list(c.seals)} for c in line.containers],
    }


def _row_record(r: Any) -> dict[str, Any]:
    return {
        "packages": r["packages"],
        "gross_mass_kg": r["gross_mass_kg"],
        "hs_code": r["hs_code"],
        "consignee_name": r["consignee_name"],
        "containers": json.loads(r["containers"]),
    }


class ManifestClearanceHook:
    """Clearance hook: the cited lines' findings go to the oracles; shares are kept."""

    name = "manifest"

    def __init__(self, service: ManifestService) -> None:
        self.service = service

    def before(self, decl: Declaration) -> dict[str, Any] | None:
        return self.service.findings(decl)

    def abandon(self, decl: Declaration) -> None:
        self.service.abandon(decl.declaration_id)

    def after(self, decl: Declaration, decision: dict[str, Any]) -> dict[str, Any]:
        if not decl.transport_documents:
            return {}
        self.service.decided(decl.declaration_id)
        return {"manifest": self.service.decision_manifest(decl.declaration_id)}

    def changed(self, declaration_id: str) -> None:
        return None
