"""Build the local reverse-image index (`search_index`) from saved pages or WARC files.

    python -m jobs.build_index --conf conf/local.yaml --set search.index.source=path/to/pages
    python -m jobs.build_index --conf conf/cluster.yaml --set 'search.index.source=s3://crawl/2026-11/*.warc.gz'

A saved-pages folder (local) holds <host>/<path>.html with the images the pages show saved beside
them the same way (<host>/<path>.png); WARC files (a file, a folder or a glob, at any fsspec URI)
hold the pages' and the images' response records, in any file of the crawl. Each file is read in
its own Spark task; pages and images meet in a join on the image URL. Files already indexed are
not read again; each build's entries carry the index generation they were added in, and seeds
already searched are searched again against the new generation only (jobs/search.py).
"""
from __future__ import annotations

import sys
from pathlib import Path

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from runtime.cli import main
from runtime.context import Context
from runtime.stage import Stage
from schemas.search_index import IndexedImage
from udfs.search import RECORD_SCHEMA, index_from_records, one_task_each, record_partitions, saved_sources


class BuildIndex(Stage):
    """Saved pages or WARC files -> perceptual hashes of the pages' images."""

    name = "index"
    inputs = ()
    output = IndexedImage
    # A crawl's files in one batch, so that the join finds an image in any of them.
    single_batch = True

    def folder(self, ctx: Context) -> tuple[str, int | None]:
        """The saved pages or WARC files to index, and the port the pages were served on (None: the default)."""
        source = ctx.config.search.index.source
        if source is None:
            raise ValueError("search.index.source is not set: name a folder of saved pages, or WARC files (a file, folder, glob or URI)")
        return source, None

    def source(self, ctx: Context) -> DataFrame:
        folder, port = self.folder(ctx)
        return ctx.spark.createDataFrame(saved_sources(folder, port), "input_key string, kind string, path string")

    def transform(self, ctx: Context, batch: DataFrame) -> DataFrame:
        folder, _ = self.folder(ctx)
        config = ctx.config.search.index
        site = Path(folder).resolve() if Path(folder).is_dir() else None
        pages_only = batch.where(F.col("kind") == "warc").limit(1).count() == 0
        # One task per WARC file; many small saved pages share the session's parallelism.
        sources = one_task_each(batch.select("input_key", "kind", "path"), ctx.spark.sparkContext.defaultParallelism if pages_only else None)
        records = ctx.tables.stage_input(f"{self.name}.records", sources.mapInPandas(record_partitions(site, config), RECORD_SCHEMA))
        generation = ctx.tables.version("search_index") + 1  # the version the MERGE of these rows makes
        return index_from_records(records, ctx.tables.read("search_index")).dropDuplicates(["index_id"]).select(
            "*", F.lit(generation).cast("long").alias("generation"), F.current_timestamp().alias("added_at")
        )


STAGES = (BuildIndex(),)

if __name__ == "__main__":
    sys.exit(main("build_index", STAGES))
