import random

import pytest

from runtime.near_duplicates import cluster_representatives, phash_pairs, probe_masks


def flip(phash: str, bits: list[int]) -> str:
    value = int(phash, 16)
    for bit in bits:
        value ^= 1 << bit
    return f"{value:016x}"


def test_probe_masks_cover_every_pattern_up_to_the_radius():
    masks = probe_masks(4, 2)
    assert len(masks) == 1 + 4 + 6 and len(set(masks)) == len(masks)
    assert all(bin(m).count("1") <= 2 for m in masks)


@pytest.mark.parametrize("bands", [4, 8, 16])
def test_every_pair_within_the_distance_is_found_and_no_other(spark, bands):
    rng = random.Random(bands)
    targets = [(f"t{i}", f"{rng.getrandbits(64):016x}") for i in range(200)]
    # Each query sits at a known distance from one target, its flipped bits spread over the bands,
    # including hashes with the top bit set (a long is signed).
    queries = [(f"q{d}", flip(targets[d][1], rng.sample(range(64), d))) for d in range(0, 13)]
    queries.append(("top", flip("8000000000000000", [])))
    q = spark.createDataFrame(queries, "seed_id string, phash string")
    t = spark.createDataFrame(targets + [("t_top", "8000000000000003")], "index_id string, phash string")
    found = {(r.seed_id, r.index_id): r.distance for r in phash_pairs(q, "seed_id", t, "index_id", 8, bands=bands).collect()}
    expected = {(f"q{d}", f"t{d}"): d for d in range(0, 9)}
    expected[("top", "t_top")] = 2
    brute = {
        (qi, ti): bin(int(qh, 16) ^ int(th, 16)).count("1")
        for qi, qh in queries for ti, th in targets + [("t_top", "8000000000000003")]
        if bin(int(qh, 16) ^ int(th, 16)).count("1") <= 8
    }
    assert found == brute and expected.items() <= found.items()


def test_self_pairs_are_listed_once_and_clusters_take_the_smallest_id(spark):
    base = "0f0f0f0f0f0f0f0f"
    rows = [("a", base), ("b", flip(base, [1])), ("c", flip(base, [1, 20])), ("d", flip(base, [1, 20, 40])),
            ("x", "ffffffff00000000"), ("y", flip("ffffffff00000000", [63])), ("z", "00000000ffffffff")]
    df = spark.createDataFrame(rows, "image_id string, phash string")
    pairs = phash_pairs(df, "image_id", None, "image_id", 1)
    assert sorted((r.image_id, r.other_image_id) for r in pairs.collect()) == [("a", "b"), ("b", "c"), ("c", "d"), ("x", "y")]
    clusters = {r.member: r.representative for r in cluster_representatives(pairs, "image_id", "other_image_id").collect()}
    assert clusters == {"a": "a", "b": "a", "c": "a", "d": "a", "x": "x", "y": "x"}


def test_probing_too_many_bits_is_refused(spark):
    df = spark.createDataFrame([("a", "0" * 16)], "image_id string, phash string")
    with pytest.raises(ValueError, match="too many"):
        phash_pairs(df, "image_id", None, "image_id", 12, bands=2)
