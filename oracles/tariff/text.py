"""Text normalisation and features shared by training and inference.

Why one module: a word the trainer counts must be the word the classifier looks up, so the
nomenclature, the generated phrasings, a user's rulings and a typed description all pass
through the same `normalize` and `features`.  Nothing here depends on scikit-learn, so a
model trained with one library version reads the same on another.

Features are words (crudely singularised), word bigrams and character 3- to 5-grams of each
word (`#word#` padded), prefixed `w:`, `b:` and `c:` so the three kinds never collide.
Character n-grams carry misspellings and compounds ("tshirt", "t-shirts"); words carry the
meaning.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections import Counter

USE_WEIGHT = 0.5  # weight of the words after "for"
CLAUSE_DECAY = 0.2  # a description's later clauses weigh less (queries only)
MIN_CLAUSE_WEIGHT = 0.6
HEAD_BOOST = 1.5  # the last word of a description's first phrase names the thing (queries)
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


def normalize(text: str) -> str:
    """Lower-case, NFKC, spelling unified, nomenclature phrases in trade words; cut to MAX_CHARS."""
    text = unicodedata.normalize("NFKC", text[:MAX_CHARS]).lower()
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


def features(text: str, query: bool = False) -> Counter[str]:
    """Counts of the word, bigram and character n-gram features of a raw text.

    Words after "for" (up to the next comma or semicolon) count half: in "phone case for
    smartphones" or "resin for suspension PVC" the thing is before "for", its use after.
    For a `query` (a trader's description), each clause after the first counts
    `CLAUSE_DECAY` less, down to `MIN_CLAUSE_WEIGHT`: declarations name the goods first and
    add packing, grades and specifications after commas.
    """
    counts: Counter[str] = Counter()
    for k, clause in enumerate(re.split(r"[,;:()]", normalize(text))):
        head, _sep, use = clause.partition(" for ")
        base = max(MIN_CLAUSE_WEIGHT, 1.0 - CLAUSE_DECAY * k) if query else 1.0
        for part, weight in ((head, base), (use, base * USE_WEIGHT)):
            ws = words(part)
            for j, w in enumerate(ws):
                is_head = query and k == 0 and part is head and j == len(ws) - 1
                boost = HEAD_BOOST if is_head else 1.0
                counts["w:" + w] += weight * boost
                padded = f"#{w}#"
                for n in (3, 4, 5):
                    for i in range(len(padded) - n + 1):
                        counts["c:" + padded[i : i + n]] += weight
            for a, b in itertools.pairwise(ws):
                counts[f"b:{a}_{b}"] += weight
    return counts


def has_letters(text: str) -> bool:
    """True when the text holds a letter of any script (not only digits, signs, spaces)."""
    return any(ch.isalpha() for ch in text)
