"""Main-content quality of the tree on real web pages with known main content, beside trafilatura.

    PYTHONPATH=$PWD .venv/bin/python -m benchmarks.content_quality

The pages are public test corpora shipped inside two PyPI source distributions,
fetched with `pip download` (nothing else leaves the machine):

- newspaper4k 0.9.6, tests/data: saved news pages (html/NAME.html) with the article
  text its regression tests expect (txt/NAME.txt), in several languages;
- article-extractor 0.5.9, tests/fixtures/fullpage_to_article_html: full pages as a
  browser rendered them (raw.html) with the expected article HTML (expected.html).

Each page is served from local files on loopback and rendered by the renderer with
public addresses switched off, so its scripts and images that point elsewhere are
refused before any look-up. Per page, over bags of lower-cased words (characters for
scripts written without spaces):

- recall: the share of the main content's words that the output holds;
- boilerplate: the share of the output's words that are not main content.

trafilatura 2.3.1 (default settings) reads the same files; `whole page` (all text
BeautifulSoup finds, scripts and styles removed) shows how much boilerplate there is
to remove. Results are printed and written as JSON (--out).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tarfile
from pathlib import Path

from runtime.config import NetworkConfig, RenderConfig
from sampleweb.realweb import words
from sampleweb.server import serve
from udfs.browser import Renderer

REPO = Path(__file__).resolve().parent.parent
SDISTS = {
    "newspaper4k": ("newspaper4k==0.9.6", []),
    # Its metadata asks for Python 3.12; only its test files are read here.
    "article-extractor": ("article-extractor==0.5.9", ["--ignore-requires-python"]),
}


def score(expected: str, output: str) -> dict[str, float]:
    truth, got = words(expected), words(output)
    return {
        "recall": sum((truth & got).values()) / max(1, sum(truth.values())),
        "boilerplate": sum((got - truth).values()) / sum(got.values()) if got else 0.0,
    }


def html_text(html: bytes | str) -> str:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "html.parser")
    for tag in soup(["script", "style", "noscript", "template"]):
        tag.decompose()
    return soup.get_text("\n")


def sdist_members(name: str, data_dir: Path) -> tarfile.TarFile:
    spec, extra = SDISTS[name]
    found = sorted(data_dir.glob(f"{spec.split('==')[0].replace('-', '_')}-*.tar.gz")) + sorted(data_dir.glob(f"{spec.split('==')[0]}-*.tar.gz"))
    if not found:
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:", *extra,
                        "-d", str(data_dir), spec], check=True)
        return sdist_members(name, data_dir)
    return tarfile.open(found[0])


def load_cases(data_dir: Path) -> list[dict]:
    """[{corpus, name, html (bytes), expected (text)}] from both source distributions."""
    data_dir.mkdir(parents=True, exist_ok=True)
    cases = []
    with sdist_members("newspaper4k", data_dir) as tar:
        files = {m.name.split("/tests/data/", 1)[1]: m for m in tar.getmembers() if "/tests/data/" in m.name and m.isfile()}
        for rel, member in sorted(files.items()):
            if rel.startswith("txt/") and f"html/{rel[4:-4]}.html" in files:
                cases.append({"corpus": "newspaper4k", "name": rel[4:-4],
                              "html": tar.extractfile(files[f"html/{rel[4:-4]}.html"]).read(),
                              "expected": tar.extractfile(member).read().decode("utf-8", "replace")})
    with sdist_members("article-extractor", data_dir) as tar:
        marker = "/tests/fixtures/fullpage_to_article_html/"
        files = {m.name.split(marker, 1)[1]: m for m in tar.getmembers() if marker in m.name and m.isfile()}
        for rel in sorted(files):
            if rel.endswith("/raw.html") and rel.replace("raw.html", "expected.html") in files:
                cases.append({"corpus": "article-extractor", "name": rel[: -len("/raw.html")],
                              "html": tar.extractfile(files[rel]).read(),
                              "expected": html_text(tar.extractfile(files[rel.replace("raw.html", "expected.html")]).read())})
    return cases


def render_trees(cases: list[dict], site_root: Path) -> list[str]:
    """Our tree's text for every case, each page served from a local file on loopback."""
    for i, case in enumerate(cases):
        page = site_root / "site" / "127.0.0.1" / "case" / str(i) / "index.html"
        page.parent.mkdir(parents=True, exist_ok=True)
        page.write_bytes(case["html"])
    with serve(site_root) as port:
        render = RenderConfig(page_timeout_s=30, settle_timeout_s=2, concurrency=4, obey_robots=False,
                              per_host_concurrency=4, per_host_delay_s=0, rasterize_svg=False, max_page_bytes=20_000_000,
                              block_resource_types=["media", "font", "image"])
        network = NetworkConfig(allow_private=[f"127.0.0.1:{port}"], allow_public=False)
        with Renderer(render, network) as renderer:
            rows = renderer.render_many([(str(i), f"http://127.0.0.1:{port}/case/{i}/") for i in range(len(cases))])
    texts = []
    for case, row in zip(cases, rows):
        if row["status"] != "ok":
            print(f"  {case['corpus']}/{case['name']}: {row['status']} {row['reason']}", flush=True)
        texts.append("\n".join(node["text"] for node in row["tree"] if node["kind"] != "image"))
    return texts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", default=str(REPO / "work" / "bench"))
    parser.add_argument("--out", default=None, help="JSON file (default: <work>/content_quality.json)")
    args = parser.parse_args(argv)
    work = Path(args.work).resolve()
    import trafilatura

    cases = load_cases(work / "quality_data")
    print(f"{len(cases)} pages: " + ", ".join(f"{c} {sum(1 for x in cases if x['corpus'] == c)}" for c in SDISTS), flush=True)
    outputs = {
        "ours": render_trees(cases, work / "quality_site"),
        "trafilatura": [trafilatura.extract(c["html"]) or "" for c in cases],
        "whole page": [html_text(c["html"]) for c in cases],
    }
    per_page = [{"corpus": c["corpus"], "name": c["name"], "expected_words": sum(words(c["expected"]).values()),
                 **{method: score(c["expected"], texts[i]) for method, texts in outputs.items()}}
                for i, c in enumerate(cases)]
    summary: dict = {}
    for corpus in [*SDISTS, "all"]:
        chosen = [p for p in per_page if corpus in ("all", p["corpus"])]
        summary[corpus] = {"pages": len(chosen), **{
            method: {metric: round(sum(p[method][metric] for p in chosen) / len(chosen), 3) for metric in ("recall", "boilerplate")}
            for method in outputs}}
    print(f"\n{'corpus':<20}{'pages':>6}  " + "".join(f"{m + ' recall':>20}{m + ' boilerplate':>25}" for m in outputs))
    for corpus, row in summary.items():
        print(f"{corpus:<20}{row['pages']:>6}  " + "".join(f"{row[m]['recall']:>20.3f}{row[m]['boilerplate']:>25.3f}" for m in outputs))
    out = Path(args.out) if args.out else work / "content_quality.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"summary": summary, "pages": per_page}, indent=1))
    print(f"written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
