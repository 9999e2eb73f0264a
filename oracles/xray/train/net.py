"""The network: eight 3x3 convolutions and two 1x1 heads, and the colour-routed pair of them.

`build_net` is one expert (class logits on a GRID x GRID map, and a scan / not-a-scan
logit); `build_routed` puts a colour and a grey expert behind one input, weighted by the
picture's colour (`colour_weight`).  PyTorch is imported only when asked (`require_torch`):
inference runs the exported ONNX file and never needs it.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from oracles.xray.errors import XrayError
from oracles.xray.synth import CLASSES

# parameter-name prefixes of a hidden class head (`build_net(hidden=...)`)
HIDDEN_HEAD = ("head_hidden.", "head_out.")
# parameter-name prefix of the whole-picture term of a class head (`build_net(context=True)`)
CONTEXT_HEAD = "head_global."
# (in, out, stride, dilation) of the 3x3 convolutions
SPEC = [
    (3, 16, 2, 1),
    (16, 32, 2, 1),
    (32, 32, 1, 1),
    (32, 64, 2, 1),
    (64, 64, 1, 1),
    (64, 96, 2, 1),
    (96, 96, 1, 2),
    (96, 96, 1, 1),
]


def require_torch():
    """The torch module, or an XrayError that says how to install it."""
    try:
        import torch
    except ImportError:
        raise XrayError(
            "torch_missing",
            "training needs PyTorch, which inference does not: install it with "
            "pip install '.[train]' (torch==2.13.0, CPU build is enough)",
        ) from None
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    return torch


def build_net(fused: bool = False, hidden: int = 0, context: bool = False):
    """The network; `fused=True` has no batch-norm (biases instead), the shape of the ONNX.

    forward(x) -> (class logits (N, C, GRID, GRID), scan logit (N,)).

    `hidden` > 0 gives the class head a hidden layer beside its linear one, which stays as
    a skip path: logits = head(f) + head_out(relu(head_hidden(f))), all 1 x 1.  Why: on
    frozen features a linear head that finds more real guns also fires on more pictures
    that are not scans (see `train.head`); a hidden layer stays quieter on them (measured:
    MODEL_CARD, "Tried after 2.1.0").  `head_out` starts at zero, so a net given a hidden
    head first computes what it did without.

    `context` adds to every cell of the class map a term of the whole picture: a 1 x 1
    layer on the feature map averaged over the grid (`head_global`, starting at zero).  Why:
    a gun that fills a real crop is wider than a cell's receptive field (151 of 256 px), so
    no cell sees it whole; 2.4.0 ranked its own real training guns at AUC 0.976, the same
    crops shrunk to 3/4 at 0.991.  The picture's average says "this looks like a gun" where
    no single cell can (MODEL_CARD, 2.5.0).  The map stays a map: the term shifts a class's
    whole map, so boxes stay where the cells see the object.
    """
    torch = require_torch()
    from torch import nn  # already imported by require_torch; gives mypy the class

    class XrayNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            layers: list[Any] = []
            for cin, cout, stride, dil in SPEC:
                layers.append(nn.Conv2d(cin, cout, 3, stride, dil, dilation=dil, bias=fused))
                if not fused:
                    layers.append(nn.BatchNorm2d(cout))
                layers.append(nn.ReLU(inplace=True))
            self.features = nn.Sequential(*layers)
            self.head = nn.Conv2d(SPEC[-1][1], len(CLASSES), 1)
            if hidden:
                self.head_hidden = nn.Conv2d(SPEC[-1][1], hidden, 1)
                self.head_out = nn.Conv2d(hidden, len(CLASSES), 1)
                for p in self.head_out.parameters():
                    nn.init.zeros_(p)
            if context:
                self.head_global = nn.Conv2d(SPEC[-1][1], len(CLASSES), 1)
                for p in self.head_global.parameters():
                    nn.init.zeros_(p)
            self.scan = nn.Conv2d(SPEC[-1][1], 1, 1)

        def class_head(self) -> list:
            """The class head's 1 x 1 convolutions: the linear one first."""
            layers = [self.head, self.head_hidden, self.head_out] if hidden else [self.head]
            return [*layers, self.head_global] if context else layers

        def classify(self, f):
            """Class logits of a feature map (N, channels, H, W)."""
            z = self.head(f)
            if hidden:
                z = z + self.head_out(torch.relu(self.head_hidden(f)))
            if context:
                z = z + self.head_global(torch.mean(f, dim=(2, 3), keepdim=True))
            return z

        def forward(self, x):
            f = self.features(x)
            return self.classify(f), torch.mean(self.scan(f), dim=(1, 2, 3))

    return XrayNet()


