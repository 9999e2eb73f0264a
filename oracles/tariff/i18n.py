"""The dialogue in the user's language: Chinese texts of the questions, and Chinese words
that already answer one.

Why a table and not machine translation: the questions are few and fixed (the facets of
`questions.py` and the heading / subheading choices), and an officer reading a question
about 針織 vs 梭織 must see the terms of Taiwan's tariff, not a paraphrase.  A description
in Chinese gets the questions in Chinese (Traditional); the option ids stay the same, so an
answer means the same thing in both languages.

`SAID_ZH` lets the dialogue see that 「冷凍去骨牛肉」 already says "frozen" and "boneless",
as the English patterns do for "frozen boneless beef", so it does not ask again.
"""

from __future__ import annotations

import re

from oracles.tariff.text import has_han

EN = "en"
ZH = "zh"

ZH_TEXT: dict[str, str] = {
    # facet questions
    "Is it fresh or chilled, frozen, dried / salted / smoked, or cooked / prepared?": (
        "是生鮮或冷藏、冷凍、乾製／鹽漬／燻製，還是已調製或保藏？"
    ),
    "Is the meat boneless, or with bone in?": "肉是去骨的，還是帶骨？",
    "Is it knitted (or crocheted), or woven?": "是針織（或鉤針織），還是梭織？",
    "Is it for men or boys, for women or girls, or for babies?": "是男用、女用，還是嬰兒用？",
    "What textile material is it mainly made of?": "主要是什麼紡織材料製成？",
    "Synthetic fibres (polyester, nylon, acrylic) or artificial fibres "
    "(viscose, rayon, acetate)?": "合成纖維（聚酯、尼龍、壓克力）還是再生纖維（嫘縈、醋酸纖維）？",
    "What material is it made of?": "是什麼材料製成？",
    "What are the uppers (the part above the sole) made of?": "鞋面（鞋底以上部分）是什麼材料？",
    "Does it cover the ankle (boots)?": "是否蓋過腳踝（靴）？",
    "Is it sports footwear (training, tennis, ski...)?": "是運動鞋（訓練、網球、滑雪等）嗎？",
    "Is the battery rechargeable?": "電池可以充電嗎？",
    "What is the battery chemistry?": "電池是哪一種？",
    "Green tea (not fermented) or black tea (fermented)?": "綠茶（未發酵）還是紅茶（發酵）？",
    "Is it in packings of 3 kg or less?": "每件包裝是否不超過3公斤？",
    "What is the seat's frame made of?": "座椅的框架是什麼材料？",
    "Is it upholstered?": "是否有軟墊？",
    "How is it powered?": "以什麼動力推動？",
    "Is it put up for retail sale (packed for consumers)?": "是否為零售包裝？",
    "Is it seed for sowing?": "是播種用的種子嗎？",
    "Is it roasted?": "是否已烘焙？",
    "Is it decaffeinated?": "是否已去咖啡因？",
    "Is it in shell, or shelled?": "是帶殼，還是去殼？",
    "Which of these kinds of product is it?": "是下列哪一類貨品？",
    "Which of these descriptions fits it best?": "哪一項描述最符合？",
    # option labels
    "Fresh or chilled": "生鮮或冷藏",
    "Frozen": "冷凍",
    "Dried, salted, smoked or in brine": "乾、鹽漬、燻製或浸鹽水",
    "Cooked, prepared or preserved": "已調製或保藏",
    "Live, or none of these": "活的，或以上皆非",
    "Boneless": "去骨",
    "With bone in (carcasses, half-carcasses, cuts with bone)": "帶骨（屠體、半片屠體、帶骨切塊）",
    "Knitted or crocheted": "針織或鉤針織",
    "Woven (not knitted or crocheted)": "梭織（非針織或鉤針織）",
    "Men's or boys'": "男用",
    "Women's or girls'": "女用",
    "Babies'": "嬰兒用",
    "Unisex or not said": "男女通用或未說明",
    "Cotton": "棉",
    "Wool or fine animal hair (cashmere...)": "羊毛或動物細毛（喀什米爾等）",
    "Synthetic or artificial fibres (polyester, nylon, acrylic, viscose)": (
        "合成或再生纖維（聚酯、尼龍、壓克力、嫘縈）"
    ),
    "Silk": "絲",
    "Flax, linen, jute or other vegetable fibres": "亞麻、黃麻或其他植物纖維",
    "Other textile materials": "其他紡織材料",
    "Not a textile / not sure": "不是紡織品／不確定",
    "Synthetic (polyester, nylon, acrylic...)": "合成纖維（聚酯、尼龍、壓克力等）",
    "Artificial (viscose, rayon, acetate...)": "再生纖維（嫘縈、醋酸纖維等）",
    "Plastics": "塑膠",
    "Iron or steel": "鋼鐵",
    "Aluminium": "鋁",
    "Copper": "銅",
    "Wood or bamboo": "木或竹",
    "Glass": "玻璃",
    "Paper or paperboard": "紙或紙板",
    "Rubber": "橡膠",
    "Leather": "皮革",
    "Ceramic or porcelain": "陶瓷或瓷",
    "Precious metal (gold, silver, platinum)": "貴金屬（金、銀、鉑）",
    "Another material": "其他材料",
    "Leather or composition leather": "皮革或組合皮革",
    "Textile materials": "紡織材料",
    "Rubber or plastics": "橡膠或塑膠",
    "Yes, covers the ankle": "是，蓋過腳踝",
    "No (shoes, sandals, slippers)": "否（鞋、涼鞋、拖鞋）",
    "Yes, sports footwear": "是，運動鞋",
    "No": "否",
    "Yes, rechargeable (accumulator)": "是，可充電（蓄電池）",
    "No, single-use (primary cell)": "否，一次性（原電池）",
    "Lithium / lithium-ion": "鋰／鋰離子",
    "Lead-acid": "鉛酸",
    "Nickel (NiCd, NiMH)": "鎳（鎳鎘、鎳氫）",
    "Alkaline / zinc-manganese": "鹼性／鋅錳",
    "Silver oxide": "氧化銀",
    "Zinc-air": "鋅空氣",
    "Other / parts": "其他／零件",
    "Green (not fermented)": "綠茶（未發酵）",
    "Black or partly fermented": "紅茶或部分發酵",
    "Yes, 3 kg or less per packing": "是，每件不超過3公斤",
    "No, more than 3 kg per packing": "否，每件超過3公斤",
    "Wood": "木",
    "Metal": "金屬",
    "Bamboo, rattan, cane or osier": "竹、藤或柳條",
    "Other (e.g. plastic)": "其他（例如塑膠）",
    "Upholstered": "有軟墊",
    "Not upholstered": "無軟墊",
    "Electric motor only": "僅電動馬達",
    "Petrol (spark-ignition) engine only": "僅汽油（火花點火）引擎",
    "Diesel (compression-ignition) engine only": "僅柴油（壓縮點火）引擎",
    "Hybrid (engine and electric motor)": "油電混合（引擎及電動馬達）",
    "Other": "其他",
    "Yes, for retail sale": "是，零售包裝",
    "No, in bulk or not for retail sale": "否，散裝或非零售包裝",
    "Yes, for sowing": "是，播種用",
    "Roasted": "已烘焙",
    "Not roasted": "未烘焙",
    "Decaffeinated": "已去咖啡因",
    "Not decaffeinated": "未去咖啡因",
    "In shell": "帶殼",
    "Shelled": "去殼",
    "Something else": "其他",
    "Don't know": "不知道",
    "None of these": "以上皆非",
}

