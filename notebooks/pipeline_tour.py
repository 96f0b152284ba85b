# Databricks notebook source
# MAGIC %md
# MAGIC # A tour of the pipeline
# MAGIC
# MAGIC Seed images go in; image + question + answer records come out. Every stage is a Spark job that reads
# MAGIC Delta tables and MERGEs its rows into one table, keyed by content. This notebook runs one stage, then
# MAGIC looks at every table.
# MAGIC
# MAGIC Run the whole pipeline first (`make demo` locally, the `webmine-pipeline` job on Databricks). Outside
# MAGIC Databricks the configuration comes from `WEBMINE_CONF` and `WEBMINE_SET`, on Databricks from the widgets `conf`
# MAGIC and `overrides` (see `runtime/notebook.py`).

# COMMAND ----------

from pyspark.sql import functions as F

from runtime.notebook import notebook

nb = notebook(globals())
spark, display, config, tables = nb.spark, nb.display, nb.config, nb.tables
print(f"tables: {tables.where()}")

# COMMAND ----------

# MAGIC %md
# MAGIC ## Run one stage
# MAGIC
# MAGIC A stage only processes input it has not processed before (`stage_progress` remembers), so on tables that
# MAGIC are up to date it finds nothing new and commits nothing. `STAGE` names any job module in `jobs/`.

# COMMAND ----------

import importlib

from runtime.cli import run_stages
from runtime.context import pipeline_run

STAGE = "normalize_urls"
with pipeline_run(config, f"notebook:{STAGE}", spark=spark) as ctx:
    stats = run_stages(ctx, importlib.import_module(f"jobs.{STAGE}").STAGES)
display(spark.createDataFrame(
    [(s.stage, s.output, s.rows_in, s.rows_inserted, s.rows_updated, round(s.seconds, 1)) for s in stats],
    "stage string, output string, rows_in long, inserted long, updated long, seconds double",
))

# COMMAND ----------

# MAGIC %md
# MAGIC ## Every table: its key, its current version and its rows

# COMMAND ----------

from runtime.tables import MODELS

display(spark.createDataFrame(
    [(name, model.key, tables.version(name), tables.read(name).count()) for name, model in MODELS.items()],
    "table string, key string, version long, rows long",
))

# COMMAND ----------

# MAGIC %md
# MAGIC ## Seeds, search hits and URLs
# MAGIC
# MAGIC A seed is keyed by the SHA-256 of its bytes; each search hit names the seed that found it; a URL keeps
# MAGIC every hit and seed that led to it, and a dropped URL keeps its reason.

# COMMAND ----------

display(tables.read("seeds").select("seed_id", "subject", "status", "reason", "width", "height", "source"))
display(tables.read("search_hits").select("hit_id", "seed_id", "rank", "distance", "url").orderBy("seed_id", "rank"))
display(tables.read("urls").select("url_id", "url", "status", "reason", F.size("hit_ids").alias("hits"), F.size("seed_ids").alias("seeds")))

# COMMAND ----------

# MAGIC %md
# MAGIC ## Pages and their content trees
# MAGIC
# MAGIC Each rendered page is an accessibility-style tree in reading order; content inside a collapsed block
# MAGIC (a spoiler, a `<details>`) is kept and marked `collapsed`.

# COMMAND ----------

pages = tables.read("pages")
display(pages.select("url_id", "url", "status", "reason", "http_status", "title", "text_chars", F.size("tree").alias("nodes")))
richest = pages.where("status = 'ok'").orderBy(F.desc("text_chars"), "url_id").limit(1)
display(richest.select("url", F.posexplode("tree").alias("position", "node")).select("url", "position", "node.*"))

# COMMAND ----------

# MAGIC %md
# MAGIC ## Images, candidate QAs and final QAs

# COMMAND ----------

display(tables.read("images").select("image_id", "url", "status", "reason", "width", "height", "format"))
display(tables.read("candidate_qas").select("qa_id", "page_id", "pattern", "question", "answer"))
display(tables.read("final_qas").select("final_id", "status", "reason", "subject", "has_images", "question", "answer", "answer_source"))
