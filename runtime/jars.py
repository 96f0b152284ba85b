"""Resolve the Delta Lake JARs from Maven Central once, at install time.

Runs and tests read the JARs from the local folder and never resolve anything at
start-up (no `spark.jars.packages`). Each download is checked against the SHA-1
that Maven Central publishes beside it.
"""
from __future__ import annotations

import hashlib
import os
import sys
import urllib.request
from pathlib import Path

MAVEN_CENTRAL = "https://repo1.maven.org/maven2"
# delta-spark 4.1.0 is built against Spark 4.1 (its POM names spark-sql_2.13 4.1.0).
ARTIFACTS = (
    ("io.delta", "delta-spark_2.13", "4.1.0"),
    ("io.delta", "delta-storage", "4.1.0"),
)
DEFAULT_DIR = Path(__file__).resolve().parent.parent / ".jars"


def jar_dir() -> Path:
    return Path(os.environ.get("WEBMINE_JARS", DEFAULT_DIR))


def jar_paths() -> list[Path]:
    return [jar_dir() / f"{artifact}-{version}.jar" for _, artifact, version in ARTIFACTS]


def missing_jars() -> list[Path]:
    return [p for p in jar_paths() if not p.is_file()]


def _fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=120) as response:
        return response.read()


def resolve() -> list[Path]:
    target = jar_dir()
    target.mkdir(parents=True, exist_ok=True)
    for group, artifact, version in ARTIFACTS:
        name = f"{artifact}-{version}.jar"
        dest = target / name
        if dest.is_file():
            continue
        url = f"{MAVEN_CENTRAL}/{group.replace('.', '/')}/{artifact}/{version}/{name}"
        body = _fetch(url)
        expected = _fetch(url + ".sha1").decode().split()[0].strip()
        actual = hashlib.sha1(body).hexdigest()
        if actual != expected:
            raise RuntimeError(f"checksum mismatch for {url}: {actual} != {expected}")
        tmp = dest.with_suffix(".part")
        tmp.write_bytes(body)
        tmp.replace(dest)
        print(f"resolved {group}:{artifact}:{version} -> {dest}")
    return jar_paths()


if __name__ == "__main__":
    resolve()
    sys.exit(0)
