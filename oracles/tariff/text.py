"""Text normalisation and features shared by training and inference.

Why one module: a word the trainer counts must be the word the classifier looks up, so the
nomenclature, the training phrases, a user's rulings and a typed description all pass
through the same `normalize` and `features`.  Nothing here depends on scikit-learn, so a
model trained with one library version reads the same on another.

What real descriptions look like, and what each feature is for:

- **Words** (`w:`, crudely singularised and stemmed) carry the meaning; **bigrams** (`b:`)
  the compounds ("power bank"); **character 3- to 5-grams** of each word (`c:`, `#word#`
  padded) carry misspellings, compounds and truncated words ("tshirt", "t-shirts", "recyc").
- **Consonant skeletons** (`k:`) meet parcel-line abbreviations: "albrto blsm shmp" and
  "alberto balsam shampoo" share `k:blsm`, `k:shmp`.
- **Quantities** (`n:`): engine cc, watts, kVA, volts, g/m2 and % vol put in the bins the
  nomenclature splits at, so "125cc" meets "exceeding 50cc but not exceeding 250cc".
- **Chinese** (`u:` single characters, `h:` two- and three-character runs): Simplified is
  converted to Traditional (OpenCC `s2tw`) first, so 「充电宝」 meets 「充電寶」; spaces
  between Han characters are dropped, so 「電動 滑板車」 meets 「電動滑板車」.
- **Marketplace listings**: a `Category: A > B > C` path counts at `CATEGORY_WEIGHT` (its
  last node, the product type, at 1); attribute values count at `ATTRIBUTE_WEIGHT`, except
  attributes that never decide a code (brand, model number, origin, colour, size...), which
  are dropped; marketing words ("2024 new hot sale free shipping") are stopwords.
"""

from __future__ import annotations

import bisect
import itertools
import re
import unicodedata
from dataclasses import dataclass
from functools import cache
from typing import Any

USE_WEIGHT = 0.5  # weight of the words after "for" / "compatible with"
CLAUSE_DECAY = 0.2  # a description's later clauses weigh less (queries only)
MIN_CLAUSE_WEIGHT = 0.6
HEAD_BOOST = 1.5  # the last word of a short first phrase names the thing (queries)
HEAD_MAX_WORDS = 6  # ... in a long marketplace title the last word is as likely a keyword
CATEGORY_WEIGHT = 0.7
ATTRIBUTE_WEIGHT = 0.6
SKELETON_WEIGHT = 0.4
MAX_CHARS = 2000  # longer descriptions are cut: a product description is a sentence or two

# Wording the nomenclature writes one way and traders another; applied before tokenising.
_REWRITES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(p), r)
    for p, r in (
        (r"\bnot knitted or crocheted\b", " woven "),
        (r"\bother than knitted or crocheted\b", " woven "),
        (r"\b(?:other than|excluding|except|not including)\b[^;,()]*", " "),
        (r"\bknitted or crocheted\b", " knitted "),
        (r"\bcrocheted\b", " knitted "),
        (r"\bknit\b", " knitted "),
        (r"\bt[\s-]?shirts?\b", " tshirt "),
        (r"\btee[\s-]?shirts?\b", " tshirt "),
        (r"\bman[\s-]made\b", " manmade "),
        (r"\bfibers?\b", " fibre "),
        (r"\bfibres\b", " fibre "),
        (r"\bcolor", " colour"),
        (r"\balumin(?:um|ium)\b", " aluminium "),
        (r"\bsulfu", " sulphu"),
        (r"\bjewelry\b", " jewellery "),
        (r"\btires?\b", " tyre "),
        (r"\bmold", " mould"),
        (r"\bgray\b", " grey "),
        (r"\blithium[\s-]ion\b", " lithiumion "),
        (r"\bli[\s-]ion\b", " lithiumion "),
        (r"\be[\s-]bikes?\b", " ebike "),
        (r"\bwi[\s-]?fi\b", " wifi "),
        (r"\bfresh or chilled\b", " fresh chilled "),
        (r"\bn\.?e\.?c\.?\b", " nec "),
        (r"\bneither crushed nor ground\b", " whole "),
        (r"\bcrushed or ground\b", " ground "),
        (r"\bmen's or boys'", " men boys "),
        (r"\bwomen's or girls'", " women girls "),
        (r"\bladies'?\b", " women "),
    )
)

