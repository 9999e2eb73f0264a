"""Synthetic dual-energy X-ray scans of bags and parcels, seeded and labelled.

No public X-ray data set can be downloaded here, so training, tests and the benchmark use
scans rendered from first principles:

1. **Objects** are lists of primitives (polygons with optional holes, thick polylines) in the
   object's own coordinates, each of one material -- 0 organic (Z about 6-8: food, paper,
   plastics, drugs, textiles), 1 mixed / inorganic (Z about 10-17: glass, aluminium, bone,
   salts) or 2 metal (Z 26+: steel, copper, brass) -- with a thickness, a profile (flat
   plate, rounded edge, dome) and a texture (marbling, grain, folds).
2. **Pose**: every object is scaled, foreshortened along one axis (an object lying at a slant
   is seen shorter: a cheap stand-in for 3-D pose), mirrored, rotated and placed in the bag;
   objects overlap freely, so threats are partly hidden under clutter.
3. **Physics**: per pixel the mass thickness of each material is summed along the beam and
   turned into the two detector signals with Beer-Lambert,
   ``I_low = exp(-sum mu_low[m] t_m)``, ``I_high = exp(-sum mu_high[m] t_m)``; the low-energy
   beam is absorbed more strongly the higher the atomic number, so the ratio
   ``ln I_low / ln I_high`` tells materials apart (about 1.35 organic, 1.9 mixed, 2.5 metal)
   and a stack of materials lands in between.  Per-scan jitter of the coefficients stands
   for different machines and calibrations.
4. **Detector**: blur (point-spread), quantum noise on the log signal, column gain stripes
   and occasional dead lines.
5. **Display**: the usual pseudo-colouring -- hue from the ratio (orange organic, green
   mixed, blue metal), saturation and darkness from the high-energy attenuation, white
   where nothing absorbs, near black where nothing gets through.  Or, with
   `display="grey"`, what a single-energy scanner shows: one broad-spectrum transmission in
   grey, air light grey rather than white, no material colour (`greyscale`).

Labels: the threat classes present and one box per threat object (pixel box of its
primitives, clipped to the image).  Threat classes are `CLASSES`: meat (organic with bone),
drugs (dense uniform wrapped bricks, slabs or pellets), firearms (pistols, revolvers, with
metal or polymer frames) and knives (fixed, folding, daggers).  Benign clutter includes
look-alikes on purpose: cheese, chocolate, rice bags and books (uniform organic), shoes with
metal shanks (organic with something dense inside), tools, keys, umbrellas, cutlery,
scissors, laptops and trolley rods (metal shapes).

`scan(seed, index)` is a pure function of its arguments (NumPy's PCG64 stream and
PIL rasterisation), so a data set is reproducible from `(seed, n)` and can be rendered in
parallel.  What the generator does not capture is listed in the model card
(`oracles/xray/model/MODEL_CARD.md`).

One job per module: `shapes` (materials, primitives, outline helpers), `threats` and
`clutter` (the object library), `render` (objects to thickness maps), `bags` (the
container), `detector` (physics and display) and `generate` (`scan`, `scans`).  Everything
public is imported here, so `from oracles.xray import synth; synth.scan(...)` is the API.
"""

from oracles.xray.synth.clutter import CLUTTER
from oracles.xray.synth.detector import MU, colourise, greyscale
from oracles.xray.synth.generate import DEFAULT_SIZE, THREAT_PROBABILITY, Scan, scan, scans
from oracles.xray.synth.shapes import METAL, MIXED, ORGANIC, Obj, Prim
from oracles.xray.synth.threats import CLASSES, THREATS

__all__ = [
    "CLASSES",
    "CLUTTER",
    "DEFAULT_SIZE",
    "METAL",
    "MIXED",
    "MU",
    "ORGANIC",
    "THREATS",
    "THREAT_PROBABILITY",
    "Obj",
    "Prim",
    "Scan",
    "colourise",
    "greyscale",
    "scan",
    "scans",
]
