"""The code lists a declaration is checked against: ISO 3166-1 countries, ISO 4217
currencies, UN/ECE Rec 20 units, and the transport document types a declaration cites.
"""

from __future__ import annotations

from collections.abc import Mapping

# Transport documents a declaration cites and a cargo manifest lists (offchain/manifests/):
# bill of lading, house bill, sea waybill, air waybill, house air waybill, road (CMR) and
# rail (CIM) consignment notes.
TRANSPORT_DOCUMENT_TYPES = ("BL", "HBL", "SWB", "AWB", "HAWB", "CMR", "CIM")


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# ISO 3166-1 alpha-2 (249 codes, from the Debian iso-codes 4.15 tables).
COUNTRY_CODES: frozenset[str] = _words(
    """
    AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ
    BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM
    DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS
    GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN
    KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ
    MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM
    PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV
    SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI
    VN VU WF WS YE YT ZA ZM ZW
    """
)

# ISO 4217 currencies a customs value can be stated in: the active codes, with both sides
# of the recent changeovers (ANG/XCG, SLL/SLE, ZWL/ZWG), without HRK (replaced by EUR in
# 2023), fund codes (BOV, CHE, CHW, CLF, COU, MXV, USN, UYI, UYW), precious metals (XAU,
# XAG, XPD, XPT), bond-market units (XBA-XBD), XSU, XUA and the test / no-currency codes
# XTS and XXX.
CURRENCY_CODES: frozenset[str] = _words(
    """
    AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN
    BWP BYN BZD CAD CDF CHF CLP CNY COP CRC CUC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR
    FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD
    JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT
    MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG
    QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SLL SOS SRD SSP STN SVC SYP SZL THB
    TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD UYU UZS VED VES VND VUV WST XAF XCD XCG XDR
    XOF XPF YER ZAR ZMW ZWG ZWL
    """
)

# UN/ECE Recommendation 20 units seen on customs declarations.
UNIT_CODES: Mapping[str, str] = {
    "KGM": "kilogram",
    "GRM": "gram",
    "TNE": "tonne",
    "LBR": "pound",
    "CTM": "carat (metric)",
    "LTR": "litre",
    "MLT": "millilitre",
    "MTQ": "cubic metre",
    "MTR": "metre",
    "CMT": "centimetre",
    "MMT": "millimetre",
    "MTK": "square metre",
    "CMK": "square centimetre",
    "C62": "one (unit)",
    "H87": "piece",
    "NAR": "number of articles",
    "NPR": "number of pairs",
    "PR": "pair",
    "DZN": "dozen",
    "T3": "thousand pieces",
    "SET": "set",
    "KWH": "kilowatt hour",
    "BX": "box",
}
