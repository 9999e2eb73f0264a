"""Post-clearance audit selection: rank declarations and importers by risk of fraud.

Users bring their declaration history (CSV or Parquet, columns mapped by `mapping`); the
oracle learns from past audit outcomes with leak-free features (`features`), a calibrated
gradient-boosting model (`model`) scored through onnxruntime when the export is exact, and
explains every score in plain words (`explain`).  `service` holds what the CLI and the API
do; `AuditOracle` (`oracle`) attests selections (kind AUDIT) and scores single declarations
for the clearance oracle.  `synth` makes synthetic histories with realistic fraud patterns.
"""

from oracles.audit.errors import AuditError
from oracles.audit.mapping import ColumnMapping, load_mapping
from oracles.audit.model import FORMAT_VERSION, AuditModel, TrainConfig

__all__ = [
    "FORMAT_VERSION",
    "AuditError",
    "AuditModel",
    "ColumnMapping",
    "TrainConfig",
    "load_mapping",
]
