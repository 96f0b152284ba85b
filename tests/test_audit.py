"""Audits over two real pipeline runs: history, version diffs, lineage, restore, costs."""
import pytest
from pyspark.sql import functions as F

from jobs import audit as audit_job
from runtime import audit
from runtime.config import TablesConfig
from runtime.tables import Tables
from tests.conftest import REPO

pytestmark = pytest.mark.e2e


def by_key(diff: audit.VersionDiff) -> dict[str, dict]:
    return {r[diff.key]: r.asDict(recursive=True) for r in diff.rows.collect()}


def expected_changes(old: dict[str, dict], new: dict[str, dict]) -> dict[str, set[str]]:
    return {
        "added": set(new) - set(old),
        "removed": set(old) - set(new),
        "changed": {k for k in set(old) & set(new) if old[k] != new[k]},
    }


def test_history_has_every_commit_with_its_run_and_row_counts(audited_runs):
    runs = audited_runs
    history = audit.table_history(runs.tables, ["final_qas"]).where(F.col("version") <= runs.versions["second"]["final_qas"]).collect()
    assert [r["version"] for r in history] == list(range(len(history)))
    assert {r["run_id"] for r in history} == {"audit-first", "audit-review", "audit-second"}
    review = [r for r in history if r["run_id"] == "audit-review"]
    assert [(r["operation"], r["rows_updated"]) for r in review] == [("UPDATE", 2)]
    # Every row came in by one MERGE insert and none left: the inserts add up to the table.
    assert sum(r["rows_inserted"] or 0 for r in history) == len(runs.final_qas["second"])
    assert sum(r["rows_inserted"] or 0 for r in history if r["run_id"] == "audit-second") == len(
        set(runs.final_qas["second"]) - set(runs.final_qas["first"])
    )

    side = {r["run_id"]: r.asDict() for r in audit.runs_side_by_side(runs.tables).collect()}
    assert list(side)[:3] == ["audit-first", "audit-review", "audit-second"]
    review_version = runs.versions["review"]["final_qas"]
    assert side["audit-review"]["final_qas"] == f"v{review_version} ~2 update"
    written = runs.versions["first"]  # the rule engine's tables: the LLM ones stay unwritten
    assert all(side["audit-review"][name] is None for name in written if name != "final_qas")
    assert side["audit-first"]["seeds"].startswith("v0..")
    assert all(side["audit-first"][name] for name in written)


def test_diff_between_the_runs_finds_exactly_the_changed_rows(audited_runs):
    runs = audited_runs
    diffs = {}
    for table, snapshots in (("final_qas", runs.final_qas), ("urls", runs.urls)):
        rows = diffs[table] = by_key(audit.diff(runs.tables, table, runs.versions["first"][table], runs.versions["second"][table]))
        expected = expected_changes(snapshots["first"], snapshots["second"])
        assert {c: {k for k, r in rows.items() if r["change"] == c} for c in expected} == expected, table
        assert expected["added"], f"the second run added no {table} rows"
        for key, row in rows.items():
            old, new = snapshots["first"].get(key), snapshots["second"].get(key)
            if row["change"] == "added":
                assert row["run_id"] == new["run_id"] == "audit-second" and row["operation"] == "MERGE"
            if row["change"] == "changed":
                assert set(row["changed_columns"]) == {c for c in new if old[c] != new[c]}
    final = diffs["final_qas"]
    for key in runs.reviewed:
        assert final[key]["change"] == "changed"
        assert final[key]["before"]["status"] == "ok" and final[key]["after"]["status"] == "rejected"
        if set(final[key]["changed_columns"]) == {"status", "reason", "run_id"}:
            assert (final[key]["run_id"], final[key]["operation"]) == ("audit-review", "UPDATE")
    grown = [r for r in diffs["urls"].values() if r["change"] == "changed"]
    # A URL found again gains hits and seeds, and an earlier round when a new first-round seed found it.
    assert all(set(r["changed_columns"]) <= {"hit_ids", "seed_ids", "round"} and r["run_id"] == "audit-second" for r in grown)


def test_diff_of_one_run_is_what_it_changed(audited_runs):
    runs = audited_runs
    review = audit.diff_run(runs.tables, "final_qas", "audit-review")
    assert (review.from_version, review.to_version) == (runs.versions["first"]["final_qas"], runs.versions["review"]["final_qas"])
    rows = by_key(review)
    assert sorted(rows) == runs.reviewed
    assert all(set(r["changed_columns"]) == {"status", "reason", "run_id"} and r["run_id"] == "audit-review" for r in rows.values())
    text = review.render()
    assert text.startswith(f"final_qas: version {review.from_version} -> {review.to_version}: 0 added, 0 removed, 2 changed")
    assert "status: ok -> rejected" in text


