"""Question text for de-duplication and decontamination: normalised tokens, MinHash band keys, n-grams.

Normalisation makes copies that differ only in form compare equal: case, whitespace, LaTeX
spacing and delimiters, thousands separators, "3.0" vs "3", "three" vs "3". The numbers of a
question are kept apart as its `numbers` key: two questions are near duplicates only when they
state the same numbers, so the many problems a template makes (same words, other numbers) are
never merged, and the banding join never pairs them.
"""
from __future__ import annotations

import hashlib
import re
import unicodedata
import zlib

import numpy as np
import pandas as pd
from pyspark.sql import functions as F
from pyspark.sql import types as T

NUMBER_WORDS = {
    word: str(value) for value, word in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
        "seventeen eighteen nineteen twenty".split()
    )
} | {word: str(10 * tens) for tens, word in enumerate("thirty forty fifty sixty seventy eighty ninety".split(), 3)}
LATEX_SPACING = re.compile(r"\\(?:left|right|displaystyle|textstyle|mathrm|text|operatorname)\b|\\[,;:! ]|\$")
THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
DECIMAL = re.compile(r"\d+\.\d+")
# "^" is left out: x^2 and x² (NFKC: x2) are one form.
TOKEN = re.compile(r"\\?[a-z]+|\d+(?:\.\d+)?|[+\-*/=<>]")
NUMBER = re.compile(r"\d+(?:\.\d+)?")

FEATURES = T.StructType([
    T.StructField("normalized", T.StringType()),
    T.StructField("group", T.StringType()),
    T.StructField("shingles", T.ArrayType(T.LongType())),
    T.StructField("band_keys", T.ArrayType(T.LongType())),
])


def _decimal(match: re.Match) -> str:
    text = match.group(0).rstrip("0").rstrip(".")
    return text or "0"


def tokens(text: str | None) -> list[str]:
    """The normalised tokens of a question: words, numbers in one canonical form, math operators."""
    text = unicodedata.normalize("NFKC", text or "").lower()
    text = LATEX_SPACING.sub(" ", text).replace("{", " ").replace("}", " ")
    text = DECIMAL.sub(_decimal, THOUSANDS.sub("", text))
    return [NUMBER_WORDS.get(token, token) for token in TOKEN.findall(text)]


def numbers_key(words: list[str]) -> str:
    """The multiset of numbers a question states, in a canonical order."""
    return " ".join(sorted(w for w in words if NUMBER.fullmatch(w)))


def shingle_hashes(words: list[str], size: int) -> list[int]:
    """32-bit hashes of the distinct word `size`-grams (the whole text when it is shorter)."""
    grams = {" ".join(words[i:i + size]) for i in range(max(1, len(words) - size + 1))}
    return sorted(zlib.crc32(g.encode()) for g in grams)


def ngram_hashes(words: list[str], n: int) -> list[int]:
    """Signed 64-bit hashes of the word n-grams (the whole text when it is shorter): decontamination
    joins many millions of them, so they are 64 bits wide to keep chance collisions out."""
    if not words:
        return []
    grams = {" ".join(words[i:i + n]) for i in range(max(1, len(words) - n + 1))}
    return sorted(int.from_bytes(hashlib.blake2b(g.encode(), digest_size=8).digest(), "big", signed=True) for g in grams)


class MinHasher:
    """MinHash by multiply-shift hashing in numpy, then LSH band keys.

    Each band key mixes the band's index, its rows of the signature and the row's group (its
    numbers, and what else must be equal), so an equi-join on band keys pairs only questions of one
    group that agree on a whole band.
    """

    def __init__(self, num_perm: int, bands: int, seed: int = 1):
        if num_perm % bands:
            raise ValueError(f"num_perm {num_perm} is not a multiple of bands {bands}")
        rng = np.random.default_rng(seed)
        self.bands, self.rows = bands, num_perm // bands
        self.a = rng.integers(1, 2**63, num_perm, dtype=np.uint64) | np.uint64(1)
        self.b = rng.integers(0, 2**63, num_perm, dtype=np.uint64)
        self.mix = rng.integers(1, 2**63, self.rows + 2, dtype=np.uint64) | np.uint64(1)

    def signatures(self, shingles: list[list[int]]) -> np.ndarray:
        """(rows, num_perm) minimum hash values; every list must be non-empty."""
        lengths = np.fromiter((len(s) for s in shingles), dtype=np.int64, count=len(shingles))
        flat = np.fromiter((h for s in shingles for h in s), dtype=np.uint64, count=int(lengths.sum()))
        with np.errstate(over="ignore"):
            hashed = (flat[:, None] * self.a + self.b) >> np.uint64(32)
        starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
        return np.minimum.reduceat(hashed, starts, axis=0)

    def band_keys(self, signatures: np.ndarray, groups: list[str]) -> np.ndarray:
        """(rows, bands) signed 64-bit keys."""
        n = signatures.shape[0]
        banded = signatures.reshape(n, self.bands, self.rows)
        number_hash = np.fromiter((zlib.crc32(k.encode()) for k in groups), dtype=np.uint64, count=n)
        with np.errstate(over="ignore"):
            keys = np.arange(self.bands, dtype=np.uint64)[None, :] * self.mix[-1] + number_hash[:, None] * self.mix[-2]
            for j in range(self.rows):
                keys = (keys ^ banded[:, :, j]) * self.mix[j]
                keys ^= keys >> np.uint64(29)
        return keys.view(np.int64)


def features(questions: pd.Series, scopes: pd.Series, shingle_words: int, hasher: MinHasher) -> pd.DataFrame:
    """Per question: normalised text, group (its numbers and its scope: only rows of one group are
    compared), shingle hashes and band keys."""
    words = [tokens(q) for q in questions]
    shingles = [shingle_hashes(w, shingle_words) for w in words]
    groups = [f"{numbers_key(w)}|{scope or ''}" for w, scope in zip(words, scopes)]
    keys = hasher.band_keys(hasher.signatures(shingles), groups) if len(words) else np.zeros((0, hasher.bands), np.int64)
    return pd.DataFrame({
        "normalized": [" ".join(w) for w in words],
        "group": groups,
        "shingles": shingles,
        "band_keys": list(keys),
    })


def features_udf(shingle_words: int, num_perm: int, bands: int):
    """A pandas UDF: (question, scope) -> struct(normalized, group, shingles, band_keys). The scope
    (e.g. the question's images) must be equal too for two questions to pair."""
    hasher = MinHasher(num_perm, bands)

    @F.pandas_udf(FEATURES)
    def question_features(questions: pd.Series, scopes: pd.Series) -> pd.DataFrame:
        return features(questions, scopes, shingle_words, hasher)

    return question_features


def ngrams_udf(n: int):
    """A pandas UDF: question -> its n-gram hashes (array<long>)."""

    @F.pandas_udf(T.ArrayType(T.LongType()))
    def question_ngrams(questions: pd.Series) -> pd.Series:
        return pd.Series([ngram_hashes(tokens(q), n) for q in questions])

    return question_ngrams