_TOKEN = re.compile(r"[a-z][a-z0-9]*|[0-9]+[a-z]+[a-z0-9]*")
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
# A run of Han characters across the spaces sellers put anywhere: 「電動 滑板車」 and
# 「電動滑板車」 are the same words (Chinese writes no spaces between words).
_HAN_RUN = re.compile(
    r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+"
    r"(?:\s+[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+)*"
)
STOPWORDS = frozenset(
    (
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "for",
        "from",
        "has",
        "have",
        "in",
        "into",
        "is",
        "it",
        "its",
        "of",
        "on",
        "or",
        "other",
        "per",
        "than",
        "that",
        "the",
        "their",
        "thereof",
        "this",
        "to",
        "was",
        "were",
        "whether",
        "with",
        "without",
        "not",
        "nor",
        "such",
        "like",
        "kind",
        "used",
        "also",
        "any",
        "all",
        "type",
        "etc",
        "incl",
        "including",
        "excluding",
        "excluded",
        "heading",
        "headings",
        "subheading",
        "item",
        "no",
        "chapter",
        "ml",
        "kg",
        "kgs",
        "mm",
        "cm",
        "lb",
        "lbs",
        "oz",
        "pc",
        "pcs",
        "ctn",
        "ctns",
        "gsm",
        "nos",
        "qty",
        "approx",
        "exceeding",
        "but",
        "more",
        "less",
        # marketplace noise: says nothing about what the goods are
        "new",
        "hot",
        "sale",
        "sell",
        "selling",
        "bestseller",
        "free",
        "shipping",
        "quality",
        "high",
        "best",
        "top",
        "original",
        "genuine",
        "authentic",
        "official",
        "luxury",
        "premium",
        "wholesale",
        "dropshipping",
        "dropship",
        "cheap",
        "upgrade",
        "upgraded",
        "latest",
        "popular",
        "trendy",
        "arrival",
        "discount",
        "promotion",
        "clearance",
        "instock",
        "stock",
    )
)
# "25 kg bags", "1 L PET bottles", "in cartons of 12": how the goods are packed, not what
# they are.  Dropped so "sunflower oil 5 L PET bottles" is not taken for bottles.
_PACKING = re.compile(
    r"\b(?:\d+(?:[.,]\d+)?\s*(?:x\s*\d+(?:[.,]\d+)?\s*)?(?:kgs?|g|gr|grams?|l|lt|ltr|litres?|"
    r"liters?|ml|cl|lbs?|oz|pcs|pieces|units|sheets)?\s*|(?:in|per|packed in|master)\s+)"
    r"(?:(?:pet|plastic|glass|paper|jute|pp|woven|multiwall|poly|carton|cardboard|wooden|"
    r"steel)\s+)?(?:bags?|bottles?|cartons?|ctns?|cans?|tins?|jars?|boxes|box|drums?|sacks?|"
    r"pouches|pouch|packs?|cases?|trays?|pails?|buckets?|ibcs?|totes?)\b"
)


