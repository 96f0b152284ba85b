"""Seeds published to object storage (moto's S3 server on loopback) get signed URLs, which Google
Lens (the loopback SerpAPI fake) is asked with; URLs close to expiry are signed anew."""
import datetime as dt
import os
import urllib.request
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
from moto.server import ThreadedMotoServer

from jobs.publish_seeds import PublishSeeds
from jobs.search import SearchSeeds
from runtime.config import ConfigError
from runtime.context import Context
from runtime.stage import run_stage
from runtime.tables import Tables
from runtime.tracking import Tracker
from tests.conftest import make_config
from tests.test_search_providers import lens, png, providers, seeds_table, settings  # noqa: F401 (providers is a fixture)

# Set before the Spark session starts, as a user's are, so that its Python workers inherit them.
SECRET = "s3-secret-5d1e-never-kept"
os.environ.update({"AWS_ACCESS_KEY_ID": "webmine-test-access", "AWS_SECRET_ACCESS_KEY": SECRET, "AWS_DEFAULT_REGION": "us-east-1"})
BUCKET = "webmine-seeds"


@pytest.fixture
def s3():
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    endpoint = "http://{}:{}".format(*server.get_host_and_port())
    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=BUCKET)
    yield endpoint
    server.stop()


def context(spark, tmp_path, providers, endpoint, run_id, **more) -> Context:
    config = make_config(tmp_path, **settings(tmp_path, providers, **{
        "search.providers": "[serpapi]", "seeds.publish.storage_options": f"{{endpoint_url: '{endpoint}'}}", **more}))
    tables = Tables(spark, config.tables, tmp_path / "_staging")
    tables.set_run_id(run_id)
    return Context(config, spark, tables, run_id, Tracker(config.tracking))


def test_published_seeds_are_searched_by_their_signed_url_and_renewed(spark, tmp_path, providers, s3):
    images = {"a": png("red"), "b": png("green")}
    publish = {"seeds.publish.url_ttl_s": 7200, "seeds.publish.renew_before_s": 60}

    # A bucket that is not there: each seed keeps the reason and is tried again.
    ctx = context(spark, tmp_path, providers, s3, "publish-0", **publish, **{"seeds.publish.uri": "s3://no-such-bucket/seeds"})
    seeds_table(spark, ctx.tables, {name: (data, None) for name, data in images.items()})
    run_stage(ctx, PublishSeeds())
    rows = ctx.tables.read("seeds").collect()
    assert all(r["image_url"] is None and "bucket does not exist" in r["publish_error"] for r in rows)

    ctx = context(spark, tmp_path, providers, s3, "publish-1", **publish, **{"seeds.publish.uri": f"s3://{BUCKET}/seeds"})
    started = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    assert run_stage(ctx, PublishSeeds()).rows_in == 2
    seeds = {r["seed_id"]: r for r in ctx.tables.read("seeds").collect()}
    for seed in seeds.values():
        url = urlsplit(seed["image_url"])
        assert f"{url.scheme}://{url.netloc}" == s3 and url.path == f"/{BUCKET}/seeds/{seed['seed_id']}.png"
        assert parse_qs(url.query)["X-Amz-Expires"] == ["7200"] and "X-Amz-Signature" in parse_qs(url.query)
        assert seed["published_uri"] == f"s3://{BUCKET}/seeds/{seed['seed_id']}.png" and seed["publish_error"] is None
        assert started + dt.timedelta(seconds=7100) < seed["image_url_expires_at"] < started + dt.timedelta(seconds=7300)
        with urllib.request.urlopen(seed["image_url"], timeout=10) as answer:  # what Lens fetches
            assert answer.read() == seed["content"] and answer.headers["Content-Type"] == "image/png"
        assert SECRET not in str(seed.asDict())
    assert run_stage(ctx, PublishSeeds()).rows_in == 0  # far from expiry: nothing to do

    # Google Lens is asked with the signed URL.
    providers.answers = {seed["image_url"]: [(200, lens(f"https://p.example/{seed_id[:6]}"))] for seed_id, seed in seeds.items()}
    assert run_stage(ctx, SearchSeeds()).rows_in == 2
    assert set(providers.asked) == {seed["image_url"] for seed in seeds.values()}
    assert {r["url"] for r in ctx.tables.read("search_hits").collect()} == {f"https://p.example/{s[:6]}" for s in seeds}

    # Close to expiry (less than renew_before_s left): signed anew; the search is not asked again.
    ctx = context(spark, tmp_path, providers, s3, "publish-2", **{"seeds.publish.uri": f"s3://{BUCKET}/seeds",
                                                                  "seeds.publish.url_ttl_s": 7200, "seeds.publish.renew_before_s": 7199})
    assert run_stage(ctx, PublishSeeds()).rows_in == 2
    renewed = {r["seed_id"]: r for r in ctx.tables.read("seeds").collect()}
    for seed_id, seed in renewed.items():
        assert seed["image_url_expires_at"] > seeds[seed_id]["image_url_expires_at"] and seed["run_id"] == "publish-2"
        with urllib.request.urlopen(seed["image_url"], timeout=10) as answer:
            assert answer.read() == seed["content"]
    assert run_stage(ctx, SearchSeeds()).rows_in == 0 and sum(providers.asked.values()) == 2


def test_credentials_in_storage_options_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="seeds.publish.storage_options.secret"):
        make_config(tmp_path, **{"seeds.publish.uri": "s3://b/p", "seeds.publish.storage_options": "{secret: abc}"})
