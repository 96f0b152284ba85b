"""Each pipeline run is an MLflow run: config, rows per stage, Delta versions read and written."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from runtime.config import PipelineConfig, TrackingConfig


def _flatten(prefix: str, value: Any, out: dict[str, str]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            _flatten(f"{prefix}.{key}" if prefix else str(key), item, out)
    else:
        out[prefix] = json.dumps(value) if isinstance(value, (list, tuple)) else str(value)


def _resolve_uri(uri: str) -> str:
    # A relative sqlite path is taken from the working directory, made absolute so
    # that jobs started elsewhere (spark-submit, notebooks) find the same store.
    prefix = "sqlite:///"
    if uri.startswith(prefix) and not uri[len(prefix):].startswith("/"):
        path = Path(uri[len(prefix):]).resolve()
        path.parent.mkdir(parents=True, exist_ok=True)
        return prefix + str(path)
    return uri


class Tracker:
    def __init__(self, config: TrackingConfig):
        self.config = config
        self.run = None
        self.uri = _resolve_uri(config.uri)

    def start(self, run_id: str, pipeline: PipelineConfig, job: str) -> None:
        if not self.config.enabled:
            return
        import mlflow

        mlflow.set_tracking_uri(self.uri)
        experiment = mlflow.get_experiment_by_name(self.config.experiment)
        if experiment is None and self.config.artifact_root is None:
            mlflow.create_experiment(self.config.experiment)
        elif experiment is None:
            artifacts = self.config.artifact_root.resolve()
            artifacts.mkdir(parents=True, exist_ok=True)
            mlflow.create_experiment(self.config.experiment, artifact_location=artifacts.as_uri())
        mlflow.set_experiment(self.config.experiment)
        self.run = mlflow.start_run(run_name=run_id, tags={"pipeline_run_id": run_id, "job": job})
        params: dict[str, str] = {}
        _flatten("", pipeline.model_dump(mode="json", by_alias=True), params)
        mlflow.log_params(params)

    def log_stage(self, stats) -> None:
        if self.run is None:
            return
        import mlflow

        prefix = stats.stage
        metrics = {
            f"{prefix}.rows_in": stats.rows_in,
            f"{prefix}.rows_inserted": stats.rows_inserted,
            f"{prefix}.rows_updated": stats.rows_updated,
            f"{prefix}.seconds": round(stats.seconds, 3),
        }
        metrics.update({f"{prefix}.status.{status}": n for status, n in stats.statuses.items()})
        mlflow.log_metrics(metrics)
        params = {f"{prefix}.read.{table}.version": str(v) for table, v in stats.versions_read.items()}
        params[f"{prefix}.wrote.{stats.output}.version"] = str(stats.version_written)
        mlflow.log_params(params)

    def log_summary(self, funnel: dict[str, int], costs: list[dict], text: str, spend: list[dict] = ()) -> None:
        if self.run is None:
            return
        import mlflow

        from runtime.report import cost_per_final_qa

        mlflow.log_metrics({f"funnel.{key}": value for key, value in funnel.items()})
        for cost in costs:
            mlflow.log_metrics({f"llm.{cost['task']}.{key}": float(cost[key])
                                for key in ("requests", "tokens_in", "tokens_out", "cost_usd",
                                            "sent_this_run", "tokens_in_this_run", "tokens_out_this_run", "cost_this_run")})
        if costs:
            mlflow.log_metric("llm.cost_per_final_qa", cost_per_final_qa(costs, funnel))
        for provider in spend:
            mlflow.log_metrics({f"search.{provider['provider']}.{key}": float(provider[key])
                                for key in ("billed", "cost_usd", "billed_this_run", "cost_this_run")})
        mlflow.log_dict(funnel, "funnel.json")
        mlflow.log_text(text, "summary.txt")

    def log_params(self, params: dict[str, object], prefix: str = "") -> None:
        if self.run is None:
            return
        import mlflow

        flat: dict[str, str] = {}
        _flatten(prefix, params, flat)
        mlflow.log_params(flat)

    def log_dataset(self, df, where: str, version: int, name: str, by_name: bool = False, pinned: str | None = None) -> None:
        """Record a Delta table version as the run's training input: by path, or by table name
        (`by_name`, a catalog table); `pinned` names the copy of that version that stays readable."""
        if self.run is None:
            return
        import mlflow
        from mlflow.data.delta_dataset_source import DeltaDatasetSource
        from mlflow.data.spark_dataset import SparkDataset

        # Built directly: from_spark() takes version 0 for "latest".
        source = (DeltaDatasetSource(delta_table_name=where, delta_table_version=version) if by_name
                  else DeltaDatasetSource(path=where, delta_table_version=version))
        mlflow.log_input(SparkDataset(df=df, source=source, name=name), context="training")
        tags = {f"data.{name}.{'table' if by_name else 'path'}": where, f"data.{name}.version": str(version)}
        if pinned is not None:
            tags[f"data.{name}.pinned"] = pinned
        mlflow.set_tags(tags)

    def log_metrics(self, metrics: dict[str, float]) -> None:
        if self.run is None:
            return
        import mlflow

        mlflow.log_metrics(metrics)

    def log_artifacts(self, folder: str, artifact_path: str) -> None:
        if self.run is None:
            return
        import mlflow

        mlflow.log_artifacts(folder, artifact_path)

    def end(self, failed: bool = False) -> str | None:
        if self.run is None:
            return None
        import mlflow

        run_id = self.run.info.run_id
        mlflow.end_run(status="FAILED" if failed else "FINISHED")
        self.run = None
        return run_id
