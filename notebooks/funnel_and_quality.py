# Databricks notebook source
# MAGIC %md
# MAGIC # The funnel and the quality of the final QAs
# MAGIC
# MAGIC How many rows survive each stage, why the others were dropped, and what the final QAs look like:
# MAGIC subjects, images, question lengths, where the answers came from. On the offline sample web the final
# MAGIC QAs are also scored against the corpus's ground truth. Figures are written as PNG files.

# COMMAND ----------

import matplotlib.pyplot as plt
from pyspark.sql import functions as F

from runtime import plots
from runtime.notebook import notebook
from runtime.quality import quality_report
from runtime.report import failures, funnel

nb = notebook(globals())
spark, display, config, tables = nb.spark, nb.display, nb.config, nb.tables

# COMMAND ----------

# MAGIC %md
# MAGIC ## The funnel: seeds to final QAs

# COMMAND ----------

figures = funnel(tables)
display(spark.createDataFrame(list(figures.items()), "step string, rows long"))
steps = ["seeds_ok", "search_hits", "unique_urls", "urls_kept", "pages_ok", "candidate_qas", "final_qas", "final_qas_with_images"]
nb.figure(plots.funnel_figure(figures, steps), "funnel")

# COMMAND ----------

# MAGIC %md
# MAGIC ## The quality report: the reference's table 3, de-duplication and decontamination
# MAGIC
# MAGIC QA pairs, pairs with images, unique questions, images and unique images (pHash clusters) at each stage;
# MAGIC what curation removed (duplicates, benchmark contamination) and how many final answers are verified.

# COMMAND ----------

report = quality_report(tables, config.quality.dedup.image_distance)
print(report.text())
for path in plots.quality_figures(report, nb.figures):
    print(f"figure: {path}")

# COMMAND ----------

# MAGIC %md
# MAGIC ## What was dropped, and why

# COMMAND ----------

dropped = failures(tables)
if dropped:
    display(spark.createDataFrame(dropped, "table string, status string, rows long, example_reason string"))
else:
    print("Nothing was dropped.")
statuses = (
    tables.read("pages").groupBy("status").count().withColumn("table", F.lit("pages"))
    .unionByName(tables.read("urls").groupBy("status").count().withColumn("table", F.lit("urls")))
    .unionByName(tables.read("images").groupBy("status").count().withColumn("table", F.lit("images")))
    .unionByName(tables.read("final_qas").groupBy("status").count().withColumn("table", F.lit("final_qas")))
    .toPandas().pivot_table(index="table", columns="status", values="count", fill_value=0)
)
fig, ax = plt.subplots(figsize=(8, 3.5))
statuses.plot.barh(stacked=True, ax=ax)
ax.set_xlabel("rows")
ax.set_title("Rows by status")
nb.figure(fig, "statuses")

# COMMAND ----------

# MAGIC %md
# MAGIC ## The final QAs: subjects, images, question lengths, answer sources

# COMMAND ----------

final = tables.read("final_qas").where("status = 'ok'")
subjects = (
    final.groupBy(F.coalesce("subject", F.lit("(none)")).alias("subject"), "has_images").count()
    .toPandas().pivot_table(index="subject", columns="has_images", values="count", fill_value=0)
    .rename(columns={True: "with images", False: "text only"})
)
display(subjects.reset_index())
fig, ax = plt.subplots(figsize=(8, 3.5))
subjects.plot.bar(stacked=True, ax=ax, rot=0)
ax.set_ylabel("final QAs")
ax.set_title("Final QAs by subject")
nb.figure(fig, "subjects")

lengths = tables.read("final_qas").select("status", F.length("question").alias("chars")).toPandas()
fig, ax = plt.subplots(figsize=(8, 3.5))
for status, group in lengths.groupby("status"):
    ax.hist(group["chars"], bins=20, alpha=0.7, label=status)
ax.set_xlabel("question length (characters)")
ax.set_ylabel("QAs")
ax.legend()
ax.set_title("Question lengths")
nb.figure(fig, "question_lengths")

display(final.groupBy("answer_source").agg(F.count("*").alias("final_qas"), F.sum(F.col("answer").isNull().cast("int")).alias("without_answer")))

# COMMAND ----------

# MAGIC %md
# MAGIC ## Against the ground truth (sample web only)
# MAGIC
# MAGIC The generated sample web knows every question and answer it holds, so the final QAs can be scored:
# MAGIC precision, recall, and how often the answer and the images are right.

# COMMAND ----------

ground_truth = config.sample_web.dir / "ground_truth.json"
if config.sample_web.enabled and ground_truth.is_file():
    from sampleweb.evaluate import score

    result = score(tables, config.sample_web.dir, config.urls.tracking_params)
    quality = {"precision": result.precision, "recall": result.recall, "answer accuracy": result.answer_accuracy,
               "image accuracy": result.image_accuracy, "planted removed": result.planted_recall}
    display(spark.createDataFrame([(k, round(v, 3)) for k, v in quality.items()], "measure string, value double"))
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.bar(list(quality), list(quality.values()), color="#55a868")
    ax.set_ylim(0, 1.05)
    ax.set_title(f"{result.matched} of {result.expected} expected QAs found")
    nb.figure(fig, "ground_truth")
else:
    print("No sample web here: there is no ground truth to score against.")
