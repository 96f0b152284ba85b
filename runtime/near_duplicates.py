"""Near duplicates at scale: perceptual-hash pairs by a banding join, and clusters of duplicates.

A 64-bit pHash (16 hex digits) is cut into `bands` equal bands. Two hashes within d bits of
each other differ in at most floor(d / bands) bits on at least one band (pigeonhole). So each
query band value is expanded to every value within that many bits ("probes"), and an
equi-join on (band, value) against the other side's plain band values finds every pair within
d bits without comparing all pairs; the exact Hamming distance then filters the candidates.
More bands: fewer bits per band, more candidates per probe; fewer bands: more probes.
"""
from __future__ import annotations

from functools import reduce
from itertools import combinations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

HASH_BITS = 64
BANDS = (2, 4, 8, 16)  # band widths that are whole hex digits and fit a long


def _band_width(bands: int) -> int:
    if bands not in BANDS:
        raise ValueError(f"bands must be one of {BANDS}, got {bands}")
    return HASH_BITS // bands


def probe_masks(width: int, radius: int) -> list[int]:
    """Every XOR mask over `width` bits with at most `radius` bits set (0 included)."""
    return [sum(1 << bit for bit in bits) for r in range(radius + 1) for bits in combinations(range(width), r)]


def _hex_long(text: Column) -> Column:
    return F.conv(text, 16, 10).cast("long")


def hamming(a: Column, b: Column) -> Column:
    """Bits that differ between two 16-hex-digit hashes (in two 32-bit halves: a long is signed)."""
    return reduce(
        lambda x, y: x + y,
        [F.bit_count(_hex_long(F.substring(a, start, 8)).bitwiseXOR(_hex_long(F.substring(b, start, 8)))) for start in (1, 9)],
    )


def band_values(df: DataFrame, id_col: str, bands: int) -> DataFrame:
    """(id, band, value): one row per band of each row's `phash`."""
    digits = _band_width(bands) // 4
    return df.select(
        F.col(id_col).alias("id"), F.col("phash"),
        F.posexplode(F.array(*[_hex_long(F.substring("phash", 1 + i * digits, digits)) for i in range(bands)])).alias("band", "value"),
    )


def phash_pairs(queries: DataFrame, query_id: str, targets: DataFrame | None, target_id: str, max_distance: int,
                bands: int = 4, radius: int | None = None) -> DataFrame:
    """Pairs (query_id, target_id, distance) of rows whose `phash` lie within max_distance bits.

    `targets=None` pairs `queries` with itself, each unordered pair once (query_id < target_id).
    `radius` is the bits probed per band; the default, floor(max_distance / bands), finds every
    pair; a smaller one trades recall for speed.
    """
    width = _band_width(bands)
    radius = max_distance // bands if radius is None else radius
    if not 0 <= radius <= 4:
        raise ValueError(f"probing {radius} bits per band is too many: use more bands")
    self_join = targets is None
    targets_banded = band_values(queries if self_join else targets, target_id if not self_join else query_id, bands)
    masks = F.array(*[F.lit(m).cast("long") for m in probe_masks(width, radius)])
    probes = (
        band_values(queries, query_id, bands)
        .select("id", "phash", "band", F.explode(masks).alias("mask"), "value")
        .select(F.col("id").alias("q_id"), F.col("phash").alias("q_phash"), "band", F.col("value").bitwiseXOR(F.col("mask")).alias("value"))
    )
    joined = probes.join(targets_banded.withColumnRenamed("id", "t_id").withColumnRenamed("phash", "t_phash"), ["band", "value"])
    if self_join:
        joined = joined.where(F.col("q_id") < F.col("t_id"))
    distance = hamming(F.col("q_phash"), F.col("t_phash"))
    return (
        joined.select("q_id", "t_id", distance.alias("distance")).where(F.col("distance") <= max_distance)
        .dropDuplicates(["q_id", "t_id"])
        .select(F.col("q_id").alias(query_id), F.col("t_id").alias(target_id if not self_join else f"other_{query_id}"), "distance")
    )


def cluster_representatives(pairs: DataFrame, a: str, b: str, max_iterations: int = 50) -> DataFrame:
    """(member, representative) for every id in `pairs`: connected components, each named by its
    smallest id. Ids in no pair are their own representatives and are not listed.

    Minimum-label propagation: each round every id takes the smallest label among itself and its
    neighbours; it stops when no label changes (rounds ~ the longest chain of near duplicates).
    """
    edges = pairs.select(F.col(a).alias("src"), F.col(b).alias("dst"))
    edges = edges.union(edges.select(F.col("dst").alias("src"), F.col("src").alias("dst"))).distinct().localCheckpoint()
    labels = edges.select(F.col("src").alias("member")).distinct().withColumn("representative", F.col("member")).localCheckpoint()
    for _ in range(max_iterations):
        offered = edges.join(labels, edges.src == labels.member).select(F.col("dst").alias("member"), "representative")
        updated = (
            labels.union(offered).groupBy("member").agg(F.min("representative").alias("representative")).localCheckpoint()
        )
        changed = updated.join(labels.withColumnRenamed("representative", "before"), "member").where(
            F.col("representative") != F.col("before")
        ).limit(1).count()
        labels = updated
        if not changed:
            return labels
    raise RuntimeError(f"near-duplicate clusters did not settle in {max_iterations} rounds")


def question_pairs(rows: DataFrame, id_col: str, min_jaccard: float) -> DataFrame:
    """Pairs (id_col, other_<id_col>, jaccard) of near-duplicate questions, each unordered pair once.

    `rows` carry `udfs.questions` features: `band_keys` (MinHash LSH bands), `group` and
    `shingles`. Rows sharing a band key are candidates; a pair is kept when both are of one
    group (same numbers and scope) and the exact Jaccard similarity of their shingle sets
    reaches min_jaccard.
    """
    banded = rows.select(F.col(id_col).alias("a"), F.explode("band_keys").alias("key"))
    candidates = (
        banded.join(banded.select(F.col("a").alias("b"), "key"), "key").where(F.col("a") < F.col("b"))
        .select("a", "b").distinct()
    )
    side = rows.select(F.col(id_col).alias("id"), "group", "shingles")
    left = side.select(F.col("id").alias("a"), F.col("group").alias("a_group"), F.col("shingles").alias("a_shingles"))
    right = side.select(F.col("id").alias("b"), F.col("group").alias("b_group"), F.col("shingles").alias("b_shingles"))
    jaccard = F.size(F.array_intersect("a_shingles", "b_shingles")) / F.size(F.array_union("a_shingles", "b_shingles"))
    return (
        candidates.join(left, "a").join(right, "b")
        .where(F.col("a_group") == F.col("b_group"))
        .select(F.col("a").alias(id_col), F.col("b").alias(f"other_{id_col}"), jaccard.alias("jaccard"))
        .where(F.col("jaccard") >= min_jaccard)
    )


def phash_clusters(rows: DataFrame, id_col: str, max_distance: int) -> DataFrame:
    """(member, representative) for every id of `rows` (id_col, phash): the smallest id of its
    cluster of near-duplicate images, itself when it has none."""
    clustered = cluster_representatives(phash_pairs(rows, id_col, None, id_col, max_distance), id_col, f"other_{id_col}")
    members = rows.select(F.col(id_col).alias("member")).distinct()
    return members.join(clustered, "member", "left").select("member", F.coalesce("representative", "member").alias("representative"))
