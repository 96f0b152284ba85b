"""Every figure the product draws (matplotlib, PNG): the end-of-run quality report and the notebooks."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")  # files only: jobs run without a display
import matplotlib.pyplot as plt  # noqa: E402

if TYPE_CHECKING:
    from runtime.quality import QualityReport


def funnel_figure(figures: dict[str, int], steps: list[str]):
    """Horizontal bars: rows left after each step of the pipeline."""
    fig, ax = plt.subplots(figsize=(8, 4))
    ax.barh(steps[::-1], [figures[s] for s in steps[::-1]], color="#4c72b0")
    for y, step in enumerate(steps[::-1]):
        ax.annotate(str(figures[step]), (figures[step], y), xytext=(3, 0), textcoords="offset points", va="center")
    ax.set_xlabel("rows")
    ax.set_title("From seed images to final QAs")
    return fig


def table3_figure(report: "QualityReport"):
    """Grouped bars: the table-3 counts at each stage."""
    from runtime.quality import FUNNEL_COLUMNS

    stages = list(report.funnel)
    fig, ax = plt.subplots(figsize=(9, 4))
    width = 0.8 / len(FUNNEL_COLUMNS)
    for i, column in enumerate(FUNNEL_COLUMNS):
        xs = [s + (i - len(FUNNEL_COLUMNS) / 2 + 0.5) * width for s in range(len(stages))]
        ax.bar(xs, [report.funnel[stage][column] for stage in stages], width, label=column.replace("_", " "))
    ax.set_xticks(range(len(stages)), stages)
    ax.set_ylabel("count")
    ax.set_title("QA pairs and images at each stage")
    ax.legend(fontsize=8)
    return fig


def _bars(counts: dict, title: str, xlabel: str, color: str = "#55a868"):
    fig, ax = plt.subplots(figsize=(7, 3.5))
    keys = sorted(counts, key=lambda k: (isinstance(k, str), k)) if counts else []
    ax.bar([str(k) for k in keys], [counts[k] for k in keys], color=color)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("final QAs" if "removed" not in title else "rows")
    ax.set_title(title)
    ax.tick_params(axis="x", labelrotation=30)
    return fig


def quality_figures(report: "QualityReport", folder: Path) -> list[Path]:
    """The report's figures as PNG files under folder."""
    figures = {
        "table3": table3_figure(report),
        "subjects": _bars(report.subjects, "Final QAs by subject", "subject"),
        "solution_steps": _bars(report.solution_steps, "Solution steps (a difficulty proxy)", "sentences in the solution", "#8172b2"),
        "images_per_qa": _bars(report.images_per_qa, f"Images per QA (text only: {report.text_only_share:.0%})", "images", "#4c72b0"),
        "removed": _bars(report.removed or {"none": 0}, "Rows removed by curation", "status:match", "#c44e52"),
    }
    paths = []
    for name, fig in figures.items():
        path = folder / f"{name}.png"
        fig.savefig(path, dpi=110, bbox_inches="tight")
        plt.close(fig)
        paths.append(path)
    return paths
