"""Mix the exported QAs with an external instruction set (same conversation format).

`ratio` is our share of the mix: 0.9 gives 9 of ours to 1 external record, the reference's
mix. Sampling and order are reproducible from `seed`; when the external set holds fewer
records than the ratio asks for, all of them are used and the shortfall is reported.
"""
from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass
from pathlib import Path


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


def _read_jsonl(path: Path, absolute_images: bool = False) -> list[str]:
    """Validated records; with absolute_images, relative image paths are made absolute
    against the file's folder, so one image folder serves the whole mix."""
    lines = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
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
            images = [str((path.parent / image).resolve()) for image in images]
            record["image"] = images if isinstance(record["image"], list) else images[0]
            line = json.dumps(record, ensure_ascii=False, sort_keys=True)
        lines.append(line)
    return lines


def mix(ours: Path, external: Path, out: Path, ratio: float = 0.9, seed: int = 0) -> MixResult:
    if not 0 < ratio <= 1:
        raise MixError(f"ratio must be in (0, 1], got {ratio}")
    own = _read_jsonl(ours)
    other = _read_jsonl(external, absolute_images=True)
    wanted = round(len(own) * (1 - ratio) / ratio)
    rng = random.Random(seed)
    taken = rng.sample(other, min(wanted, len(other)))
    records = own + taken
    rng.shuffle(records)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(line + "\n" for line in records))
    total = len(records)
    result = MixResult(
        ours=len(own), external=len(taken), external_available=len(other), ratio_asked=ratio,
        ratio_actual=len(own) / total if total else 0.0, seed=seed, jsonl=str(out),
    )
    out.with_suffix(".mix.json").write_text(json.dumps(asdict(result), indent=1))
    return result