def widen_head(net, hidden: int):
    """A fused copy of `net` (a fused `build_net`, linear class head) with a hidden class-head
    layer of width `hidden` added, its last layer at zero: it computes what `net` does."""
    if any(k.startswith(HIDDEN_HEAD) for k in net.state_dict()):
        raise XrayError("model_invalid", "widen_head takes a fused net with a linear class head")
    return _rebuilt(net, hidden=hidden, context=has_context(net))


def with_context(net):
    """A fused copy of `net` whose class head also has the whole-picture term (`build_net`'s
    `context`), at zero: it computes what `net` does until the head is refitted."""
    return _rebuilt(net, hidden=hidden_width(net), context=True)


def _rebuilt(net, *, hidden: int, context: bool):
    state = net.state_dict()
    if any(".running_" in k for k in state):
        raise XrayError("model_invalid", "takes a fused net (no batch-norm)")
    out = build_net(fused=True, hidden=hidden, context=context)
    out.load_state_dict(state, strict=False)
    out.eval()
    return out


def fused_net_for(weights):
    """A fused `build_net` with the class head that saved weights by name (a state dict, an
    ONNX file's initializers) hold -- linear, hidden layer, whole-picture term -- not yet
    loaded: the one place that reads a head's shape from its weights."""
    return build_net(fused=True, hidden=hidden_width_of(weights), context=context_of(weights))


def hidden_width_of(weights) -> int:
    """The hidden class-head width of saved weights by name (a state dict, an ONNX file's
    initializers): 0 when they hold a linear head only."""
    w = weights.get("head_hidden.weight")
    return 0 if w is None else int(w.shape[0])


def context_of(weights) -> bool:
    """Whether saved weights by name (a state dict, an ONNX file's initializers) hold a
    class head with the whole-picture term."""
    return f"{CONTEXT_HEAD}weight" in weights


def has_context(net) -> bool:
    return hasattr(net, CONTEXT_HEAD.rstrip("."))


def hidden_width(net) -> int:
    """The width of `net`'s hidden class-head layer (0: a linear head only)."""
    return 0 if not hasattr(net, "head_hidden") else int(net.head_hidden.out_channels)


# A picture is shown to the colour expert when at least COLOUR_SHARE of its pixels carry
# clear colour (max - min channel over CHROMA): dual-energy pseudo-colour scans have 20 %
# and more; a greyscale export has none (R = G = B, or a few levels apart after JPEG);
# in between (GREY_SHARE..COLOUR_SHARE) the two experts' maps are mixed linearly.
CHROMA = 0.1
GREY_SHARE = 0.005
COLOUR_SHARE = 0.02


def colour_weight(x):
    """(N, 3, H, W) input in 0..1 -> (N,) weight of the colour expert (0 grey .. 1 colour)."""
    torch = require_torch()
    chroma = torch.amax(x, dim=1) - torch.amin(x, dim=1)
    share = torch.mean((chroma > CHROMA).to(x.dtype), dim=(1, 2))
    return torch.clamp((share - GREY_SHARE) / (COLOUR_SHARE - GREY_SHARE), 0.0, 1.0)


def colour_weight_np(x: np.ndarray) -> np.ndarray:
    """`colour_weight` of a uint8 NHWC set, in numpy."""
    xf = x.astype(np.float32) / 255
    share = ((xf.max(-1) - xf.min(-1)) > CHROMA).mean((1, 2))
    return np.clip((share - GREY_SHARE) / (COLOUR_SHARE - GREY_SHARE), 0, 1)


def build_routed(colour, grey):
    """Two experts of the `build_net` kind behind one input, chosen by the picture's colour
    (`colour_weight`): one for dual-energy pseudo-colour scans, one for single-energy grey
    scans (synthetic and real).  Each keeps its own class and scan heads (and calibration);
    forward(x) -> (class logits, scan logit) of the expert the picture belongs to."""
    torch = require_torch()

    class RoutedNet(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.colour = colour
            self.grey = grey

        def forward(self, x):
            w = colour_weight(x)
            lc, sc = self.colour(x)
            lg, sg = self.grey(x)
            wv = w.view(-1, 1, 1, 1)
            return wv * lc + (1 - wv) * lg, w * sc + (1 - w) * sg

    return RoutedNet()


def experts(net) -> list:
    """The networks whose heads carry calibration: both experts of a routed net, or `net`."""
    return [net.colour, net.grey] if hasattr(net, "colour") else [net]


def exportable(net):
    torch = require_torch()

    class Exported(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = net

        def forward(self, image):
            logits, scan = self.net(image)
            heat = torch.sigmoid(logits)
            return torch.amax(heat, dim=(2, 3)), heat, torch.sigmoid(scan).unsqueeze(1)

    return Exported()
