"""Export a fitted HistGradientBoostingClassifier to ONNX, exactly, and run it.

Why our own exporter: skl2onnx's converter for HistGradientBoosting fails with the
installed scikit-learn / numpy (it passes booleans where ONNX wants ints), and it writes
float32 thresholds, which can send a value sitting next to a threshold down the other branch.
ONNX-ML's `TreeEnsemble` (ai.onnx.ml opset 5) takes double thresholds and double inputs, so
the exported graph makes the same comparisons as scikit-learn; only the order in which tree
outputs are summed may differ (a difference around 1e-15).  `training` checks the graph
against scikit-learn on held-out rows and refuses to ship it if any margin differs by more
than `EXACT_TOL`.

The graph outputs the raw margin (log-odds) with shape (n, 1); calibration is applied after
(`oracles.audit.model.Calibrator`), in numpy, the same way for both backends.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

EXACT_TOL = 1e-9
_LEQ = 0


def hgb_to_onnx(model, n_features: int) -> bytes:
    """The ONNX bytes of a binary HistGradientBoostingClassifier's raw margin.

    Raises ValueError for a model with categorical splits or more than one output (this
    exporter handles numeric splits of a binary classifier, which is what the audit model is).
    """
    if model.n_trees_per_iteration_ != 1:
        raise ValueError("only binary classifiers are exported")
    feat: list[int] = []
    splits: list[float] = []
    modes: list[int] = []
    tnode: list[int] = []
    tleaf: list[int] = []
    fnode: list[int] = []
    fleaf: list[int] = []
    miss: list[int] = []
    leaf_w: list[float] = []
    roots: list[int] = []
    for (pred,) in model._predictors:
        nodes = pred.nodes
        if nodes["is_categorical"].any():
            raise ValueError("categorical splits are not exported")
        if nodes[0]["is_leaf"]:
            # a tree that is one leaf: a split that always goes to it (missing too)
            roots.append(len(feat))
            leaf = len(leaf_w)
            leaf_w.append(float(nodes[0]["value"]))
            feat.append(0)
            splits.append(np.inf)
            modes.append(_LEQ)
            tnode.append(leaf)
            tleaf.append(1)
            fnode.append(leaf)
            fleaf.append(1)
            miss.append(1)
            continue
        base = len(feat)
        split_ids = {}
        order = [i for i in range(len(nodes)) if not nodes[i]["is_leaf"]]
        for k, i in enumerate(order):
            split_ids[i] = base + k
        leaf_ids = {}
        for i in range(len(nodes)):
            if nodes[i]["is_leaf"]:
                leaf_ids[i] = len(leaf_w)
                leaf_w.append(float(nodes[i]["value"]))
        roots.append(split_ids[0])
        for i in order:
            n = nodes[i]
            feat.append(int(n["feature_idx"]))
            splits.append(float(n["num_threshold"]))
            modes.append(_LEQ)
            for child, ids, leafs in (
                (int(n["left"]), tnode, tleaf),
                (int(n["right"]), fnode, fleaf),
            ):
                if nodes[child]["is_leaf"]:
                    ids.append(leaf_ids[child])
                    leafs.append(1)
                else:
                    ids.append(split_ids[child])
                    leafs.append(0)
            miss.append(int(n["missing_go_to_left"]))
    ensemble = helper.make_node(
        "TreeEnsemble",
        ["X"],
        ["trees"],
        domain="ai.onnx.ml",
        aggregate_function=1,
        post_transform=0,
        n_targets=1,
        tree_roots=roots,
        nodes_featureids=feat,
        nodes_splits=numpy_helper.from_array(np.asarray(splits, dtype=np.float64)),
        nodes_modes=numpy_helper.from_array(np.asarray(modes, dtype=np.uint8)),
        nodes_truenodeids=tnode,
        nodes_trueleafs=tleaf,
        nodes_falsenodeids=fnode,
        nodes_falseleafs=fleaf,
        nodes_missing_value_tracks_true=miss,
        leaf_targetids=[0] * len(leaf_w),
        leaf_weights=numpy_helper.from_array(np.asarray(leaf_w, dtype=np.float64)),
    )
    baseline = numpy_helper.from_array(
        np.asarray(model._baseline_prediction, dtype=np.float64).reshape(1, 1), "baseline"
    )
    add = helper.make_node("Add", ["trees", "baseline"], ["margin"])
    graph = helper.make_graph(
        [ensemble, add],
        "audit_margin",
        [helper.make_tensor_value_info("X", TensorProto.DOUBLE, [None, n_features])],
        [helper.make_tensor_value_info("margin", TensorProto.DOUBLE, [None, 1])],
        initializer=[baseline],
    )
    proto = helper.make_model(
        graph,
        producer_name="smartcustoms-audit",
        opset_imports=[helper.make_opsetid("", 21), helper.make_opsetid("ai.onnx.ml", 5)],
    )
    proto.ir_version = 10
    onnx.checker.check_model(proto)
    return proto.SerializeToString()


class OnnxMargin:
    """An onnxruntime session computing the raw margin of an exported model."""

    def __init__(self, data: bytes, threads: int = 0) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.log_severity_level = 3
        # waiting threads sleep instead of spinning: on a shared machine spinning threads
        # fight the other jobs for the cores and scoring slows down instead of speeding up
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session = ort.InferenceSession(data, opts, providers=["CPUExecutionProvider"])

    def margin(self, X: np.ndarray) -> np.ndarray:
        X = np.ascontiguousarray(X, dtype=np.float64)
        return self._session.run(None, {"X": X})[0][:, 0]
