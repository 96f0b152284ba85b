"""LLM requests of the pipeline's tasks: versioned prompts, images as data URLs, the request
rows (REQUEST_COLUMNS of runtime.ledger) that the ledger answers.

The request carries what its endpoint takes: the reply's JSON schema as `response_format`
where the endpoint supports structured output (else the reply is parsed from free text), and
each image's `detail` explicitly, since the tokens billed for it depend on it.
"""
from __future__ import annotations

import base64
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from PIL import Image

from runtime.config import LlmConfig
from runtime.llm_client import request_id
from runtime.llm_replies import response_format


@dataclass(frozen=True)
class Prompt:
    task: str
    version: str
    system: str
    user: str

    def messages(self, images: list[str] = (), detail: str = "auto", **fields: str) -> list[dict]:
        text = self.user.format(**fields)
        content: Any = text
        if images:
            content = [{"type": "text", "text": text}] + [{"type": "image_url", "image_url": {"url": url, "detail": detail}} for url in images]
        return [{"role": "system", "content": self.system}, {"role": "user", "content": content}]


def load_prompt(prompts_dir: Path, task: str) -> Prompt:
    path = prompts_dir / f"{task}.yaml"
    try:
        spec = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"prompt for task {task} not found: {path}") from None
    return Prompt(task, spec["version"], spec["system"], spec["user"])


def request_body(prompt: Prompt, llm: LlmConfig, images: list[str] = (), n: int = 1, **fields: str) -> dict:
    settings = llm.task(prompt.task)
    endpoint = llm.endpoints[settings.endpoint]
    images = images if endpoint.images else ()
    body = {"model": settings.model, "messages": prompt.messages(images, llm.image_detail, **fields), "temperature": settings.temperature,
            "max_tokens": settings.max_tokens}
    if n > 1:
        body["n"] = n
    schema = response_format(prompt.task, endpoint.structured_output)
    if schema:
        body["response_format"] = schema
    return body


def build_request(prompt: Prompt, llm: LlmConfig, images: list[str] = (), n: int = 1, **fields: str) -> dict:
    """A request row (REQUEST_COLUMNS of runtime.ledger) for a task's prompt and settings."""
    body = request_body(prompt, llm, images, n, **fields)
    return {
        "request_id": request_id(prompt.version, body), "task": prompt.task, "prompt_version": prompt.version,
        "endpoint": llm.task(prompt.task).endpoint, "body": json.dumps(body, sort_keys=True),
    }


def image_data_url(content: bytes, max_side: int) -> str:
    """The image as a PNG data URL, its longest side at most max_side."""
    with Image.open(io.BytesIO(content)) as image:
        image = image.convert("RGB")
        image.thumbnail((max_side, max_side))
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
