"""The X-ray image recognition oracle: meat products, drugs, firearms and knives (and other
bladed items) in dual-energy colour and single-energy greyscale scans.

One file (or package of files) per job:

- `synth`      seeded synthetic scans, colour or grey, with labels and boxes (training, tests):
               shapes, threats, clutter, render, bags, detector, generate
- `image`      strict reading of uploads (bombs, truncation, 16-bit, CMYK, animation)
- `gate`       is it a scan at all? rules, then the network's scan head (`not_a_scan`)
- `preprocess` the one letterbox from a scan to the network input
- `model`      the hash-checked ONNX model at run time: gate, scores, heat maps, threat boxes
- `overlay`    the PNG an officer sees
- `metrics`    AUC, recall at a false-alarm rate, expected calibration error
- `dataset`    labelled folders (`xray synth`, `xray evaluate`)
- `real`       real crops (GDXray): grouping by series and image, the held-out split
- `service`    a node's image database, alerts and officer feedback
- `oracle`     `XrayOracle`, kind XRAY, attested like every oracle
- `config`     the installation's `xray` settings and which model version runs
- `nonscan`, `augment`  what the gate learns to refuse; training views of real crops
- `train`, `retrain`  PyTorch training and fine-tuning (the `train` extra only): `train`
               is net, data, fit and export

Run time needs onnxruntime, never torch.
"""

from __future__ import annotations

from typing import Any


def xray_oracle(settings: Any, store: Any = None):
    """The XRAY oracle of this installation (active model, upload limits, optional store)."""
    from oracles.xray.config import load_model, xray_settings
    from oracles.xray.image import ImageLimits
    from oracles.xray.oracle import XrayOracle

    limits = ImageLimits.from_settings(xray_settings(settings))
    return XrayOracle(load_model(settings), store, limits)
