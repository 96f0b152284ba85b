"""Seed images in object storage, reachable by a time-limited signed URL.

Through fsspec: s3:// (s3fs), gs:// (gcsfs), az:// or abfs:// (adlfs), each with its SDK's own
credentials from the environment (AWS_*, GOOGLE_APPLICATION_CREDENTIALS, AZURE_STORAGE_*), never
from conf. A Databricks external volume is published through the cloud location it is on. Each
seed is stored once, as <uri>/<seed_id>.<format>; a renewal signs the stored copy again.
"""
from __future__ import annotations

import datetime as dt
from typing import Iterator

import fsspec
import pandas as pd

from runtime.config import PublishConfig
from schemas.seeds import Seed

MIME = {"PNG": "image/png", "JPEG": "image/jpeg", "GIF": "image/gif", "WEBP": "image/webp", "BMP": "image/bmp", "TIFF": "image/tiff"}


def store(config: PublishConfig):
    """(filesystem, root path) of seeds.publish.uri; raises ValueError when the store cannot sign URLs."""
    options: dict = dict(config.storage_options)
    if config.uri.split("://", 1)[0] in ("s3", "s3a"):
        # Signature version 4: what every S3 region accepts (botocore presigns v2 by default).
        options.setdefault("config_kwargs", {"signature_version": "s3v4"})
    fs, root = fsspec.core.url_to_fs(config.uri, **options)
    if type(fs).sign is fsspec.AbstractFileSystem.sign:
        raise ValueError(f"seeds.publish.uri: {config.uri} ({type(fs).__name__}) cannot sign URLs; name object storage "
                         "(s3://, gs://, az://), for a Databricks volume the cloud location it is on")
    return fs, root.rstrip("/")


def upload_options(fs, fmt: str | None) -> dict:
    """The object's content type, in the words of the store's SDK, so that a fetcher sees an image."""
    mime = MIME.get((fmt or "").upper(), "application/octet-stream")
    protocols = {fs.protocol} if isinstance(fs.protocol, str) else set(fs.protocol)
    if protocols & {"s3", "s3a"}:
        return {"ContentType": mime}
    if protocols & {"gs", "gcs"}:
        return {"content_type": mime}
    return {}


def publish_partitions(config: PublishConfig):
    """A mapInPandas function: seeds rows in, the same rows with a fresh signed `image_url` out
    (or, when the upload or signing fails, unchanged with `publish_error`)."""

    def run(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        fs, root = store(config)
        columns = Seed.transform_schema().fieldNames()
        for batch in batches:
            rows = []
            for row in batch[columns].to_dict("records"):
                path = f"{root}/{row['seed_id']}.{(row['format'] or 'bin').lower()}"
                try:
                    if row["published_uri"] is None:
                        fs.pipe_file(path, bytes(row["content"]), **upload_options(fs, row["format"]))
                    signed_at = dt.datetime.now(dt.timezone.utc)
                    url = fs.sign(path, expiration=config.url_ttl_s)
                except Exception as exc:  # a store that refuses or is down: the seed is published by a later run
                    rows.append({**row, "publish_error": f"{type(exc).__name__}: {str(exc)[:300]}"})
                    continue
                expires = (signed_at + dt.timedelta(seconds=config.url_ttl_s)).replace(tzinfo=None)
                rows.append({**row, "image_url": url, "published_uri": fs.unstrip_protocol(path), "image_url_expires_at": expires,
                             "publish_error": None})
            yield pd.DataFrame(rows, columns=columns)

    return run
