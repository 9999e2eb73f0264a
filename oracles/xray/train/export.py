"""After training: calibration (Platt scaling, thresholds), ONNX export and read-back, manifest.

The exported file is all inference uses; `net_from_onnx` reads its weights back (batch-norm
already folded into the convolutions) so a retrain starts from exactly the model in service.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypedDict

import numpy as np

from oracles.xray import metrics
from oracles.xray.errors import XrayError
from oracles.xray.preprocess import reference_input, to_input
from oracles.xray.synth import CLASSES
from oracles.xray.train.net import (
    CONTEXT_HEAD,
    HIDDEN_HEAD,
    build_net,
    build_routed,
    exportable,
    fused_net_for,
    has_context,
    hidden_width,
    require_torch,
)

ONNX_OPSET = 17
OUTPUTS = ["scores", "heat", "scan"]


def fit_platt(
    logits: np.ndarray, labels: np.ndarray, weights: np.ndarray | None = None
) -> tuple[float, float]:
    """(a, b) with sigmoid(a * logit + b) the calibrated probability (Platt scaling).

    Fitted by maximum likelihood against Platt's smoothed targets, with a bounded slope so
    a set the network separates perfectly still gives finite, monotone scores.  `weights`:
    how much each sample counts (default 1).
    """
    from scipy.optimize import minimize

    z = np.asarray(logits, np.float64)
    y = np.asarray(labels, np.float64)
    wt = np.ones_like(z) if weights is None else np.asarray(weights, np.float64)
    npos, nneg = (wt * y).sum(), (wt * (1 - y)).sum()
    t = np.where(y > 0, (npos + 1) / (npos + 2), 1 / (nneg + 2))

    def nll(p: np.ndarray) -> tuple[float, np.ndarray]:
        u = p[0] * z + p[1]
        loss = wt * (np.logaddexp(0, u) - t * u)
        g = wt * (1 / (1 + np.exp(-u)) - t)
        return float(loss.sum()), np.array([(g * z).sum(), g.sum()])

    res = minimize(nll, [1.0, 0.0], jac=True, method="L-BFGS-B", bounds=[(0.05, 5.0), (-30, 30)])
    return float(res.x[0]), float(res.x[1])


def calibrate(net, a: Sequence[float], b: Sequence[float]) -> None:
    """Fold per-class Platt scaling into the class head: logit' = a * logit + b, so the
    exported scores and heat maps are calibrated and the ONNX file's hash covers it.  A head
    with a hidden layer or a whole-picture term sums paths: every last layer is scaled, the
    offset is added once."""
    torch = require_torch()
    lasts = [net.head]
    if hidden_width(net):
        lasts.append(net.head_out)
    if has_context(net):
        lasts.append(net.head_global)
    with torch.no_grad():
        at = torch.tensor(a, dtype=net.head.weight.dtype)
        bt = torch.tensor(b, dtype=net.head.weight.dtype)
        for last in lasts:
            last.weight.mul_(at.view(-1, 1, 1, 1))
            last.bias.mul_(at)
        net.head.bias.add_(bt)


# --- ONNX -------------------------------------------------------------------------------------


def export_onnx(net, path: Path, check: np.ndarray, tol: float = 1e-4) -> float:
    """Write `net` as ONNX; verify onnxruntime against torch on `check` (uint8 inputs).

    Returns the largest absolute difference of the outputs; raises XrayError
    ("export_mismatch") if it is over `tol`.
    """
    torch = require_torch()
    import onnxruntime as ort

    net.eval()
    wrapper = exportable(net).eval()
    dummy = torch.from_numpy(to_input(check[:2]))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.onnx.export(
        wrapper,
        (dummy,),
        str(tmp),
        dynamo=False,
        opset_version=ONNX_OPSET,
        input_names=["image"],
        output_names=OUTPUTS,
        dynamic_axes={k: {0: "n"} for k in ["image", *OUTPUTS]},
        do_constant_folding=True,
    )
    sess = ort.InferenceSession(str(tmp), providers=["CPUExecutionProvider"])
    inp = to_input(check)
    with torch.no_grad():
        want = [t.numpy() for t in wrapper(torch.from_numpy(inp))]
    got = sess.run(OUTPUTS, {"image": inp})
    diff = float(max(np.abs(w - g).max() for w, g in zip(want, got, strict=True)))
    if diff > tol:
        tmp.unlink()
        raise XrayError(
            "export_mismatch",
            f"ONNX and torch outputs differ by {diff:.2e} "
            f"(tolerance {tol:.0e}); the export is broken",
        )
    os.replace(tmp, path)
    return diff


def net_from_onnx(path: Path, *, partial: bool = False, expert: str | None = None):
    """A fused torch network carrying the weights of an exported model (for fine-tuning).

    A routed model (two experts, `build_routed`) comes back routed, or, with `expert`
    ("colour" / "grey"), as that expert alone.  `partial`: the file may lack the scan head
    (models before it had one); the head then keeps its fresh initial weights.
    """
    torch = require_torch()
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path))
    init = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    if any(k.startswith("net.colour.") for k in init):
        subs = {
            name: {
                k[len(f"net.{name}.") :]: v for k, v in init.items() if k.startswith(f"net.{name}.")
            }
            for name in ("colour", "grey")
        }
        nets = {}
        for name, other in (("colour", "grey"), ("grey", "colour")):
            # the exporter keeps one copy of a tensor both experts hold identically (layers
            # one expert took unchanged from the other): a weight missing here is the
            # other's -- but a hidden class head is an expert's own only if its first layer
            # is (a fresh last layer is all zeros, as the other expert's may be), and a
            # whole-picture term only if its weight is
            own = ((HIDDEN_HEAD, "head_hidden.weight"), ((CONTEXT_HEAD,), f"{CONTEXT_HEAD}weight"))
            not_own = tuple(p for prefixes, key in own if key not in subs[name] for p in prefixes)
            sub = {
                **{
                    k: v
                    for k, v in subs[other].items()
                    if k not in subs[name] and not k.startswith(not_own)
                },
                **subs[name],
            }
            nets[name] = _load_expert(path, sub, partial)
        if expert is not None:
            return nets[expert]
        net = build_routed(nets["colour"], nets["grey"])
        net.eval()
        return net
    if expert == "colour" and "net.scan.weight" in init:
        raise XrayError("model_invalid", f"{path} is not a routed model: it has no colour expert")
    convs = [n for n in model.graph.node if n.op_type == "Conv"]
    net = build_net(fused=True)
    targets = [mod for mod in net.modules() if isinstance(mod, torch.nn.Conv2d)]
    if len(convs) != len(targets) and not (partial and len(convs) == len(targets) - 1):
        raise XrayError(
            "model_invalid",
            f"{path} has {len(convs)} convolutions; this "
            f"network has {len(targets)}: not a model of this kind",
        )
    with torch.no_grad():
        for node, conv in zip(convs, targets[: len(convs)], strict=True):
            w = init[node.input[1]]
            if tuple(w.shape) != tuple(conv.weight.shape):
                raise XrayError(
                    "model_invalid",
                    f"{path}: weight {node.input[1]} has shape "
                    f"{w.shape}, expected {tuple(conv.weight.shape)}",
                )
            conv.weight.copy_(torch.from_numpy(w.copy()))
            conv.bias.copy_(torch.from_numpy(init[node.input[2]].copy()))
    net.eval()
    return net


def _load_expert(path: Path, weights: dict[str, np.ndarray], partial: bool):
    """A fused `build_net` network from its parameters by name ("features.0.weight", ...)."""
    torch = require_torch()
    net = fused_net_for(weights)
    state = net.state_dict()
    missing = [k for k in state if k not in weights and not (partial and k.startswith("scan."))]
    if missing:
        raise XrayError(
            "model_invalid", f"{path} lacks {', '.join(missing[:3])}: not a model of this kind"
        )
    with torch.no_grad():
        for k, v in state.items():
            if k in weights:
                if tuple(weights[k].shape) != tuple(v.shape):
                    raise XrayError(
                        "model_invalid",
                        f"{path}: weight {k} has shape {weights[k].shape}, expected {tuple(v.shape)}",
                    )
                v.copy_(torch.from_numpy(weights[k].copy()))
    net.eval()
    return net


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def onnx_outputs(path: Path, x: np.ndarray, batch: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """(scores (N, C), scan (N,)) of a letterboxed uint8 set with onnxruntime."""
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    scores, scan = [], []
    for i in range(0, len(x), batch):
        out = dict(zip(names, sess.run(None, {"image": to_input(x[i : i + batch])}), strict=True))
        scores.append(out["scores"])
        scan.append(out["scan"][:, 0] if "scan" in out else np.ones(len(out["scores"])))
    return np.concatenate(scores), np.concatenate(scan)


def onnx_scores(path: Path, x: np.ndarray, batch: int = 64) -> np.ndarray:
    return onnx_outputs(path, x, batch)[0]


class ReferenceOutputs(TypedDict):
    scores: list[float]  # per class, 6 places
    scan: float  # the scan head's score, 6 places


def reference_outputs(path: Path) -> ReferenceOutputs:
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    scores, scan = sess.run(["scores", "scan"], {"image": reference_input()})
    return {
        "scores": [round(float(v), 6) for v in scores[0]],
        "scan": round(float(scan[0, 0]), 6),
    }


def thresholds(scores: np.ndarray, labels: np.ndarray, rate: float) -> dict[str, float]:
    """Alert thresholds per class: the lowest 4-place value t such that alarming on a
    (4-place) score >= t keeps false alarms <= `rate` on this set."""
    return {
        c: round(
            math.floor(metrics.threshold_at_false_alarm(scores[:, i], labels[:, i], rate) * 1e4)
            / 1e4
            + 1e-4,
            4,
        )
        for i, c in enumerate(CLASSES)
    }


def write_manifest(folder: Path, manifest: dict[str, Any]) -> Path:
    path = folder / "manifest.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)
    return path
