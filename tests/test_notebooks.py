"""Every notebook in notebooks/ is a Databricks source file and runs to the end as a
plain script, against the tables of the two audited pipeline runs."""
import runpy

import pytest

from tests.conftest import REPO

NOTEBOOKS = sorted((REPO / "notebooks").glob("*.py"))
# What each notebook must have printed or written (figures are under <work_dir>/figures).
EXPECTED = {
    "pipeline_tour": {"out": ["[urls] -> urls", "final_qas", "stage_progress"]},
    "funnel_and_quality": {"figures": ["funnel", "table3", "removed", "statuses", "subjects", "question_lengths", "ground_truth"]},
    "time_travel_audit": {"out": ["audit-second", "final QA ", "  seeds v"]},
    "llm_costs": {"out": ["No LLM calls were recorded"]},
}


def test_every_notebook_is_listed():
    assert sorted(p.stem for p in NOTEBOOKS) == sorted(EXPECTED)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_in_databricks_source_format(path):
    text = path.read_text()
    assert text.startswith("# Databricks notebook source\n")
    cells = text.split("\n# COMMAND ----------\n")
    assert len(cells) >= 3
    assert cells[0].splitlines()[1] == "# MAGIC %md"
    assert all(cell.strip() for cell in cells)
    compile(text, str(path), "exec")


@pytest.mark.e2e
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_to_the_end(path, audited_runs, monkeypatch, capsys):
    monkeypatch.delenv("DATABRICKS_RUNTIME_VERSION", raising=False)
    monkeypatch.setenv("WEBMINE_CONF", str(REPO / "conf" / "local.yaml"))
    monkeypatch.setenv("WEBMINE_SET", "\n".join(f"{k}={v}" for k, v in audited_runs.settings.items()))
    runpy.run_path(str(path), run_name="__main__")
    out = capsys.readouterr().out
    expected = EXPECTED[path.stem]
    for text in expected.get("out", []):
        assert text in out, text
    for name in expected.get("figures", []):
        png = audited_runs.config.run.work_dir / "figures" / f"{name}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
