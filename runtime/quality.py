"""The dataset's quality report, read from the tables: the funnel in the shape of the reference's
table 3 (QA pairs, pairs with images, unique questions, images, unique images at each stage),
subjects, solution steps, images per QA, the text-only share, what curation removed and why,
and how many final answers are verified. Figures are drawn by `runtime/plots.py`.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from runtime.keys import stable_id_col
from runtime.near_duplicates import phash_clusters
from runtime.tables import Tables

FUNNEL_COLUMNS = ("qa_pairs", "pairs_with_images", "unique_questions", "images", "unique_images")


@dataclass
class QualityReport:
    funnel: dict[str, dict[str, int]]  # stage (candidate, valid, final) -> FUNNEL_COLUMNS
    subjects: dict[str, int]
    solution_steps: dict[int, int]  # sentences in the solution (a difficulty proxy) -> final QAs
    images_per_qa: dict[int, int]
    text_only_share: float
    removed: dict[str, int]  # <status>:<match_kind> -> rows curation dropped
    verified: int
    benchmark_items: int

    def metrics(self) -> dict[str, float]:
        out = {f"quality.{stage}.{name}": float(value) for stage, row in self.funnel.items() for name, value in row.items()}
        out.update({f"quality.removed.{kind.replace(':', '.')}": float(n) for kind, n in self.removed.items()})
        out.update({"quality.text_only_share": self.text_only_share, "quality.verified": float(self.verified),
                    "quality.benchmark_items": float(self.benchmark_items)})
        return out

    def text(self) -> str:
        lines = ["quality (table 3 shape):", f"  {'stage':<10}" + "".join(f"{c:>18}" for c in FUNNEL_COLUMNS)]
        lines += [f"  {stage:<10}" + "".join(f"{row[c]:>18}" for c in FUNNEL_COLUMNS) for stage, row in self.funnel.items()]
        final = self.funnel["final"]["qa_pairs"]
        lines.append(f"  verified answers {self.verified} of {final}; text-only share {self.text_only_share:.1%}; "
                     f"images per QA {dict(sorted(self.images_per_qa.items()))}")
        lines.append("  subjects: " + ", ".join(f"{s} {n}" for s, n in sorted(self.subjects.items(), key=lambda kv: -kv[1])))
        lines.append(f"  removed (checked against {self.benchmark_items} benchmark items): "
                     + (", ".join(f"{k} {n}" for k, n in sorted(self.removed.items())) or "none"))
        return "\n".join(lines)


def _question_key(question: Column) -> Column:
    return F.lower(F.regexp_replace(F.trim(question), r"\s+", " "))


def _stage_row(qas: DataFrame, image_ids: Column, pictures: DataFrame) -> dict[str, int]:
    """Counts for one stage's QAs; image_ids: the images each QA shows."""
    with_ids = qas.select(_question_key(F.col("question")).alias("key"), image_ids.alias("ids"))
    totals = with_ids.agg(
        F.count("*").alias("qa_pairs"), F.sum((F.size("ids") > 0).cast("int")).alias("pairs_with_images"),
        F.countDistinct("key").alias("unique_questions"),
    ).first()
    shown = with_ids.select(F.explode("ids").alias("image_id")).distinct().join(pictures, "image_id")
    images = shown.agg(F.countDistinct("sha256").alias("images"), F.countDistinct("representative").alias("unique_images")).first()
    return {"qa_pairs": totals["qa_pairs"], "pairs_with_images": totals["pairs_with_images"] or 0,
            "unique_questions": totals["unique_questions"], "images": images["images"], "unique_images": images["unique_images"]}


def quality_report(tables: Tables, image_distance: int) -> QualityReport:
    images = tables.read("images").where("status = 'ok' AND phash IS NOT NULL").select("image_id", "sha256", "phash")
    clusters = phash_clusters(images, "image_id", image_distance).withColumnRenamed("member", "image_id")
    pictures = images.join(clusters, "image_id").select("image_id", "sha256", "representative").localCheckpoint()
    candidate_ids = F.transform(F.concat("question_images", "solution_images"), lambda url: stable_id_col(url))
    final_all = tables.read("final_qas")
    final = final_all.where(F.col("status") == "ok")
    funnel = {
        "candidate": _stage_row(tables.read("candidate_qas"), candidate_ids, pictures),
        "valid": _stage_row(tables.read("valid_qas").where(F.col("status") == "ok"), F.col("image_ids"), pictures),
        "final": _stage_row(final, F.col("image_ids"), pictures),
    }
    subjects = {r[0]: r[1] for r in final.groupBy(F.coalesce("subject", F.lit("(none)"))).count().collect()}
    steps = F.size(F.split(F.trim(F.coalesce("solution", F.lit(""))), r"(?<=[.!?])\s+"))
    solution_steps = {int(r[0]): r[1] for r in final.groupBy(steps).count().collect()}
    images_per_qa = {int(r[0]): r[1] for r in final.groupBy(F.size("image_ids")).count().collect()}
    qa_pairs = funnel["final"]["qa_pairs"]
    removed = {
        f"{r['status']}:{r['match_kind']}": r["count"]
        for r in final_all.where(F.col("status").isin("duplicate", "contaminated")).groupBy("status", "match_kind").count().collect()
    }
    return QualityReport(
        funnel=funnel, subjects=subjects, solution_steps=solution_steps, images_per_qa=images_per_qa,
        text_only_share=images_per_qa.get(0, 0) / qa_pairs if qa_pairs else 0.0, removed=removed,
        verified=final.where("verified").count(), benchmark_items=tables.read("benchmark_items").count(),
    )


def write_report(report: QualityReport, folder: Path) -> list[Path]:
    """quality.json, quality.txt and the figures, under folder; returns the files written."""
    import json

    from runtime import plots

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "quality.json").write_text(json.dumps(asdict(report), indent=1, default=str))
    (folder / "quality.txt").write_text(report.text() + "\n")
    return [folder / "quality.json", folder / "quality.txt", *plots.quality_figures(report, folder)]
