"""Questions that tell close candidate subheadings apart, derived from their descriptions.

A *facet* is a way HS descriptions differ ("fresh or chilled" / "frozen", "knitted" /
"not knitted", "of cotton" / "of synthetic fibres", "men's" / "women's"...).  Each option
is recognised in a candidate's heading and subheading text; a candidate whose text names
exactly one option of the facet takes it, any other candidate is *unspecified* and
survives every answer.  The dialogue asks the facet whose options split the candidates'
probability most evenly (highest entropy); when no facet splits them it asks the person to
pick the heading, then the subheading, from the official descriptions.

Adding a way to ask is adding a `Facet` line below, not a branch in the dialogue.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from oracles.tariff.corpus import contexts

OTHER = "other"
UNKNOWN = "unknown"
NONE = "none"


@dataclass(frozen=True)
class Facet:
    key: str
    text: str
    options: tuple[tuple[str, str, str], ...]  # (id, label, regex over the candidate text)
    other_label: str = "Something else"

    @property
    def patterns(self) -> tuple[tuple[str, re.Pattern[str]], ...]:
        return tuple((oid, re.compile(rx)) for oid, _, rx in self.options)


FACETS: tuple[Facet, ...] = (
    Facet(
        "state",
        "Is it fresh or chilled, frozen, dried / salted / smoked, or cooked / prepared?",
        (
            ("fresh", "Fresh or chilled", r"\bfresh\b|\bchilled\b"),
            ("frozen", "Frozen", r"\bfrozen\b"),
            (
                "dried",
                "Dried, salted, smoked or in brine",
                r"\bdried\b|\bsalted\b|\bsmoked\b|\bin brine\b",
            ),
            (
                "prepared",
                "Cooked, prepared or preserved",
                r"\bprepared or preserved\b|\bcooked\b|\bpreserved\b",
            ),
        ),
        "Live, or none of these",
    ),
    Facet(
        "bone",
        "Is the meat boneless, or with bone in?",
        (
            ("boneless", "Boneless", r"\bboneless\b"),
            (
                "bone_in",
                "With bone in (carcasses, half-carcasses, cuts with bone)",
                r"\bbone in\b|\bwith bone\b|\bcarcasses\b",
            ),
        ),
    ),
    Facet(
        "construction",
        "Is it knitted (or crocheted), or woven?",
        (
            ("knitted", "Knitted or crocheted", r"(?<!not )(?<!\(not )\bknitted\b"),
            ("woven", "Woven (not knitted or crocheted)", r"\bnot knitted\b|\bwoven\b"),
        ),
    ),
    Facet(
        "gender",
        "Is it for men or boys, for women or girls, or for babies?",
        (
            ("men", "Men's or boys'", r"\bmen's\b|\bboys'"),
            ("women", "Women's or girls'", r"\bwomen's\b|\bgirls'"),
            ("babies", "Babies'", r"\bbabies'"),
        ),
        "Unisex or not said",
    ),
    Facet(
        "fibre",
        "What textile material is it mainly made of?",
        (
            ("cotton", "Cotton", r"\bcotton\b"),
            (
                "wool",
                "Wool or fine animal hair (cashmere...)",
                r"\bwool\b|\bwooll?en\b|\bmerino\b|\bcashmere\b|\bfine animal hair\b",
            ),
            (
                "manmade",
                "Synthetic or artificial fibres (polyester, nylon, acrylic, viscose)",
                r"\bman-made\b|\bsynthetic\b|\bartificial fibres\b|\bpolyester\b|\bnylon\b",
            ),
            ("silk", "Silk", r"\bsilk\b"),
            ("flax", "Flax, linen, jute or other vegetable fibres", r"\bflax\b|\bjute\b|\blinen\b"),
            (
                "other_textile",
                "Other textile materials",
                r"\bother textile materials\b|"
                r"\bof textile materials\b",
            ),
        ),
        "Not a textile / not sure",
    ),
    Facet(
        "manmade",
        "Synthetic fibres (polyester, nylon, acrylic) or artificial fibres "
        "(viscose, rayon, acetate)?",
        (
            ("synthetic", "Synthetic (polyester, nylon, acrylic...)", r"\bsynthetic\b"),
            ("artificial", "Artificial (viscose, rayon, acetate...)", r"\bartificial\b"),
        ),
    ),
    Facet(
        "material",
        "What material is it made of?",
        (
            ("plastics", "Plastics", r"\bplastics?\b"),
            ("steel", "Iron or steel", r"\biron or steel\b|\bsteel\b|\biron\b"),
            ("aluminium", "Aluminium", r"\balumini?um\b"),
            ("copper", "Copper", r"\bcopper\b"),
            ("wood", "Wood or bamboo", r"\bwood\b|\bwooden\b|\bbamboo\b"),
            ("glass", "Glass", r"\bglass\b"),
            ("paper", "Paper or paperboard", r"\bpaper\b|\bpaperboard\b"),
            ("rubber", "Rubber", r"\brubber\b"),
            ("leather", "Leather", r"\bleather\b"),
            ("ceramic", "Ceramic or porcelain", r"\bporcelain\b|\bceramic\b|\bchina\b"),
            (
                "precious",
                "Precious metal (gold, silver, platinum)",
                r"\bprecious metal\b|\bgold\b|\bsilver\b|\bplatinum\b",
            ),
        ),
        "Another material",
    ),
    Facet(
        "uppers",
        "What are the uppers (the part above the sole) made of?",
        (
            (
                "leather",
                "Leather or composition leather",
                r"\buppers of leather\b|"
                r"\buppers of leather or composition\b|"
                r"\bleather straps\b",
            ),
            ("textile", "Textile materials", r"\buppers of textile"),
            ("rubber_plastics", "Rubber or plastics", r"\buppers of rubber or plastics\b"),
        ),
    ),
    Facet(
        "ankle",
        "Does it cover the ankle (boots)?",
        (
            ("ankle", "Yes, covers the ankle", r"(?<!not )\bcovering the ankle\b"),
            (
                "not_ankle",
                "No (shoes, sandals, slippers)",
                r"\bnot covering the ankle\b|"
                r"\bother than just covering\b",
            ),
        ),
    ),
    Facet(
        "sports",
        "Is it sports footwear (training, tennis, ski...)?",
        (("sports", "Yes, sports footwear", r"^sports footwear\b"),),
        "No",
    ),
    Facet(
        "rechargeable",
        "Is the battery rechargeable?",
        (
            ("rechargeable", "Yes, rechargeable (accumulator)", r"\baccumulators\b"),
            ("primary", "No, single-use (primary cell)", r"\bprimary\b"),
        ),
    ),
    Facet(
        "chemistry",
        "What is the battery chemistry?",
        (
            ("lithium", "Lithium / lithium-ion", r"\blithium"),
            ("lead_acid", "Lead-acid", r"\blead-acid\b"),
            ("nickel", "Nickel (NiCd, NiMH)", r"\bnickel-"),
            ("alkaline", "Alkaline / zinc-manganese", r"\bmanganese dioxide\b"),
            ("silver", "Silver oxide", r"\bsilver oxide\b"),
            ("zinc_air", "Zinc-air", r"\bair-zinc\b"),
        ),
        "Other / parts",
    ),
    Facet(
        "tea",
        "Green tea (not fermented) or black tea (fermented)?",
        (
            ("green", "Green (not fermented)", r"\bgreen\b"),
            ("black", "Black or partly fermented", r"\bblack\b"),
        ),
    ),
    Facet(
        "packing",
        "Is it in packings of 3 kg or less?",
        (
            ("small", "Yes, 3 kg or less per packing", r"\bnot exceeding 3kg\b"),
            ("bulk", "No, more than 3 kg per packing", r"(?<!not )\bexceeding 3kg\b"),
        ),
    ),
    Facet(
        "frame",
        "What is the seat's frame made of?",
        (
            ("wood", "Wood", r"\bwooden frames\b|\bof wood\b"),
            ("metal", "Metal", r"\bmetal frames\b|\bother than wood\b"),
            ("bamboo_rattan", "Bamboo, rattan, cane or osier", r"\bbamboo\b|\brattan\b|\bosier\b"),
        ),
        "Other (e.g. plastic)",
    ),
    Facet(
        "upholstered",
        "Is it upholstered?",
        (
            ("upholstered", "Upholstered", r"(?<!not )\bupholstered\b"),
            ("not_upholstered", "Not upholstered", r"\bnot upholstered\b"),
        ),
    ),
    Facet(
        "propulsion",
        "How is it powered?",
        (
            (
                "electric",
                "Electric motor only",
                r"\bonly electric motor\b|\belectric motor for "
                r"propulsion\b|\bonly electric\b",
            ),
            ("petrol", "Petrol (spark-ignition) engine only", r"\bonly spark-ignition\b"),
            (
                "diesel",
                "Diesel (compression-ignition) engine only",
                r"\bonly compression-ignition\b",
            ),
            ("hybrid", "Hybrid (engine and electric motor)", r"\bboth\b.*\belectric motor"),
        ),
        "Other",
    ),
    Facet(
        "retail",
        "Is it put up for retail sale (packed for consumers)?",
        (
            (
                "retail",
                "Yes, for retail sale",
                r"(?<!not )\b(?:put up|packaged|packed) for retail "
                r"sale\b|\bmeasured doses\b",
            ),
            (
                "bulk",
                "No, in bulk or not for retail sale",
                r"\bnot (?:put up|packaged|packed) "
                r"for retail sale\b",
            ),
        ),
    ),
    Facet(
        "sowing",
        "Is it seed for sowing?",
        (("seed", "Yes, for sowing", r"\bfor sowing\b|\bseed\b"),),
        "No",
    ),
    Facet(
        "roasted",
        "Is it roasted?",
        (
            ("roasted", "Roasted", r"(?<!not )\broasted\b"),
            ("not_roasted", "Not roasted", r"\bnot roasted\b"),
        ),
    ),
    Facet(
        "decaf",
        "Is it decaffeinated?",
        (
            ("decaf", "Decaffeinated", r"(?<!not )(?<!not roasted or )\bdecaffeinated\b"),
            ("not_decaf", "Not decaffeinated", r"\bnot (?:roasted or )?decaffeinated\b"),
        ),
    ),
    Facet(
        "shell",
        "Is it in shell, or shelled?",
        (
            ("in_shell", "In shell", r"\bin shell\b"),
            ("shelled", "Shelled", r"\bshelled\b"),
        ),
    ),
)

_NEGATED = re.compile(
    r"\((?:other than|excluding|not including|except)[^)]*\)|"
    r"\b(?:other than|excluding|except)\b[^,;()]*"
)


@cache
def candidate_texts(hs6: str) -> tuple[str, str]:
    """(subheading, heading) texts a facet reads, lower-case, negated clauses removed."""
    ctx = contexts()[hs6]
    return tuple(
        _NEGATED.sub(" ", t.lower().replace("\u2019", "'")) for t in (ctx.subheading, ctx.heading)
    )  # type: ignore[return-value]


@cache
def facet_option(facet_key: str, hs6: str) -> str | None:
    """The one option of the facet this subheading names, or None (none or several).

    The subheading's own text decides; the heading's only when the subheading names none.
    """
    facet = FACETS_BY_KEY[facet_key]
    for text in candidate_texts(hs6):
        hits = [oid for oid, rx in facet.patterns if rx.search(text)]
        if hits:
            return hits[0] if len(hits) == 1 else None
    return None


FACETS_BY_KEY = {f.key: f for f in FACETS}
