"""`smartcustoms xray retrain`: a new model version fine-tuned on officers' decisions.

Reads the confirmed / rejected classes of stored scans (`XrayService.labelled`), fine-tunes
the model now in service on them, mixed with fresh synthetic scans so it keeps what it
knew (`oracles.xray.train.finetune`), and writes `<home>/xray/models/<version>/` with the
ONNX file and a manifest (sha256, parent model, feedback count, synthetic check figures).
The shipped model is never touched; the new version runs only once activated.
Needs PyTorch (`pip install '.[train]'`).
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import numpy as np

from oracles.xray import metrics
from oracles.xray.config import activate, models_dir
from oracles.xray.errors import XrayError
from oracles.xray.image import load_image
from oracles.xray.model import XrayModel
from oracles.xray.preprocess import letterbox
from oracles.xray.service import XrayService

CHECK_SEED = 4_000_037  # synthetic scans the new version is measured on (never trained on)


def next_version(settings: Any, base: XrayModel) -> str:
    """`<base version without -ftN>-ft<N+1>`, N counted over the versions already written."""
    root = base.version.split("-ft")[0]
    taken = [
        int(m.group(1))
        for p in models_dir(settings).glob(f"{root}-ft*")
        if (m := re.fullmatch(re.escape(root) + r"-ft(\d+)", p.name))
    ]
    return f"{root}-ft{max(taken, default=0) + 1}"


def retrain(
    settings: Any,
    service: XrayService,
    *,
    steps: int = 150,
    replay: int = 256,
    check: int = 200,
    do_activate: bool = False,
    log=lambda m: None,
) -> dict[str, Any]:
    """Fine-tune on the stored feedback; the new version's record."""
    from oracles.xray import train  # needs torch: imported only here

    train.require_torch()
    base = service.model
    labelled = service.labelled()
    if not labelled:
        raise XrayError(
            "no_feedback",
            "no scan has an officer decision yet: confirm or reject "
            "alerts first (smartcustoms xray feedback)",
        )
    samples = []
    for data, y, known, _ in labelled:
        x, _ = letterbox(load_image(data, service.limits).image)
        samples.append((x, y, known))
    version = next_version(settings, base)
    folder = models_dir(settings) / version
    folder.mkdir(parents=True, exist_ok=False)
    onnx_file = folder / "xray.onnx"
    t0 = time.time()
    info = train.finetune(
        base.folder / base.manifest["file"], samples, onnx_file, steps=steps, replay=replay, log=log
    )
    cx, cy, _ = train.render_set(CHECK_SEED, check, workers=1) if check else (None, None, None)
    figures: dict[str, Any] = {}
    if cx is not None and cy is not None:  # both or neither (`check`)
        before = train.onnx_scores(base.folder / base.manifest["file"], cx)
        after = train.onnx_scores(onnx_file, cx)
        figures = {
            "synthetic_check": {
                "seed": CHECK_SEED,
                "n": check,
                "auc_before": metrics.report(before, cy, base.classes)["auc"],
                "auc_after": metrics.report(after, cy, base.classes)["auc"],
            }
        }
    fy = np.stack([s[1] for s in samples])
    fk = np.stack([s[2] for s in samples])
    manifest = {
        **{
            k: base.manifest[k]
            for k in (
                "name",
                "classes",
                "class_notes",
                "input_size",
                "stride",
                "thresholds",
                "thresholds_by_rate",
                "default_alarm_rate",
                "threshold_rule",
                "scan_threshold",
                "calibration",
            )
            if k in base.manifest
        },
        "version": version,
        "file": onnx_file.name,
        "sha256": train.sha256_file(onnx_file),
        "bytes": onnx_file.stat().st_size,
        "parent": {"version": base.version, "sha256": base.sha256},
        "reference": {
            "input": "oracles.xray.preprocess.reference_input",
            **train.reference_outputs(onnx_file),
        },
        "finetune": {
            **info,
            "confirmed": {
                c: int(((fy[:, i] == 1) & (fk[:, i] == 1)).sum())
                for i, c in enumerate(base.classes)
            },
            "rejected": {
                c: int(((fy[:, i] == 0) & (fk[:, i] == 1)).sum())
                for i, c in enumerate(base.classes)
            },
            "seconds": round(time.time() - t0, 1),
        },
        **figures,
    }
    train.write_manifest(folder, manifest)
    XrayModel(folder)  # the new version loads and verifies
    if do_activate:
        activate(settings, version, manifest["sha256"])
    return {
        "version": version,
        "folder": str(folder),
        "sha256": manifest["sha256"],
        "activated": do_activate,
        **manifest["finetune"],
        **figures,
    }


def read_manifest(folder: Path) -> dict[str, Any]:
    return json.loads((folder / "manifest.json").read_text())
