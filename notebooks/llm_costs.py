# Databricks notebook source
# MAGIC %md
# MAGIC # What the LLM calls cost
# MAGIC
# MAGIC Every LLM request is recorded in the `llm_calls` ledger with its task, model, tokens and cost, so a rerun
# MAGIC never pays twice and every dollar can be traced. This notebook breaks the cost down by task and model.
# MAGIC The offline rule engine calls no LLM: then there is nothing to break down, and the notebook says so.

# COMMAND ----------

import matplotlib.pyplot as plt

from runtime import audit
from runtime.notebook import notebook

nb = notebook(globals())
spark, display, config, tables = nb.spark, nb.display, nb.config, nb.tables

# COMMAND ----------

# MAGIC %md
# MAGIC ## Calls, tokens and cost by task and model

# COMMAND ----------

costs = audit.llm_costs(tables)
if costs is None:
    print(f"No LLM calls were recorded in {tables.where()}: the offline rule engine makes none.")
else:
    display(costs)
    by_task = costs.toPandas().groupby("task")[["cost_usd", "tokens_in", "tokens_out"]].sum().sort_values("cost_usd")
    print(f"total: ${by_task['cost_usd'].sum():,.2f} for {int(by_task['tokens_in'].sum()):,} tokens in, {int(by_task['tokens_out'].sum()):,} out")
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.5))
    left.barh(by_task.index, by_task["cost_usd"], color="#c44e52")
    left.set_xlabel("USD")
    left.set_title("Cost by task")
    by_task[["tokens_in", "tokens_out"]].plot.barh(stacked=True, ax=right)
    right.set_xlabel("tokens")
    right.set_title("Tokens by task")
    nb.figure(fig, "llm_costs")
