"""The X-ray image recognition oracle: meat products, drugs, firearms and knives in scans.

One file per job:

- `synth`      seeded synthetic dual-energy scans with labels and boxes (training, tests, bench)
- `image`      strict reading of uploads (bombs, truncation, 16-bit, CMYK, animation)
- `preprocess` the one letterbox from a scan to the network input
- `model`      the hash-checked ONNX model at run time: scores, heat maps, threat boxes
- `overlay`    the PNG an officer sees
- `metrics`    AUC and recall at a false-alarm rate
- `dataset`    labelled folders (`xray synth`, `xray evaluate`)
- `service`    a node's image database, alerts and officer feedback
- `oracle`     `XrayOracle`, kind XRAY, attested like every oracle
- `config`     settings defaults and which model version runs
- `train`, `retrain`  PyTorch training and fine-tuning (the `train` extra only)

Run time needs onnxruntime, never torch.
"""

from __future__ import annotations

from typing import Any


def xray_oracle(settings: Any, store: Any = None):
    """The XRAY oracle of this installation (active model, upload limits, optional store)."""
    from oracles.xray.config import load_model, xray_settings
    from oracles.xray.oracle import XrayOracle

    return XrayOracle(load_model(settings), store, xray_settings(settings).limits)
