"""Stable, content-derived keys: the same content always gets the same key."""
from __future__ import annotations

import hashlib

from pyspark.sql import Column
from pyspark.sql import functions as F


def stable_id(*parts: object) -> str:
    return hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).hexdigest()[:32]


def stable_id_col(*columns: Column | str) -> Column:
    """The same key as stable_id, computed in Spark."""
    return F.substring(F.sha2(F.concat_ws("\x1f", *columns), 256), 1, 32)
