"""Training phrasings: the nomenclature rewritten the way traders write, plus trade names.

No labelled corpus of real descriptions ships with the project, so the shipped model learns
from text generated here, reproducibly (a seeded `random.Random`, sorted inputs):

- `official`: each subheading's description, alone and with its heading; the full path
  (section, chapter, heading, subheading) feeds the heading and chapter levels;
- `synonyms`: the same descriptions with formal words swapped for trade words
  ("bovine" -> "beef", "automatic data processing machines" -> "computer",
  "spark-ignition" -> "petrol"); a few seeded variants per subheading;
- `trade`: the trade names of `data/trade_names.txt` (hand-written, one line per
  subheading), each name alone and with its subheading's distinguishing words;
- `bank`: the phrase bank of `data/phrases/*.tsv` — about 40,000 English marketplace
  titles, parcel lines, trade names and declaration lines for every subheading, and about
  25,000 Chinese names (Taiwan and mainland wording), written for training by people who
  never saw the evaluation sets;
- `zh_official`: Taiwan's tariff schedule in Chinese (`oracles.tariff.zh`), subheadings
  and national lines of the codes HS 2022 kept;
- `rulings`: real labelled descriptions — the training part of `data/rulings/` (see
  `oracles.tariff.splits`) and a user's own file (`classify train --data`), as written.

The evaluation sets (`data/heldout.csv`, `data/eval/`) are never read here.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from oracles.tariff.corpus import CodeContext, contexts
from oracles.tariff.zh import training_texts

DATA_DIR = Path(__file__).resolve().parent / "data"
TRADE_NAMES_FILE = DATA_DIR / "trade_names.txt"
PHRASES_DIR = DATA_DIR / "phrases"
SYNONYM_VARIANTS = 3

# formal nomenclature wording -> words traders use (each variant picks one at random)
SYNONYMS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("bovine animals", ("beef", "cattle", "beef cattle")),
    ("bovine", ("beef", "cattle")),
    ("swine", ("pork", "pig")),
    ("sheep", ("lamb", "mutton")),
    ("fowls of the species gallus domesticus", ("chicken", "broiler")),
    ("gallus domesticus", ("chicken",)),
    ("crustaceans", ("shellfish", "seafood")),
    ("molluscs", ("shellfish", "seafood")),
    ("ground-nuts", ("peanuts",)),
    ("maize", ("corn",)),
    ("aubergines", ("eggplant",)),
    ("automatic data processing machines", ("computer", "computers", "pc")),
    ("accumulators", ("batteries", "battery", "rechargeable battery")),
    ("primary cells and primary batteries", ("batteries", "disposable batteries")),
    (
        "motor cars and other motor vehicles principally designed for the transport of persons",
        ("passenger cars", "cars", "automobiles", "suv"),
    ),
    ("vehicles", ("trucks", "vehicle")),
    ("spark-ignition", ("petrol", "gasoline")),
    ("compression-ignition", ("diesel",)),
    ("cylinder capacity", ("engine cc", "displacement")),
    ("footwear", ("shoes", "boots")),
    ("outer soles", ("soles",)),
    ("uppers", ("upper",)),
    ("articles of apparel", ("clothing", "garments")),
    ("apparel", ("clothing", "garments", "clothes")),
    ("jerseys, pullovers, cardigans, waistcoats", ("sweaters", "hoodies", "sweatshirts")),
    ("trousers", ("pants", "slacks")),
    ("synthetic fibres", ("polyester", "nylon", "acrylic", "polyamide")),
    ("synthetic", ("polyester", "nylon")),
    ("artificial fibres", ("viscose", "rayon", "modal")),
    ("man-made fibres", ("polyester", "nylon", "viscose")),
    ("fine animal hair", ("cashmere", "mohair", "alpaca")),
    ("plastics", ("plastic", "pvc", "polyethylene", "polypropylene")),
    ("iron or steel", ("steel", "metal", "iron")),
    ("stainless steel", ("stainless", "inox")),
    ("of wood", ("wooden", "timber")),
    (
        "telephones for cellular networks or for other wireless networks",
        ("mobile phones", "smartphones", "cell phones"),
    ),
    ("reception apparatus for television", ("tv", "television set")),
    ("luminaires", ("lamps", "lights", "light fixtures")),
    ("light-emitting diode (led)", ("led",)),
    ("light-emitting diodes", ("led",)),
    ("photovoltaic", ("solar",)),
    ("medicaments", ("medicine", "drugs", "tablets")),
    ("electro-thermic", ("electric",)),
    ("electro-mechanical", ("electric",)),
    ("of a kind used for domestic purposes", ("household", "home use")),
    ("domestic", ("household", "home")),
    ("unmanned aircraft", ("drone", "drones", "uav")),
    ("perambulators", ("strollers", "prams")),
    ("motorcycles", ("motorbikes", "scooters")),
    ("cycles", ("bicycles", "bikes")),
    ("tableware", ("dishes", "plates", "cups", "dinnerware")),
    ("kitchenware", ("cookware", "pots", "pans")),
    ("refrigerators", ("fridges",)),
    ("smoothing irons", ("irons", "clothes irons")),
    ("ovens", ("oven", "cooker")),
    ("sanitary towels", ("pads",)),
    ("napkins and napkin liners for babies", ("diapers", "nappies")),
    ("ingots", ("ingot", "bars")),
    ("unwrought", ("ingots", "raw")),
    ("flat-rolled products", ("sheets", "coils", "plates")),
    ("tubes, pipes and hollow profiles", ("pipes", "tubes")),
    ("seats", ("chairs", "sofas")),
    ("mattresses", ("mattress", "bed mattress")),
    ("toys", ("toy", "kids toys")),
    ("monitors", ("screens", "displays")),
    ("insulated wire", ("cable", "wire")),
    ("electric conductors", ("cables", "wires")),
    ("static converters", ("chargers", "power supplies", "adapters")),
    ("semiconductor devices", ("chips", "semiconductors")),
    ("electronic integrated circuits", ("chips", "ics", "microchips")),
    ("prepared or preserved", ("canned", "processed", "cooked")),
    ("fresh chilled", ("fresh", "chilled")),
    ("frozen", ("frozen", "deep frozen", "iqf")),
    ("dried", ("dried", "dehydrated")),
    ("knitted", ("knit", "knitted", "jersey knit")),
    ("woven", ("woven", "non-knit")),
    ("men's or boys'", ("men's", "mens", "boys")),
    ("women's or girls'", ("women's", "ladies", "girls")),
    ("babies'", ("baby", "infant")),
    ("not exceeding", ("up to", "max", "under")),
    ("exceeding", ("over", "more than", "above")),
)

_SYNONYM_RES = tuple((re.compile(r"\b" + re.escape(f) + r"\b", re.I), alts) for f, alts in SYNONYMS)
_PAREN = re.compile(r"\([^()]*\)")
_NEC = re.compile(r"\bn\.e\.c\.?( in [^,;]*)?", re.I)


@dataclass(frozen=True, slots=True)
class Phrase:
    """One training text for one subheading; `source` says where it came from."""

    text: str
    hs6: str
    source: str  # official | path | synonyms | trade | bank | zh_official | rulings


def _clean(text: str) -> str:
    """Parentheses and "n.e.c. in heading ..." removed: they name other codes, not the thing."""
    text = _NEC.sub(" ", _PAREN.sub(" ", text))
    return re.sub(r"\s+", " ", text).strip(" ;,")


def distinct_part(ctx: CodeContext) -> str:
    """What the subheading adds to its heading (the words after the first `;`, cleaned)."""
    parts = ctx.subheading.split(";", 1)
    tail = parts[1] if len(parts) > 1 else parts[0]
    return _clean(tail) or _clean(ctx.subheading)


def _synonym_variant(text: str, rng: random.Random) -> str:
    out = text
    for pattern, alts in _SYNONYM_RES:
        if pattern.search(out) and rng.random() < 0.8:
            out = pattern.sub(rng.choice(alts), out)
    return out


def trade_names(path: Path = TRADE_NAMES_FILE) -> dict[str, list[str]]:
    """hs6 -> trade names, read from the hand-written list (comments and blanks skipped)."""
    out: dict[str, list[str]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        code, _, names = line.partition(" ")
        out.setdefault(code, []).extend(n.strip() for n in names.split(";") if n.strip())
    return out


def nomenclature_phrases(seed: int = 0) -> Iterator[Phrase]:
    """Official, path and synonym phrasings of every subheading (deterministic for a seed)."""
    rng = random.Random(seed)
    for code, ctx in contexts().items():
        clean = _clean(ctx.subheading)
        yield Phrase(ctx.subheading, code, "official")
        yield Phrase(f"{_clean(ctx.heading)} {distinct_part(ctx)}", code, "official")
        yield Phrase(ctx.path_text(), code, "path")
        seen = {clean}
        for _ in range(SYNONYM_VARIANTS):
            variant = _synonym_variant(f"{clean} {_clean(ctx.heading)}", rng)
            if variant not in seen:
                seen.add(variant)
                yield Phrase(variant, code, "synonyms")


def trade_phrases(
    names: dict[str, list[str]] | None = None, skip: set[tuple[str, str]] | None = None
) -> Iterator[Phrase]:
    """Each trade name alone and with its subheading's distinguishing words.

    `skip` leaves out (hs6, name) pairs: the development split holds them back to measure
    how the model does on trade names it has not seen.
    """
    names = trade_names() if names is None else names
    ctxs = contexts()
    for code in sorted(names):
        ctx = ctxs.get(code)
        if ctx is None:
            continue
        for name in names[code]:
            if skip and (code, name) in skip:
                continue
            yield Phrase(name, code, "trade")
            yield Phrase(f"{name} {distinct_part(ctx)}", code, "trade")


def ruling_phrases(rows: Iterable[tuple[str, str]]) -> Iterator[Phrase]:
    """A user's (description, hs code) rows, cut to HS6; the caller has checked the codes."""
    for text, code in rows:
        yield Phrase(text, code[:6], "rulings")


def bank_phrases(folder: Path = PHRASES_DIR) -> Iterator[Phrase]:
    """The phrase bank: `HS6<TAB>text` lines of every `*.tsv` in `folder` (sorted), comments
    and codes that are not HS 2022 subheadings skipped."""
    ctxs = contexts()
    for path in sorted(folder.glob("*.tsv")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip() or line.startswith("#") or "\t" not in line:
                continue
            code, text = line.split("\t", 1)
            code, text = code.strip()[:6], text.strip()
            if code in ctxs and text:
                yield Phrase(text, code, "bank")


def zh_phrases() -> Iterator[Phrase]:
    """Taiwan's schedule in Chinese, for the subheadings HS 2022 kept (`oracles.tariff.zh`)."""
    for text, code in training_texts():
        yield Phrase(text, code, "zh_official")