# Chinese words that already answer a facet: facet key -> option id -> pattern
SAID_ZH: dict[str, dict[str, re.Pattern[str]]] = {
    facet: {option: re.compile(rx) for option, rx in options.items()}
    for facet, options in {
        "state": {
            "fresh": r"生鮮|冷藏|新鮮",
            "frozen": r"冷凍",
            "dried": r"乾|鹽漬|燻|醃",
            "prepared": r"調製|罐頭|熟|保藏",
        },
        "bone": {"boneless": r"去骨|無骨", "bone_in": r"帶骨|屠體"},
        "construction": {"knitted": r"針織|鉤針|鉤編", "woven": r"梭織|平織"},
        "gender": {"men": r"男", "women": r"女", "babies": r"嬰|寶寶|幼兒"},
        "fibre": {
            "cotton": r"棉",
            "wool": r"羊毛|羊絨|喀什米爾",
            "manmade": r"聚酯|滌綸|尼龍|錦綸|壓克力|腈綸|合成纖維|人造纖維|嫘縈|人造絲",
            "silk": r"蠶絲|真絲",
            "flax": r"亞麻|麻",
        },
        "material": {
            "plastics": r"塑膠|塑料|壓克力|矽膠|PVC",
            "steel": r"鋼|鐵",
            "aluminium": r"鋁",
            "copper": r"銅",
            "wood": r"木|竹",
            "glass": r"玻璃",
            "paper": r"紙",
            "rubber": r"橡膠",
            "leather": r"皮革|真皮|牛皮",
            "ceramic": r"陶|瓷",
            "precious": r"黃金|純金|純銀|925銀|鉑金|白金",
        },
        "rechargeable": {"rechargeable": r"充電|蓄電|鋰電", "primary": r"乾電池|一次性"},
        "chemistry": {"lithium": r"鋰", "lead_acid": r"鉛酸", "nickel": r"鎳", "alkaline": r"鹼性"},
        "tea": {"green": r"綠茶|抹茶", "black": r"紅茶|烏龍|普洱"},
        "propulsion": {
            "electric": r"電動",
            "petrol": r"汽油",
            "diesel": r"柴油",
            "hybrid": r"油電|混合動力",
        },
        "roasted": {"roasted": r"烘焙|烘烤|炒"},
        "decaf": {"decaf": r"低咖啡因|無咖啡因"},
        "shell": {"in_shell": r"帶殼", "shelled": r"去殼|仁"},
    }.items()
}


def language_of(text: str) -> str:
    """`zh` when the text holds Chinese characters, else `en`."""
    return ZH if has_han(text) else EN


def translate(text: str, lang: str) -> str:
    """`text` in `lang` (Chinese from the table; English, and anything missing, as is)."""
    return ZH_TEXT.get(text, text) if lang == ZH else text


def said_in_chinese(facet: str, description: str) -> bool:
    """True when a Chinese description already names an option of `facet`."""
    return any(rx.search(description) for rx in SAID_ZH.get(facet, {}).values())


def short_zh(text: str | None) -> str | None:
    """The subheading's own words of a Chinese HS6 text ("heading；dash level；subheading"):
    its last part, with the part before it when the last says nothing alone (「其他」,
    「零件」); the heading is shown on its own line anyway."""
    if not text:
        return text
    parts = [p for p in text.split("；") if p]
    if len(parts) > 1 and len(parts[-1]) <= 4:
        return "；".join(parts[-2:])
    return parts[-1] if parts else text