# Chinese marketing words and shop brackets: 【現貨】 2024新款 熱賣 免運
_ZH_NOISE = re.compile(
    r"【[^】]{0,12}】|\u3014[^\u3015]{0,12}\u3015|現貨|新款|熱賣|熱銷|爆款|免運費?|包郵|正品|特價|促銷|批發|"
    r"網紅|同款|限時|台灣出貨|臺灣出貨|當天出貨|快速出貨|原廠|官方|旗艦店"
)
# Attribute keys whose values never decide a code
_NOISE_KEYS = frozenset(
    (
        "brand",
        "brand name",
        "model",
        "model number",
        "model no",
        "origin",
        "place of origin",
        "country of origin",
        "certification",
        "sku",
        "upc",
        "ean",
        "mpn",
        "item id",
        "release date",
        "choice",
        "semi choice",
        "semi_choice",
        "is customized",
        "is_customized",
        "customized",
        "warranty",
        "color",
        "colour",
        "size",
        "quantity",
        "weight",
        "net weight",
        "gross weight",
        "dimensions",
        "high-concerned chemical",
        "hign-concerned chemical",
        "cn",
        "seller",
        "shipping",
        "price",
    )
)
_CATEGORY_KEYS = frozenset(
    ("category", "categories", "category path", "department", "類別", "分類")
)
_KEY = re.compile(r"(?:^|[;|\n]|\s/\s|[,.]\s)\s*([a-z][a-z _/&'-]{0,28}?|類別|分類)\s*:\s*")
_USE = re.compile(r"\s(?:for|compatible with|fits|fit for|suitable for)\s|適用|適合|用於")


@dataclass(frozen=True, slots=True)
class Segment:
    """A part of a description and how much its words count."""

    text: str
    weight: float
    kind: str  # "title" | "category" | "attribute"


def segments(text: str) -> list[Segment]:
    """A (normalised) description cut into its title, category path and attributes.

    `Category: Home > Kitchen > Knives` and `Material: Steel; Gender: Women` are recognised
    by their `key:` form; everything before the first key is the title.  Attributes whose
    key is in `_NOISE_KEYS` are dropped.
    """
    marks = list(_KEY.finditer(text))
    if not marks:
        return [Segment(text, 1.0, "title")]
    out = []
    title = text[: marks[0].start()].strip()
    if title:
        out.append(Segment(title, 1.0, "title"))
    for m, nxt in itertools.zip_longest(marks, marks[1:]):
        key = " ".join(m.group(1).replace("_", " ").split())
        value = text[m.end() : nxt.start() if nxt else len(text)].strip(" ;|,")
        if not value or key in _NOISE_KEYS:
            continue
        if key in _CATEGORY_KEYS:
            nodes = [n.strip() for n in re.split(r">|»|/|\\", value) if n.strip()]
            for i, node in enumerate(nodes):
                last = i == len(nodes) - 1
                out.append(Segment(node, 1.0 if last else CATEGORY_WEIGHT, "category"))
        elif key in ("title", "product", "product name", "name", "item", "description"):
            out.append(Segment(value, 1.0, "title"))
        else:
            decisive = any(w in key for w in ("material", "fabric", "composition", "type"))
            weight = 1.0 if decisive else ATTRIBUTE_WEIGHT
            out.append(Segment(value, weight, "attribute"))
    return out or [Segment(text, 1.0, "title")]


@cache
def _s2tw() -> Any:  # an opencc.OpenCC (the package has no type information)
    import opencc

    return opencc.OpenCC("s2tw")


def to_traditional(text: str) -> str:
    """Simplified Chinese characters converted to Traditional (Taiwan); others unchanged."""
    if not _HAN.search(text):
        return text
    return _s2tw().convert(text)


def has_han(text: str) -> bool:
    """True when the text holds Chinese characters."""
    return _HAN.search(text) is not None


def normalize(text: str) -> str:
    """Lower-case, NFKC, Traditional Chinese, spelling unified, nomenclature phrases in trade
    words, packing dropped; cut to MAX_CHARS."""
    text = unicodedata.normalize("NFKC", text[:MAX_CHARS]).lower()
    text = to_traditional(text)
    text = _ZH_NOISE.sub(" ", text)
    text = text.replace("\u2019", "'").replace("`", "'")
    for pattern, repl in _REWRITES:
        text = pattern.sub(repl, text)
    return _PACKING.sub(" ", text)


def _singular(word: str) -> str:
    """A crude English singular: enough that "tyres" meets "tyre" and "boxes" meets "box"."""
    if len(word) <= 3 or word.endswith(("ss", "us", "is", "ous")):
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("ches", "shes", "xes", "sses", "zes", "oes")):
        return word[:-2]
    if word.endswith("s"):
        return word[:-1]
    return word


