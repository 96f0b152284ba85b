"""Generate the sample web and index its images: the offline search provider's corpus.

    python -m jobs.sample_web --conf conf/local.yaml
"""
from __future__ import annotations

import sys

from pyspark.sql import DataFrame

from runtime.cli import main
from runtime.context import Context
from runtime.stage import Stage
from sampleweb.corpus import generate
from schemas.search_index import IndexedImage
from udfs.search import index_partitions, page_url


class IndexSampleWeb(Stage):
    """Saved pages -> perceptual hashes of their images, the local reverse-image index."""

    name = "index"
    inputs = ()
    output = IndexedImage

    def source(self, ctx: Context) -> DataFrame:
        web = ctx.config.sample_web
        site = web.dir / "site"
        pages = [(page_url(site, f, web.port), str(f.resolve())) for f in sorted(site.rglob("*.html"))]
        df = ctx.spark.createDataFrame(pages, "url string, path string")
        return df.withColumn("input_key", df["url"])

    def transform(self, ctx: Context, batch: DataFrame) -> DataFrame:
        site = (ctx.config.sample_web.dir / "site").resolve()
        return batch.select("url", "path").mapInPandas(index_partitions(site, 32), IndexedImage.transform_schema())


def generate_sample_web(ctx: Context) -> dict:
    web = ctx.config.sample_web
    manifest = generate(web.dir, web.port, web.content_pages, web.seed, web.seed_fraction)
    print(f"sample web: {len(manifest['pages'])} pages under {web.dir}, {manifest['seeds']} seed images", flush=True)
    return manifest


STAGES = (IndexSampleWeb(),)

if __name__ == "__main__":
    sys.exit(main("sample_web", STAGES, before=generate_sample_web))
