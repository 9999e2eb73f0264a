"""Fine-tuning (needs torch, the `train` extra): weights load back from ONNX, one step runs."""

from __future__ import annotations

import json

import numpy as np
import pytest

from oracles.xray import synth
from oracles.xray.errors import XrayError
from oracles.xray.model import SHIPPED_DIR, XrayModel
from oracles.xray.preprocess import letterbox

torch = pytest.importorskip("torch", reason="fine-tuning needs torch: pip install '.[train]'")


def test_onnx_weights_load_back_and_one_step_writes_a_valid_model(tmp_path):
    from oracles.xray import train

    base = SHIPPED_DIR / json.loads((SHIPPED_DIR / "manifest.json").read_text())["file"]
    samples = []
    for i, cls in enumerate(("firearm", "meat")):
        x, _ = letterbox(synth.scan(5150, i, threats={cls: 1}, size=256).image)
        y = np.array([c == cls for c in synth.CLASSES], np.float32)
        samples.append((x, y, np.ones(len(synth.CLASSES), np.float32)))
    net = train.net_from_onnx(base)
    xs = np.stack([s[0] for s in samples])
    assert np.abs(train.predict_torch(net, xs) - train.onnx_scores(base, xs)).max() < 1e-4
    out = tmp_path / "ft" / "xray.onnx"
    info = train.finetune(base, samples, out, steps=1, batch=2, replay=0)
    assert info["steps"] == 1 and info["export_diff"] < 1e-4 and out.stat().st_size > 0
    manifest = {
        **json.loads((SHIPPED_DIR / "manifest.json").read_text()),
        "sha256": train.sha256_file(out),
        "version": "test-ft1",
    }
    train.write_manifest(out.parent, manifest)
    assert XrayModel(out.parent).version_id.startswith("xray-test-ft1+")


def test_finetune_without_feedback_says_what_to_do(tmp_path):
    from oracles.xray import train

    with pytest.raises(XrayError) as info:
        train.finetune(SHIPPED_DIR / "xray.onnx", [], tmp_path / "x.onnx")
    assert info.value.code == "no_feedback"


def test_retrain_from_officer_feedback_writes_and_activates_a_version(tmp_path):
    import io

    from PIL import Image

    from offchain.cas import LocalStore
    from offchain.db import Database
    from offchain.settings import Settings
    from oracles.xray.config import load_model
    from oracles.xray.retrain import retrain
    from oracles.xray.service import XrayService

    settings = Settings(home=tmp_path / "var")
    db = Database(tmp_path / "node.sqlite")
    svc = XrayService(db, LocalStore(tmp_path / "cas", fsync=False), load_model(settings))
    buf = io.BytesIO()
    Image.fromarray(synth.scan(5151, 0, threats={"knife": 1}, size=256).image).save(buf, "PNG")
    rec = svc.scan(buf.getvalue(), user="officer")
    svc.feedback(rec["scan_id"], "knife", "confirm", user="officer")
    out = retrain(settings, svc, steps=1, replay=0, check=0, do_activate=True)
    assert out["version"].endswith("-ft1") and out["feedback"] == 1
    assert out["confirmed"]["knife"] == 1
    active = load_model(settings)
    assert active.version == out["version"] and active.sha256 == out["sha256"]
    assert active.manifest["parent"]["sha256"] == svc.model.sha256
    db.close()