def _stem(word: str) -> str:
    """-ed and -ing cut when a stem of 4+ letters is left: "skimmed" meets "skim",
    "printed" meets "print", "roasting" meets "roast"."""
    for suffix in ("ing", "ed"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            stem = word[: -len(suffix)]
            if len(stem) >= 4 and stem[-1] == stem[-2] and stem[-1] not in "ls":
                stem = stem[:-1]
            return stem
    return word


def words(text: str) -> list[str]:
    """The content words of a normalised text, singular; numbers and stopwords dropped."""
    out = []
    for tok in _TOKEN.findall(text):
        if tok in STOPWORDS or len(tok) < 2:
            continue
        out.append(_stem(_singular(tok)))
    return out


_VOWELS = re.compile(r"[aeiou]")
_DOUBLE = re.compile(r"(.)\1+")


def skeleton(word: str) -> str:
    """First letter and the consonants after it, doubles collapsed: "balsam" -> "blsm",
    "raspberry" -> "rspbry"; "" for words too short to abbreviate."""
    if len(word) < 4 or not word.isalpha():
        return ""
    sk = _DOUBLE.sub(r"\1", word[0] + _VOWELS.sub("", word[1:]))
    return sk if len(sk) >= 3 else ""


# --- quantities -----------------------------------------------------------------------------

# Where the nomenclature splits each quantity (collected from the HS 2022 subheading texts):
# a value falls in bin k = how many thresholds lie below it ("not exceeding X" includes X).
THRESHOLDS: dict[str, tuple[float, ...]] = {
    "cc": (50, 250, 300, 500, 800, 1000, 1500, 2500, 3000),
    "w": (1, 20, 37.5, 50, 125, 200, 750, 1500, 18e3, 37e3, 75e3, 130e3, 375e3, 1e6, 5e6, 1e7),
    "kva": (1, 16, 75, 375, 500, 650, 750, 10000),
    "v": (60, 100, 1000),
    "gsm": (25, 40, 70, 100, 150, 170, 200, 225, 300, 650),
    "vol": (0.5, 80),
}
_UNITS: tuple[tuple[str, str, float], ...] = (
    ("cc", r"cc|cm3|cm³|c\.c\.", 1.0),
    ("kva", r"kva", 1.0),
    ("w", r"mw", 1e6),
    ("w", r"kw|kilowatts?", 1e3),
    ("w", r"w|watts?|瓦", 1.0),
    ("v", r"v|volts?|伏特?", 1.0),
    ("gsm", r"g/m2|g/m²|gsm|gr/m2|g/sqm", 1.0),
    ("vol", r"%\s*vol|%\s*abv|%\s*alc|度", 1.0),
)
_NUM = r"(\d+(?:[.,]\d+)?)"
_QTY = tuple(
    (unit, re.compile(_NUM + r"\s*(?:" + rx + r")(?![a-z])"), factor) for unit, rx, factor in _UNITS
)
_RANGE = re.compile(
    r"(not )?exceeding\s+"
    + _NUM
    + r"\s*([a-z/%²³ ]{1,8}?)(?:\s+but not exceeding\s+"
    + _NUM
    + r"\s*([a-z/%²³ ]{1,8}?))?(?![a-z])"
)


def _bin(unit: str, value: float) -> int:
    return bisect.bisect_left(THRESHOLDS[unit], value)


def _unit_of(text: str) -> tuple[str, float] | None:
    for unit, rx, factor in _QTY:
        if rx.fullmatch("1 " + text.strip()) or rx.fullmatch("1" + text.strip()):
            return unit, factor
    return None


def quantity_features(text: str) -> list[str]:
    """`n:<unit>:<bin>` for each quantity a text states, and for each range the
    nomenclature states ("exceeding 50cc but not exceeding 250cc" -> every bin inside)."""
    out: list[str] = []
    ranged = []
    for m in _RANGE.finditer(text):
        first = _unit_of(m.group(3))
        if first is None:
            continue
        unit, factor = first
        a = float(m.group(2).replace(",", "")) * factor
        if m.group(4) is not None:
            second = _unit_of(m.group(5))
            if second is None or second[0] != unit:
                continue
            lo, hi = _bin(unit, a) + 1, _bin(unit, float(m.group(4).replace(",", "")) * second[1])
        elif m.group(1):  # not exceeding a
            lo, hi = 0, _bin(unit, a)
        else:  # exceeding a
            lo, hi = _bin(unit, a) + 1, len(THRESHOLDS[unit])
        out.extend(f"n:{unit}:{k}" for k in range(lo, hi + 1))
        ranged.append(m.span())
    for unit, rx, factor in _QTY:
        for m in rx.finditer(text):
            if any(a <= m.start() < b for a, b in ranged):
                continue
            value = float(m.group(1).replace(",", ".")) * factor
            out.append(f"n:{unit}:{_bin(unit, value)}")
            ranged.append(m.span())
    return out


# --- features -------------------------------------------------------------------------------


class Weights(dict[str, float]):
    """Feature -> weight; a missing feature weighs 0 (read without being added), as in a
    `collections.Counter`, whose values the type checker takes for integers."""

    def __missing__(self, key: str) -> float:
        return 0.0


def _han_features(run: str, weight: float, counts: Weights) -> None:
    for ch in run:
        counts["u:" + ch] += weight
    for n in (2, 3):
        for i in range(len(run) - n + 1):
            counts["h:" + run[i : i + n]] += weight


def _latin_features(part: str, weight: float, counts: Weights, head: bool, query: bool) -> None:
    ws = words(part)
    for j, w in enumerate(ws):
        boost = HEAD_BOOST if head and j == len(ws) - 1 and len(ws) <= HEAD_MAX_WORDS else 1.0
        counts["w:" + w] += weight * boost
        sk = skeleton(w)
        if sk:
            counts["k:" + sk] += weight * SKELETON_WEIGHT
        padded = f"#{w}#"
        for n in (3, 4, 5):
            for i in range(len(padded) - n + 1):
                counts["c:" + padded[i : i + n]] += weight
    for a, b in itertools.pairwise(ws):
        counts[f"b:{a}_{b}"] += weight


def features(text: str, query: bool = False) -> Weights:
    """Counts of the features of a raw text (see the module docstring).

    Words after "for" (up to the next comma or semicolon) count half: in "phone case for
    iPhone 15" or "resin for suspension PVC" the thing is before "for", its use after.
    For a `query` (a trader's description), each title clause after the first counts
    `CLAUSE_DECAY` less, down to `MIN_CLAUSE_WEIGHT`: declarations name the goods first and
    add packing, grades and specifications after commas.
    """
    counts = Weights()
    norm = normalize(text)
    for q in quantity_features(norm):
        counts[q] += 1.0
    for seg in segments(norm):
        clauses = re.split(r"[,;:()|]", seg.text) if seg.kind == "title" else [seg.text]
        for k, clause in enumerate(clauses):
            base = max(MIN_CLAUSE_WEIGHT, 1.0 - CLAUSE_DECAY * k) if query else 1.0
            base *= seg.weight
            m = _USE.search(" " + clause + " ")
            head, use = (
                (clause, "")
                if m is None
                else (clause[: max(0, m.start() - 1)], clause[max(0, m.end() - 1) :])
            )
            for part, weight in ((head, base), (use, base * USE_WEIGHT)):
                if not part.strip():
                    continue
                for run in _HAN_RUN.findall(part):
                    _han_features("".join(run.split()), weight, counts)
                is_head = (
                    query and k == 0 and part is head and seg.kind == "title" and not has_han(part)
                )
                _latin_features(_HAN.sub(" ", part), weight, counts, is_head, query)
    return counts


def has_letters(text: str) -> bool:
    """True when the text holds a letter of any script (not only digits, signs, spaces)."""
    return any(ch.isalpha() for ch in text)
