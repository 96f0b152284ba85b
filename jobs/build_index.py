"""Build the local reverse-image index (`search_index`) from a folder of saved pages or WARC files.

    python -m jobs.build_index --conf conf/local.yaml --set search.index.source=path/to/pages

A saved-pages folder holds <host>/<path>.html with the images the pages show saved beside them
the same way (<host>/<path>.png); a WARC folder (or file) holds the pages' and the images'
response records. Pages and files already indexed are not read again.
"""
from __future__ import annotations

import sys
from pathlib import Path

from pyspark.sql import DataFrame

from runtime.cli import main
from runtime.context import Context
from runtime.stage import Stage
from schemas.search_index import IndexedImage
from udfs.search import index_partitions, saved_sources


class BuildIndex(Stage):
    """Saved pages or WARC files -> perceptual hashes of the pages' images."""

    name = "index"
    inputs = ()
    output = IndexedImage

    def folder(self, ctx: Context) -> tuple[Path, int | None]:
        """The folder or WARC file to index, and the port its pages were served on (None: the default)."""
        source = ctx.config.search.index.source
        if source is None:
            raise ValueError("search.index.source is not set: name a folder of saved pages or WARC files")
        return source, None

    def source(self, ctx: Context) -> DataFrame:
        folder, port = self.folder(ctx)
        return ctx.spark.createDataFrame(saved_sources(folder, port), "input_key string, kind string, path string")

    def transform(self, ctx: Context, batch: DataFrame) -> DataFrame:
        folder, _ = self.folder(ctx)
        index = ctx.config.search.index
        site = folder.resolve() if folder.is_dir() else None
        return batch.select("input_key", "kind", "path").mapInPandas(
            index_partitions(site, index.min_side, index.crop_fraction), IndexedImage.transform_schema()
        )


STAGES = (BuildIndex(),)

if __name__ == "__main__":
    sys.exit(main("build_index", STAGES))
