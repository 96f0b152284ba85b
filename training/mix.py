"""Mix the exported QAs with an external instruction set (same conversation format).

`ratio` is our share of the mix: 0.9 gives 9 of ours to 1 external record, the reference's
mix. Sampling and order are reproducible from `seed`; when the external set holds fewer
records than the ratio asks for, all of them are used and the shortfall is reported. Files may
be local paths or URIs (fsspec).
"""
from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass

from training import storage


class MixError(ValueError):
    pass


@dataclass
class MixResult:
    ours: int
    external: int
    external_available: int
    ratio_asked: float
    ratio_actual: float
    seed: int
    jsonl: str


def _read_jsonl(path: str, absolute_images: bool = False) -> list[str]:
    """Validated records; with absolute_images, relative image paths are made absolute
    against the file's folder, so one image folder serves the whole mix."""
    lines = []
    folder = storage.parent(storage.absolute(path))
    for number, line in enumerate(storage.read_text(path).splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise MixError(f"{path}:{number}: not JSON ({exc.msg})") from None
        if not isinstance(record.get("conversations"), list):
            raise MixError(f"{path}:{number}: no conversations list")
        if absolute_images and record.get("image"):
            images = record["image"] if isinstance(record["image"], list) else [record["image"]]
            images = [storage.resolve(image, folder) for image in images]
            record["image"] = images if isinstance(record["image"], list) else images[0]
            line = json.dumps(record, ensure_ascii=False, sort_keys=True)
        lines.append(line)
    return lines


def mix(ours: str, external: str, out: str, ratio: float = 0.9, seed: int = 0) -> MixResult:
    if not 0 < ratio <= 1:
        raise MixError(f"ratio must be in (0, 1], got {ratio}")
    own = _read_jsonl(ours)
    other = _read_jsonl(external, absolute_images=True)
    wanted = round(len(own) * (1 - ratio) / ratio)
    rng = random.Random(seed)
    taken = rng.sample(other, min(wanted, len(other)))
    records = own + taken
    rng.shuffle(records)
    out = storage.absolute(out)
    storage.makedirs(storage.parent(out))
    storage.write_text(out, "".join(line + "\n" for line in records))
    total = len(records)
    result = MixResult(
        ours=len(own), external=len(taken), external_available=len(other), ratio_asked=ratio,
        ratio_actual=len(own) / total if total else 0.0, seed=seed, jsonl=out,
    )
    storage.write_text(out.removesuffix(".jsonl") + ".mix.json", json.dumps(asdict(result), indent=1))
    return result
