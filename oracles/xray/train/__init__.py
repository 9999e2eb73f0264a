"""Training, export and fine-tuning of the X-ray network (PyTorch on CPU, the `train` extra).

The network is a small fully convolutional net: eight 3x3 convolutions (four of stride 2,
one dilated for context) and a 1x1 head give one logit per class on a 16 x 16 grid over
the 256-px letterboxed scan.  A class's image score is the maximum of its map, so a score
always points at a place, and the map is the heat map boxes are read from.  A second 1x1
head, averaged over the grid, says whether the picture is an X-ray scan at all (the scan
gate's learned half, `oracles.xray.gate`).  The shipped model may be two such nets behind
one input (`build_routed`): a colour expert for dual-energy pseudo-colour scans and a grey
expert for single-energy greyscale scans, chosen inside the graph by the picture's colour.

Training mixes four sources in every batch (`Sources`): synthetic scans in dual-energy
colour or, the same scene, single-energy grey; real greyscale crops (`oracles.xray.real`,
augmented by `oracles.xray.augment`); and pictures that are not scans
(`oracles.xray.nonscan`).  Losses: the image labels (binary cross-entropy on the max of
each map); the threat pixels where they are known (per cell: the generator's masks, and
"nothing anywhere" for clean real crops and non-scans), which teaches the map to sit on
the object; and scan / not a scan on the second head.  Real crops with a threat have no
pixel masks: only their image label counts (cell weight 0), except isolated objects laid
into composite bags, whose place is known.  Synthetic scans may be zoomed in or out
(`zoom_view`) so an object's size in the input does not tell its class.

Nothing here is needed at run time: the exported ONNX file is all inference uses.
Fine-tuning reads the weights back from an ONNX file (batch-norm already folded into the
convolutions), so a retrain starts from exactly the model in service.

One job per module: `net` (the networks and their colour routing), `data` (rendered sets,
non-scans, batches), `fit` (the training loop, fine-tuning, predictions) and `export`
(calibration, ONNX export and read-back, the manifest), `head` (refitting an expert's class
head -- linear, or with a hidden layer beside it -- on its frozen features, against the
non-scans its scan head lets through).  Everything public is imported
here: `from oracles.xray import train; train.build_routed(...)` is the API.
"""

from oracles.xray.synth import CLASSES
from oracles.xray.train.data import (
    Sources,
    grey_of,
    grey_rgb,
    mask_cells,
    nonscan_set,
    render_one,
    render_set,
    zoom_view,
)
from oracles.xray.train.export import (
    ONNX_OPSET,
    OUTPUTS,
    calibrate,
    export_onnx,
    fit_platt,
    net_from_onnx,
    onnx_outputs,
    onnx_scores,
    reference_outputs,
    sha256_file,
    thresholds,
    write_manifest,
)
from oracles.xray.train.fit import (
    finetune,
    predict_scan,
    predict_torch,
    stderr_log,
    train,
    validation_score,
)
from oracles.xray.train.head import (
    HeadFit,
    cell_features,
    passing_nonscans,
    refit_head,
    refit_head_on,
)
from oracles.xray.train.net import (
    CHROMA,
    COLOUR_SHARE,
    CONTEXT_HEAD,
    GREY_SHARE,
    HIDDEN_HEAD,
    SPEC,
    build_net,
    build_routed,
    colour_weight,
    colour_weight_np,
    context_of,
    experts,
    fused_net_for,
    has_context,
    hidden_width,
    hidden_width_of,
    require_torch,
    widen_head,
    with_context,
)

__all__ = [
    "CHROMA",
    "CLASSES",
    "COLOUR_SHARE",
    "CONTEXT_HEAD",
    "GREY_SHARE",
    "HIDDEN_HEAD",
    "ONNX_OPSET",
    "OUTPUTS",
    "SPEC",
    "HeadFit",
    "Sources",
    "build_net",
    "build_routed",
    "calibrate",
    "cell_features",
    "colour_weight",
    "colour_weight_np",
    "context_of",
    "experts",
    "export_onnx",
    "finetune",
    "fit_platt",
    "fused_net_for",
    "grey_of",
    "grey_rgb",
    "has_context",
    "hidden_width",
    "hidden_width_of",
    "mask_cells",
    "net_from_onnx",
    "nonscan_set",
    "onnx_outputs",
    "onnx_scores",
    "passing_nonscans",
    "predict_scan",
    "predict_torch",
    "reference_outputs",
    "refit_head",
    "refit_head_on",
    "render_one",
    "render_set",
    "require_torch",
    "sha256_file",
    "stderr_log",
    "thresholds",
    "train",
    "validation_score",
    "widen_head",
    "with_context",
    "write_manifest",
    "zoom_view",
]