def test_lineage_reaches_the_seed_image_read_at_the_versions_that_produced_it(audited_runs):
    runs = audited_runs
    first = runs.final_qas["first"]
    final_id = min(k for k, r in first.items() if r["status"] == "ok" and r["has_images"] and k not in runs.reviewed)
    trace = audit.lineage(runs.tables, final_id)
    assert trace.run_id == "audit-first" and trace.version <= runs.versions["first"]["final_qas"]
    for step in trace.steps:
        assert step.version <= runs.versions["first"][step.table], step.table
    qa = trace.step("final_qas").rows[0]
    assert qa["final_id"] == final_id and qa["question"] == first[final_id]["question"]
    candidates = trace.step("candidate_qas").rows
    assert {c["qa_id"] for c in candidates} == set(qa["source_qa_ids"]) | {qa["qa_id"]}
    pages = trace.step("pages").rows
    assert qa["page_id"] in {p["url_id"] for p in pages} and all(p["status"] == "ok" for p in pages)
    urls = {u["url_id"]: u for u in trace.step("urls").rows}
    assert urls[qa["page_id"]] == {c: runs.urls["first"][qa["page_id"]][c] for c in urls[qa["page_id"]]}
    hits = trace.step("search_hits").rows
    assert {h["hit_id"] for h in hits} == {h for u in urls.values() for h in u["hit_ids"]}
    seeds = trace.step("seeds").rows
    assert seeds and {s["seed_id"] for s in seeds} == {h["seed_id"] for h in hits}
    assert set(qa["seed_ids"]) <= {s["seed_id"] for s in seeds}
    # Round-1 seeds are the manifest's files; later rounds' are images of earlier QAs.
    assert all(s["status"] == "ok" and (s["source"].endswith(".jpg") if s["round"] == 1 else s["source"].startswith("qa:")) for s in seeds)
    assert {i["image_id"] for i in trace.step("images").rows} == set(qa["image_ids"])
    text = trace.render()
    assert f"final QA {final_id}: written at final_qas v{trace.version} by run audit-first" in text
    assert f"seed_id={seeds[0]['seed_id']}" in text


def test_restore_brings_back_the_earlier_rows_and_shows_in_history(audited_runs):
    runs = audited_runs
    tables = runs.tables
    latest = tables.version("final_qas")
    first = runs.versions["first"]["final_qas"]
    metrics = audit.restore(tables, "final_qas", first, "audit-restore")
    assert metrics["num_restored_files"] + metrics["num_removed_files"] > 0
    assert {r["final_id"]: r.asDict(recursive=True) for r in tables.read("final_qas").collect()} == runs.final_qas["first"]
    commit = audit.table_history(tables, ["final_qas"]).orderBy(F.desc("version")).first()
    assert (commit["version"], commit["operation"], commit["run_id"]) == (latest + 1, "RESTORE", "audit-restore")
    side = {r["run_id"]: r["final_qas"] for r in audit.runs_side_by_side(tables, ["final_qas"]).collect()}
    assert side["audit-restore"] == f"v{latest + 1} restore"
    # And forward again, so that what follows sees the tables as the runs left them.
    audit.restore(tables, "final_qas", latest, "audit-restore-undo")
    assert {r["final_id"]: r.asDict(recursive=True) for r in tables.read("final_qas").collect()} == runs.final_qas["second"]
    # The rows the restore brought back were made by the second run, and lineage says so.
    added = min(set(runs.final_qas["second"]) - set(runs.final_qas["first"]))
    assert audit.lineage(tables, added).run_id == "audit-second"


def test_errors_name_the_table_version_run_or_key_at_fault(audited_runs):
    tables = audited_runs.tables
    last = tables.version("urls")
    with pytest.raises(audit.AuditError, match="unknown table 'answerz'"):
        audit.diff(tables, "answerz", 0)
    with pytest.raises(audit.AuditError, match=rf"table urls has versions 0..{last}; version {last + 5} is out of range"):
        audit.diff(tables, "urls", 0, last + 5)
    with pytest.raises(audit.AuditError, match=rf"from version {last} must be below to version {last - 1}"):
        audit.diff(tables, "urls", last, last - 1)
    with pytest.raises(audit.AuditError, match="final QA 'nope' not found in final_qas at version"):
        audit.lineage(tables, "nope")
    with pytest.raises(audit.AuditError, match="run 'audit-review' made no commit to table urls"):
        audit.diff_run(tables, "urls", "audit-review")
    with pytest.raises(audit.AuditError, match="table seeds has versions"):
        audit.restore(tables, "seeds", 999, "audit-bad")


def test_audit_command_line(audited_runs, capsys):
    runs = audited_runs
    options = ["--conf", str(REPO / "conf" / "local.yaml")] + [f"--set={k}={v}" for k, v in runs.settings.items()]
    assert audit_job.main(["history", *options]) == 0
    out = capsys.readouterr().out
    assert "audit-review" in out and "final_qas" in out.splitlines()[0]
    before, after = runs.versions["first"]["final_qas"], runs.versions["review"]["final_qas"]
    assert audit_job.main(["diff", "final_qas", str(before), str(after), *options]) == 0
    assert f"final_qas: version {before} -> {after}: 0 added, 0 removed, 2 changed" in capsys.readouterr().out
    assert audit_job.main(["costs", *options]) == 0
    assert "No LLM calls were recorded" in capsys.readouterr().out
    assert audit_job.main(["diff", "pagez", "1", *options]) == 2
    assert "audit diff: unknown table 'pagez'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        audit_job.main(["diff", "final_qas", *options])
    assert "either FROM_VERSION" in capsys.readouterr().err


def test_llm_costs_from_the_ledger_when_there_is_one(spark, tmp_path):
    tables = Tables(spark, TablesConfig(root=str(tmp_path / "tables")), tmp_path / "_staging")
    assert audit.llm_costs(tables) is None
    calls = [("answer", "gpt-x", 100, 50, 0.01), ("answer", "gpt-x", 200, 70, 0.02), ("validate", "mini", 80, 5, 0.001)]
    spark.createDataFrame(calls, "task string, model string, tokens_in long, tokens_out long, cost_usd double") \
        .write.format("delta").save(str(tmp_path / "tables" / "llm_calls"))
    costs = [r.asDict() for r in audit.llm_costs(tables).collect()]
    assert costs == [
        {"task": "answer", "model": "gpt-x", "calls": 2, "tokens_in": 300, "tokens_out": 120, "cost_usd": 0.03},
        {"task": "validate", "model": "mini", "calls": 1, "tokens_in": 80, "tokens_out": 5, "cost_usd": 0.001},
    ]
