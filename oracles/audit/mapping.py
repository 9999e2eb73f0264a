"""Which column of a user's file holds which field: the default layout, TOML files, flags.

Administrations name their columns differently.  The default mapping accepts the common
public layout as is (`Declaration ID, Date, Office ID, ... Fraud, Critical Fraud`); a TOML
file or `--map field=Column` flags rename any field:

    [columns]
    importer = "IMPORTER_CODE"
    label = "AUDIT_RESULT"
    courier = ""              # no such column in my files

    [options]
    date_format = "%d/%m/%Y"  # when dates are not ISO (YYYY-MM-DD)
    label_positive = ["Y", "FRAUD"]
    on_bad_rows = "refuse"    # or "drop": skip rows with bad numbers, dates or masses

A field named explicitly must exist in the file (else `unknown_columns`); a field left at
its default name is optional unless the job needs it (`missing_column`).
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from oracles.audit.errors import AuditError

# field -> default column name (the public layout) ; "revenue" is not in that layout
DEFAULT_COLUMNS: dict[str, str] = {
    "declaration_id": "Declaration ID",
    "date": "Date",
    "office": "Office ID",
    "process_type": "Process Type",
    "import_type": "Import Type",
    "import_use": "Import Use",
    "payment_type": "Payment Type",
    "transport_mode": "Mode of Transport",
    "declarant": "Declarant ID",
    "importer": "Importer ID",
    "seller": "Seller ID",
    "courier": "Courier ID",
    "hs_code": "HS6 Code",
    "departure_country": "Country of Departure",
    "origin_country": "Country of Origin",
    "tax_rate": "Tax Rate",
    "tax_type": "Tax Type",
    "origin_indicator": "Country of Origin Indicator",
    "net_mass": "Net Mass",
    "price": "Item Price",
    "label": "Fraud",
    "critical": "Critical Fraud",
    "revenue": "Revenue",
}
REQUIRED = ("declaration_id", "date", "importer", "hs_code", "net_mass", "price")
ID_FIELDS = ("importer", "declarant", "seller", "courier")
CATEGORY_FIELDS = (
    "office",
    "process_type",
    "import_type",
    "import_use",
    "payment_type",
    "transport_mode",
    "departure_country",
    "origin_country",
    "tax_type",
    "origin_indicator",
)
OUTCOME_FIELDS = ("label", "critical", "revenue")
DEFAULT_POSITIVE = ("1", "1.0", "true", "yes", "y", "fraud", "t")
DEFAULT_NEGATIVE = ("0", "0.0", "false", "no", "n", "clean", "f", "")


@dataclass(frozen=True)
class ColumnMapping:
    """field -> column name ("" = the file has no such column) plus parsing options."""

    columns: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_COLUMNS))
    explicit: frozenset[str] = frozenset()
    date_format: str | None = None
    label_positive: tuple[str, ...] = DEFAULT_POSITIVE
    on_bad_rows: str = "refuse"

    def column(self, name: str) -> str:
        return self.columns.get(name, "")

    def to_json(self) -> dict[str, Any]:
        return {
            "columns": dict(self.columns),
            "explicit": sorted(self.explicit),
            "date_format": self.date_format,
            "label_positive": list(self.label_positive),
            "on_bad_rows": self.on_bad_rows,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ColumnMapping:
        return cls(
            columns=dict(data["columns"]),
            explicit=frozenset(data.get("explicit", ())),
            date_format=data.get("date_format"),
            label_positive=tuple(data.get("label_positive", DEFAULT_POSITIVE)),
            on_bad_rows=data.get("on_bad_rows", "refuse"),
        )

    def with_overrides(self, columns: Mapping[str, str], **options: Any) -> ColumnMapping:
        _check_fields(columns, "mapping")
        new = dict(self.columns) | {k: str(v) for k, v in columns.items()}
        opts = {k: v for k, v in options.items() if v is not None}
        if "on_bad_rows" in opts and opts["on_bad_rows"] not in ("refuse", "drop"):
            raise AuditError(
                "bad_mapping", f"on_bad_rows is 'refuse' or 'drop', got {opts['on_bad_rows']!r}"
            )
        if "label_positive" in opts:
            opts["label_positive"] = tuple(str(v).strip().lower() for v in opts["label_positive"])
        return ColumnMapping(
            columns=new,
            explicit=self.explicit | set(columns),
            date_format=opts.get("date_format", self.date_format),
            label_positive=opts.get("label_positive", self.label_positive),
            on_bad_rows=opts.get("on_bad_rows", self.on_bad_rows),
        )


def _check_fields(columns: Mapping[str, Any], where: str) -> None:
    unknown = sorted(set(columns) - set(DEFAULT_COLUMNS))
    if unknown:
        raise AuditError(
            "bad_mapping",
            f"{where} names unknown fields {', '.join(unknown)}; "
            f"fields are {', '.join(DEFAULT_COLUMNS)}",
        )
    for k, v in columns.items():
        if not isinstance(v, str):
            raise AuditError(
                "bad_mapping", f"{where}: field {k} must map to a column name (a string), got {v!r}"
            )


def load_mapping(path: Path | None = None, flags: Iterable[str] = ()) -> ColumnMapping:
    """The default mapping, changed by a TOML file and then by `field=Column` flags."""
    mapping = ColumnMapping()
    if path is not None:
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise AuditError("bad_mapping", f"mapping file {path} does not exist") from exc
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise AuditError(
                "bad_mapping", f"mapping file {path} is not valid TOML: {exc}"
            ) from exc
        extra = sorted(set(data) - {"columns", "options"})
        if extra:
            raise AuditError(
                "bad_mapping",
                f"mapping file {path} has unknown sections "
                f"{', '.join(extra)}; use [columns] and [options]",
            )
        options = data.get("options", {})
        unknown = sorted(set(options) - {"date_format", "label_positive", "on_bad_rows"})
        if unknown:
            raise AuditError(
                "bad_mapping", f"mapping file {path}: unknown options {', '.join(unknown)}"
            )
        mapping = mapping.with_overrides(data.get("columns", {}), **options)
    pairs = {}
    for flag in flags:
        name, sep, column = flag.partition("=")
        if not sep or not name.strip():
            raise AuditError("bad_mapping", f"--map takes field=Column, got {flag!r}")
        pairs[name.strip()] = column.strip()
    return mapping.with_overrides(pairs) if pairs else mapping


MAPPING_TEMPLATE = "\n".join(
    [
        "# Smart Customs audit column mapping: field = \"column in your file\" ('' = none)",
        "[columns]",
    ]
    + [f'{k} = "{v}"' for k, v in DEFAULT_COLUMNS.items()]
    + [
        "",
        "[options]",
        '# date_format = "%d/%m/%Y"',
        '# label_positive = ["Y", "FRAUD"]',
        '# on_bad_rows = "refuse"   # or "drop"',
        "",
    ]
)
