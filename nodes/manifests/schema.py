"""The tables of the manifest service, how lines are stored and read back, its errors."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from offchain.errors import OffchainError
from offchain.manifests import Manifest, ManifestLine

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
    # Lines are looked up by transport document whatever their source (matching, partners).
    "CREATE INDEX manifest_lines_td ON manifest_lines (td_number, td_line)",
]

LINE_COLUMNS = (
    "source, sender, manifest_id, type, seq, td_type, td_number, td_line, consignor_name,"
    " consignor_country, consignee_name, consignee_country, consignee_id, consignee_scheme,"
    " description, hs_code, packages, package_type, gross_mass_kg, containers, loading_port,"
    " arrival, late, flags, lane, partner_diff"
)


class ManifestError(OffchainError):
    """A manifest request that cannot be served: codes and statuses below (422 otherwise)."""

    code: str = "manifest_error"


@dataclass(frozen=True)
class Head:
    """What judging a line needs of its manifest."""

    manifest_id: str
    carrier_id: str
    loading_port: str
    arrival: datetime

    @classmethod
    def of(cls, m: Manifest) -> Head:
        return cls(m.manifest_id, m.carrier.id, m.loading_port, m.arrival)


def utc(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="seconds")


def lane_of(flags: list[dict[str, Any]]) -> str:
    lanes = {f["channel"] for f in flags}
    return "C3" if "C3" in lanes else "C2" if "C2" in lanes else "C1"


def line_record(line: ManifestLine) -> dict[str, Any]:
    return {
        "packages": line.packages,
        "gross_mass_kg": str(line.gross_mass_kg),
        "hs_code": line.hs_code,
        "consignee_name": line.consignee.name,
        "containers": [{"number": c.number, "seals": list(c.seals)} for c in line.containers],
    }


def row_record(r: Any) -> dict[str, Any]:
    return {
        "packages": r["packages"],
        "gross_mass_kg": r["gross_mass_kg"],
        "hs_code": r["hs_code"],
        "consignee_name": r["consignee_name"],
        "containers": json.loads(r["containers"]),
    }
