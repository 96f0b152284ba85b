"""Generate the sample web and index its images: the offline search provider's corpus.

    python -m jobs.sample_web --conf conf/local.yaml
"""
from __future__ import annotations

import sys

from jobs.build_index import BuildIndex
from runtime.cli import main
from runtime.context import Context
from sampleweb.corpus import generate


class IndexSampleWeb(BuildIndex):
    """The sample web's saved pages, as they are served on loopback, into the local index."""

    def folder(self, ctx: Context) -> tuple[str, int | None]:
        web = ctx.config.sample_web
        return str(web.dir / "site"), web.port


def generate_sample_web(ctx: Context) -> dict:
    web = ctx.config.sample_web
    manifest = generate(web.dir, web.port, web.content_pages, web.seed, web.seed_fraction)
    print(f"sample web: {len(manifest['pages'])} pages under {web.dir}, {manifest['seeds']} seed images", flush=True)
    return manifest


STAGES = (IndexSampleWeb(),)

if __name__ == "__main__":
    sys.exit(main("sample_web", STAGES, before=generate_sample_web))
