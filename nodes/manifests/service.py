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
import threading
from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import Decimal
from functools import cached_property
from typing import Any

from chain.context import Chain
from nodes.documents.service import DocumentService, seal_documents
from nodes.manifests.partners import PartnerManifests
from nodes.manifests.reports import ManifestReports
from nodes.manifests.schema import (
    LINE_COLUMNS,
    MIGRATIONS,
    Head,
    ManifestError,
    lane_of,
    line_record,
    utc,
)
from nodes.records import RecordService
from offchain.db import Database
from offchain.declarations import COUNTRY_CODES, Declaration
from offchain.manifests import (
    LoadedManifest,
    Manifest,
    ManifestLine,
    check_arrival,
    compare_lines,
    is_late,
    load_manifest,
)
from offchain.outbox import utc_now
from offchain.settings import Settings
from offchain.xmlsafe import XmlLimits
from oracles.clearance.selectivity import RiskInput, RiskItem, Selectivity, load_rules
from oracles.instances import SEED_NAME

log = logging.getLogger(__name__)


class ManifestService(PartnerManifests, ManifestReports):
    """Lodging and judging manifests, and matching declarations against their lines;
    partners' manifests (partners.py) and reading (reports.py) are mixed in."""

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
        self.limits = XmlLimits.from_settings(settings.documents)
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
                    f"INSERT INTO manifest_lines ({LINE_COLUMNS}) VALUES ({','.join('?' * 26)})",
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

    def _lines_of(self, keys: Iterable[tuple[str, int]], where: str, args: tuple = ()) -> list:
        """Stored lines with these (transport document, line) keys and the extra condition."""
        wanted = set(keys)
        numbers = sorted({k[0] for k in wanted})
        out = []
        for i in range(0, len(numbers), 500):
            part = numbers[i : i + 500]
            out += [
                r
                for r in self.db.query(
                    f"SELECT id, {LINE_COLUMNS} FROM manifest_lines WHERE td_number IN"
                    f" ({','.join('?' * len(part))}) AND {where}",
                    (*part, *args),
                )
                if (r["td_number"], r["td_line"]) in wanted
            ]
        return out

    def _check_lines_free(self, m: Manifest) -> None:
        taken = self._lines_of(
            [line.key for line in m.lines], "source = 'lodged' AND type = ?", (m.type,)
        )
        if taken:
            r = taken[0]
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
            utc(m.departure) if m.departure else None, utc(m.arrival), utc(now), user,
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
        record = line_record(line)
        flags, diff = self._judge(Head.of(m), line, late, partner)
        td = line.transport_document
        return (
            source, sender, m.manifest_id, m.type, seq, td.type, td.number, td.line,
            line.consignor.name, line.consignor.country, line.consignee.name,
            line.consignee.country, line.consignee.id, line.consignee.id_scheme,
            line.description, line.hs_code, line.packages, line.package_type,
            str(line.gross_mass_kg), json.dumps(record["containers"]), m.loading_port,
            utc(m.arrival), int(late), json.dumps(flags), lane_of(flags),
            None if diff is None else json.dumps(diff),
        )  # fmt: skip

    def _judge(
        self,
        head: Head,
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
                exported, line_record(line), self.settings.manifests.weight_tolerance_pct
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
                    f"SELECT {LINE_COLUMNS} FROM manifest_lines WHERE source = 'lodged'"
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
