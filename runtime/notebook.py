"""What the notebooks in notebooks/ run with, on Databricks and off it.

On Databricks a notebook has `spark` and `display` already and keeps them. Elsewhere
(a laptop, CI: `python notebooks/pipeline_tour.py`) the project provides them: the
SparkSession from runtime.session and a `display` that prints tables as text. The
configuration is the YAML file and overrides that the notebook's widgets `conf` and
`overrides` hold on Databricks (a job's base_parameters fill them; overrides are
`key.path=value` separated by `;`), and elsewhere the environment's WEBMINE_CONF
(default conf/local.yaml) and WEBMINE_SET (one `key.path=value` a line).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pandas as pd
from pyspark.sql import DataFrame, SparkSession

from runtime.config import PipelineConfig, load_config
from runtime.report import as_text
from runtime.session import build_session
from runtime.tables import Tables


def show(value: Any, limit: int = 20) -> None:
    """`display` outside Databricks: tables as aligned text, anything else printed."""
    print(as_text(value, limit) if isinstance(value, (DataFrame, pd.DataFrame)) else value, flush=True)


@dataclass
class Notebook:
    spark: SparkSession
    display: Callable[..., None]
    config: PipelineConfig
    tables: Tables
    figures: Path
    on_databricks: bool

    def figure(self, fig, name: str) -> Path:
        """Save a matplotlib figure as figures/<name>.png and show it where it can be shown."""
        import matplotlib.pyplot as plt

        path = self.figures / f"{name}.png"
        fig.savefig(path, dpi=110, bbox_inches="tight")
        if self.on_databricks:
            self.display(fig)
        else:
            print(f"figure: {path}", flush=True)
        plt.close(fig)
        return path


def settings(namespace: dict[str, Any], environ: dict[str, str]) -> tuple[str, list[str]]:
    """(conf file, overrides): from the notebook's widgets where it has `dbutils`, else the environment."""
    widgets = getattr(namespace.get("dbutils"), "widgets", None)
    if widgets is not None:
        widgets.text("conf", environ.get("WEBMINE_CONF", "conf/databricks.yaml"), "Configuration file")
        widgets.text("overrides", "", "Overrides: key.path=value; ...")
        return widgets.get("conf"), [item.strip() for item in widgets.get("overrides").split(";") if item.strip()]
    return environ.get("WEBMINE_CONF", "conf/local.yaml"), [line.strip() for line in environ.get("WEBMINE_SET", "").splitlines() if line.strip()]


def notebook(namespace: dict[str, Any]) -> Notebook:
    """Call as `notebook(globals())` in a notebook's first cell."""
    on_databricks = bool(os.environ.get("DATABRICKS_RUNTIME_VERSION"))
    config = load_config(*settings(namespace, dict(os.environ)))
    if not on_databricks:
        import matplotlib

        matplotlib.use("Agg")  # no screen: figures go to PNG files
    spark = namespace.get("spark") or build_session(config.spark)
    figures = config.run.work_dir / "figures"
    figures.mkdir(parents=True, exist_ok=True)
    return Notebook(
        spark=spark,
        display=namespace.get("display") or show,
        config=config,
        tables=Tables(spark, config.tables, config.staging_root()),
        figures=figures,
        on_databricks=on_databricks,
    )
