# Databricks notebook source
# MAGIC %md
# MAGIC # Auditing with Delta time travel
# MAGIC
# MAGIC Months later, the questions are: which run produced this record, from which page and seed image, what
# MAGIC changed between two versions of the dataset, and how to undo a bad change. Every Delta commit carries the
# MAGIC pipeline run id (its user metadata) and every row the run that wrote it (`run_id`), so the tables' own
# MAGIC history answers them. The same functions are on the command line: `python -m jobs.audit --help`.

# COMMAND ----------

from functools import reduce

import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from runtime import audit
from runtime.notebook import notebook

nb = notebook(globals())
spark, display, config, tables = nb.spark, nb.display, nb.config, nb.tables

# COMMAND ----------

# MAGIC %md
# MAGIC ## Every run, every table, side by side
# MAGIC
# MAGIC One row per run id, one column per table: the versions the run committed and the rows it inserted (`+`),
# MAGIC updated (`~`) and deleted (`-`), from Delta's operation metrics; other operations (an `update` by hand,
# MAGIC a `restore`) are named.

# COMMAND ----------

display(audit.runs_side_by_side(tables))

# COMMAND ----------

# MAGIC %md
# MAGIC ## One table's commits

# COMMAND ----------

history = audit.table_history(tables, ["final_qas"])
display(history)

# COMMAND ----------

# MAGIC %md
# MAGIC ## What the latest run changed in `final_qas`
# MAGIC
# MAGIC A diff between two versions lists the rows added, removed and changed, keyed by the table's key, each
# MAGIC with the commit (version, run, operation) that last changed it. `audit.diff(tables, name, from, to)` does
# MAGIC the same for any two versions of any table.

# COMMAND ----------

merges = history.where("operation = 'MERGE'").orderBy(F.desc("version")).first()
if merges is None:
    print("No run has merged rows into final_qas yet.")
else:
    change = audit.diff_run(tables, "final_qas", merges["run_id"])
    print(change.render())
    display(change.rows)

# COMMAND ----------

# MAGIC %md
# MAGIC ## Reading an earlier version
# MAGIC
# MAGIC Any version can be read as it was: `tables.read(name, version)` (Delta's `versionAsOf`).

# COMMAND ----------

first, last = audit.version_range(tables, "final_qas")
counts = [
    tables.read("final_qas", v).agg(F.lit(v).alias("version"), F.count("*").alias("rows"), F.sum(F.expr("int(status = 'ok')")).alias("ok"))
    for v in range(first, last + 1)
]
display(reduce(DataFrame.unionByName, counts))

# COMMAND ----------

# MAGIC %md
# MAGIC ## Lineage: one final QA back to its seed image
# MAGIC
# MAGIC From the final QA to the candidate QAs merged into it, their pages, the URLs, the search hits that found
# MAGIC them and the seed images, plus the QA's own images. Each table is read at the version it had when the
# MAGIC final QA's row was written, so later runs do not blur the picture.

# COMMAND ----------

chosen = tables.read("final_qas").where("status = 'ok'").orderBy(F.desc("has_images"), "final_id").first()
if chosen is None:
    print("No final QA yet.")
else:
    trace = audit.lineage(tables, chosen["final_id"])
    print(trace.render())
    for step in trace.steps:
        if step.rows:
            display(pd.DataFrame(step.rows).assign(read_at_version=step.version))

# COMMAND ----------

# MAGIC %md
# MAGIC ## Restoring a table
# MAGIC
# MAGIC `audit.restore(tables, name, version, run_id)` (or `python -m jobs.audit restore NAME VERSION`) brings a
# MAGIC table back to an earlier version as a new commit stamped with a run id, so the restore itself shows in the
# MAGIC history. Below: what restoring `final_qas` to the version before the latest run would undo. Set
# MAGIC `APPLY_RESTORE = True` to do it. Only that table moves: restore `stage_progress` to the same moment when a
# MAGIC rerun should redo the undone work.

# COMMAND ----------

APPLY_RESTORE = False
if merges is not None and change.from_version < last:
    print(audit.diff(tables, "final_qas", change.from_version, last).render(limit=10))
    if APPLY_RESTORE:
        from runtime.context import new_run_id

        print(audit.restore(tables, "final_qas", change.from_version, new_run_id()))
        display(audit.table_history(tables, ["final_qas"]).orderBy(F.desc("version")).limit(3))
