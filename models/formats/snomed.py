"""Short names of the scored ECG diagnoses, so figures show ``AF`` rather than ``164889003``.

The abbreviations are those of the 2020/2021 Challenge scoring tables' documentation; codes
that the tables treat as equivalent share one name.
"""

from __future__ import annotations

ABBREVIATIONS = {
    "164889003": "AF",
    "164890007": "AFL",
    "6374002": "BBB",
    "426627000": "Brady",
    "733534002": "LBBB",
    "164909002": "LBBB",
    "713427006": "RBBB",
    "59118001": "RBBB",
    "270492004": "IAVB",
    "713426002": "IRBBB",
    "39732003": "LAD",
    "445118002": "LAnFB",
    "164947007": "LPR",
    "251146004": "LQRSV",
    "111975006": "LQT",
    "698252002": "NSIVCB",
    "426783006": "NSR",
    "284470004": "PAC",
    "63593006": "SVPB",
    "10370003": "PR",
    "365413008": "PRWP",
    "427172004": "PVC",
    "17338001": "VPB",
    "164917005": "QAb",
    "47665007": "RAD",
    "427393009": "SA",
    "426177001": "SB",
    "427084000": "STach",
    "164934002": "TAb",
    "59931005": "TInv",
}


def class_label(code: str) -> str:
    """``AF`` for ``164889003``; names without an abbreviation (murmur classes) stay as they are."""
    return ABBREVIATIONS.get(code, code)
