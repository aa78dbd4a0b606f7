"""Normalising stems so that the same question typed twice is recognised as a duplicate.

Two stems are "the same" when they are equal after: Unicode NFKC (full-width letters, digits and ASCII
punctuation become half-width), mapping the CJK punctuation NFKC leaves alone (。、“”‘’【】《》…) to ASCII,
removing every whitespace character, and case-folding. The key stored on an item is a SHA-256 of that text.
"""
from __future__ import annotations

import hashlib
import re
import unicodedata

_CJK_PUNCT = str.maketrans({
    "。": ".", "、": ",", "，": ",", "；": ";", "：": ":", "？": "?", "！": "!",
    "“": '"', "”": '"', "‘": "'", "’": "'", "「": '"', "」": '"', "『": '"', "』": '"',
    "【": "[", "】": "]", "〔": "[", "〕": "]", "《": "<", "》": ">", "〈": "<", "〉": ">",
    "（": "(", "）": ")", "—": "-", "－": "-", "～": "~", "…": "...", "·": ".", "・": ".",
})
_SPACE = re.compile(r"\s+")


def normalise_stem(stem: str) -> str:
    text = unicodedata.normalize("NFKC", stem or "")
    text = text.translate(_CJK_PUNCT)
    text = _SPACE.sub("", text)
    return text.casefold()


def stem_key(stem: str) -> str:
    return hashlib.sha256(normalise_stem(stem).encode("utf-8")).hexdigest()


def clean_text(value: str) -> str:
    """A cell's text as stored: trimmed, inner line breaks kept, no ideographic spaces at the ends."""
    value = "" if value is None else str(value)
    return value.replace("\r\n", "\n").replace("\r", "\n").strip().strip("\u3000").strip()
