"""Paths the training stage writes and reads: a local folder or a URI every executor reaches.

Export, mix and checkpoint go through fsspec, so `train.output_dir` may be `s3://...`,
`gs://...`, `abfss://...`, `hdfs://...` (with that filesystem's fsspec package installed) as
well as a local or shared (NFS, /dbfs, /Volumes) folder.
"""
from __future__ import annotations

import posixpath
from pathlib import Path
from urllib.parse import urlsplit

import fsspec


def is_uri(location: str) -> bool:
    return len(urlsplit(str(location)).scheme) > 1


def absolute(location: str | Path) -> str:
    """A local path made absolute; a URI as it is (no trailing slash)."""
    location = str(location)
    return location.rstrip("/") if is_uri(location) else str(Path(location).resolve())


def join(base: str, *parts: str) -> str:
    return posixpath.join(base, *parts) if is_uri(base) else str(Path(base, *parts))


def parent(location: str) -> str:
    return posixpath.dirname(location.rstrip("/")) if is_uri(location) else str(Path(location).parent)


def resolve(ref: str, root: str) -> str:
    """An image reference from a data file: relative ones are under `root`."""
    return ref if is_uri(ref) or Path(ref).is_absolute() else join(root, ref)


def makedirs(location: str) -> None:
    fs, path = fsspec.core.url_to_fs(location)
    fs.makedirs(path, exist_ok=True)


def open_file(location: str, mode: str = "rb"):
    return fsspec.open(location, mode).open()


def read_text(location: str) -> str:
    with fsspec.open(location, "r", encoding="utf-8") as handle:
        return handle.read()


def write_text(location: str, text: str) -> None:
    with fsspec.open(location, "w", encoding="utf-8") as handle:
        handle.write(text)


def put_folder(local: str, location: str) -> None:
    """Copy a local folder's files to `location` (a URI), keeping the layout."""
    fs, path = fsspec.core.url_to_fs(location)
    fs.makedirs(path, exist_ok=True)
    for file in sorted(Path(local).rglob("*")):
        if file.is_file():
            target = posixpath.join(path, file.relative_to(local).as_posix())
            fs.makedirs(posixpath.dirname(target), exist_ok=True)
            fs.put_file(str(file), target)
