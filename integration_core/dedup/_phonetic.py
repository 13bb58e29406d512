"""Cached phonetic encoders shared by comparators and blocking keys."""

from __future__ import annotations

from functools import lru_cache

import jellyfish

__all__ = ["soundex_code", "metaphone_code", "nysiis_code"]


@lru_cache(maxsize=131072)
def soundex_code(text: str) -> str:
    return str(jellyfish.soundex(text))


@lru_cache(maxsize=131072)
def metaphone_code(text: str) -> str:
    return str(jellyfish.metaphone(text))


@lru_cache(maxsize=131072)
def nysiis_code(text: str) -> str:
    return str(jellyfish.nysiis(text))
