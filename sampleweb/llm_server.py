"""A loopback OpenAI-compatible server with a scripted model, for tests and benchmarks.

It serves /v1/chat/completions and the Batch API (/v1/files, /v1/batches), answers each
pipeline task from the content it is sent (extraction by the rule engine over the page text,
answers from the sample web's ground truth), adds a fixed latency, injects faults at given
rates (429 with Retry-After, 500, hangs past the client's timeout, malformed JSON, truncated
output), and counts what it receives. Given a real server's URL (`upstream`) it passes the chat
completions through to it instead, still counting and faulting them.
"""
from __future__ import annotations

import email.parser
import hashlib
import json
import random
import re
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable

from sampleweb.evaluate import tokens as words
from udfs.extraction import extract_pairs
from runtime.llm_client import answer_problem
from runtime.llm_client import prompt_tokens as billed_prompt_tokens

TASK_BY_PHRASE = {
    "extraction step": "extract",
    "validation step": "validate",
    "careful solver": "synthesize",
    "consistency judge": "consistency",
    "alignment judge": "align",
}
DIGIT_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


@dataclass
class Faults:
    rate_429: float = 0.0
    rate_500: float = 0.0
    rate_timeout: float = 0.0
    rate_malformed: float = 0.0
    rate_truncated: float = 0.0
    retry_after_s: float = 0.05
    hang_s: float = 30.0


def verbalize(answer: str) -> str:
    """'5.33 A' -> 'five point three three A': an answer no number parser reads."""
    return " ".join(
        " ".join(DIGIT_WORDS[int(c)] if c.isdigit() else "point" if c == "." else c for c in token) if any(ch.isdigit() for ch in token) else token
        for token in answer.split()
    )


def deverbalize(text: str) -> str:
    out = []
    for token in text.split():
        if token in DIGIT_WORDS:
            out.append(str(DIGIT_WORDS.index(token)))
        elif token == "point":
            out.append(".")
        else:
            out.append(" " + token + " ")
    return re.sub(r"\s+", " ", "".join(out)).strip()


def _stable(text: str) -> float:
    return int(hashlib.sha256(text.encode()).hexdigest()[:8], 16) / 2**32


class ScriptedModel:
    """Answers each task from what the request says, as a capable model would.

    Questions it knows (the ground truth) get correct answers; a share of questions get
    answers in words (only a judge can compare those), a share get one dissenting candidate,
    and a share get a wrong majority (the web answer then wins at alignment).
    """

    def __init__(self, answers: dict[str, str] | None = None, verbal_share: float = 0.15, dissent_share: float = 0.2, wrong_share: float = 0.05):
        self.answers = {" ".join(words(q)): a for q, a in (answers or {}).items()}
        self.verbal_share, self.dissent_share, self.wrong_share = verbal_share, dissent_share, wrong_share

    def __call__(self, task: str, body: dict) -> list[str]:
        user = body["messages"][-1]["content"]
        text = user if isinstance(user, str) else next(p["text"] for p in user if p["type"] == "text")
        n = body.get("n", 1)
        return getattr(self, task)(text, n)

    def extract(self, text: str, n: int) -> list[str]:
        nodes, block = [], 1
        for line in text.split("\n\n", 1)[1].splitlines() if "\n\n" in text else []:
            if not line.strip():
                block += 1
                continue
            image = re.fullmatch(r"\[image (\d+): ?(.*)\]", line.strip())
            heading = re.match(r"^(#+) (.*)$", line)
            if image:
                nodes.append({"kind": "image", "text": "", "src": image.group(1), "block": block, "level": 0})
            elif heading:
                nodes.append({"kind": "heading", "text": heading.group(2), "block": block, "level": len(heading.group(1))})
            else:
                nodes.append({"kind": "text", "text": line.strip(), "block": block, "level": 0})
        pairs = [
            {"question": p.question.text, "question_images": [int(s) for s in p.question.images],
             "solution": p.solution.text or "not found", "solution_images": [int(s) for s in p.solution.images]}
            for p in extract_pairs(nodes)
        ]
        return [json.dumps({"pairs": pairs})] * n

    def validate(self, text: str, n: int) -> list[str]:
        question = text.split("Question:", 1)[1].split("\n\nImages:", 1)[0].strip()
        images = re.findall(r"\[image (\d+)\]", text)
        return [json.dumps({"valid": len(question) > 20, "reason": "complete and answerable", "relevant_images": [int(i) for i in images]})] * n

    def synthesize(self, text: str, n: int) -> list[str]:
        key = " ".join(words(text))
        truth = self.answers.get(key, "unknown")
        share = _stable(key)
        verbal = share < self.verbal_share
        wrong_majority = self.verbal_share <= share < self.verbal_share + self.wrong_share
        dissent = share > 1 - self.dissent_share
        out = []
        for k in range(n):
            answer = truth
            if wrong_majority and k < (n // 2 + 1):
                answer = "42 units"
            elif dissent and k == n - 1:
                answer = "17 units"
            shown = verbalize(answer) if verbal else answer
            out.append(f"Let us work through the problem step by step.\nThe computation gives the result.\nFinal answer: {shown}")
        return out

    def consistency(self, text: str, n: int) -> list[str]:
        answers = re.findall(r"^(\d+)\. (.*)$", text, re.M)
        groups: dict[str, list[int]] = {}
        for number, answer in answers:
            groups.setdefault(" ".join(words(deverbalize(answer))), []).append(int(number))
        return [json.dumps({"groups": list(groups.values())})] * n

    def align(self, text: str, n: int) -> list[str]:
        synthesized = re.search(r"Synthesized answer: (.*)", text).group(1)
        web = re.search(r"Web page answer: (.*)", text).group(1)
        same = words(deverbalize(synthesized)) == words(deverbalize(web))
        return [json.dumps({"aligned": same, "reason": "same value" if same else "different values"})] * n


@dataclass
class Counts:
    requests: int = 0
    by_task: Counter = field(default_factory=Counter)
    by_body: Counter = field(default_factory=Counter)
    answered_bodies: set = field(default_factory=set)
    answered_by_task: Counter = field(default_factory=Counter)
    faults: Counter = field(default_factory=Counter)
    resent_after_answer: int = 0


class OpenAICompatibleServer:
    def __init__(self, model: Callable[[str, dict], list[str]] | None = None, latency_s: float = 0.0, faults: Faults | None = None, seed: int = 0,
                 batch_polls: int = 1, max_choices: int | None = None, batch_expires_after: int | None = None, upstream: str | None = None):
        self.model = model or ScriptedModel()
        # A real server's /v1 URL: chat completions are passed to it and its answers passed back
        # unchanged (usage and errors included), counted and faulted as the scripted model's are.
        self.upstream = upstream
        self.max_choices = max_choices  # an endpoint that ignores `n` beyond this (None: honours it)
        self.latency_s = latency_s
        self.faults = faults or Faults()
        self.random = random.Random(seed)
        self.counts = Counts()
        self.usage: list[tuple[str, int, int]] = []  # (task, prompt, completion tokens) of each upstream answer
        self.forwarding = 0  # requests at the upstream now: one whose client was killed still bills
        self.lock = threading.Lock()
        self.files: dict[str, bytes] = {}
        self.batches: dict[str, dict] = {}
        self.batch_polls = batch_polls  # polls before a batch reports completed
        self.batch_expires_after = batch_expires_after  # a job answers this many requests, then expires (None: completes)
        # hold(task, after): answer `after` requests of task, then hold every request until released
        self.hold_task: str | None = None
        self.hold_after = 0
        self.holding = threading.Event()
        self.released = threading.Event()
        self._stop = threading.Event()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def hold(self, task: str, after: int) -> None:
        self.hold_task, self.hold_after = task, after
        self.holding.clear()
        self.released.clear()

    def release(self) -> None:
        self.hold_task = None
        self.released.set()

    def close(self) -> None:
        self.released.set()
        self._stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> "OpenAICompatibleServer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ---- chat completions --------------------------------------------------------------
    @staticmethod
    def task_of(body: dict) -> str:
        system = body["messages"][0]["content"]
        for phrase, task in TASK_BY_PHRASE.items():
            if phrase in system:
                return task
        raise ValueError("unknown task")

    def completion(self, body: dict) -> tuple[int, dict, dict]:
        """(status, headers, JSON answer) for one chat completion request."""
        digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
        with self.lock:
            self.counts.requests += 1
            task = self.task_of(body)
            self.counts.by_task[task] += 1
            self.counts.by_body[digest] += 1
            if digest in self.counts.answered_bodies:
                self.counts.resent_after_answer += 1
            roll = self.random.random()
            hold = self.hold_task == task and self.counts.by_task[task] > self.hold_after
        if hold:
            self.holding.set()
            self.released.wait()
            return 503, {}, {"error": {"message": "held"}}
        f = self.faults
        edges = [("429", f.rate_429), ("500", f.rate_500), ("timeout", f.rate_timeout), ("malformed", f.rate_malformed), ("truncated", f.rate_truncated)]
        fault, total = None, 0.0
        for name, rate in edges:
            total += rate
            if roll < total:
                fault = name
                break
        if fault:
            with self.lock:
                self.counts.faults[fault] += 1
        if fault == "429":
            return 429, {"Retry-After": str(f.retry_after_s)}, {"error": {"message": "rate limited", "type": "rate_limit"}}
        if fault == "500":
            return 500, {}, {"error": {"message": "server error", "type": "server_error"}}
        if fault == "timeout":
            self._stop.wait(f.hang_s)
            return 504, {}, {"error": {"message": "gateway timeout"}}
        if self.latency_s:
            time.sleep(self.latency_s)
        if self.upstream:
            return self._forward(task, digest, body)
        contents = self.model(task, body)[: self.max_choices]
        finish = "stop"
        if fault == "malformed":
            contents = ["{not json, and no final line" for _ in contents]
        elif fault == "truncated":
            contents = [c[: max(1, len(c) // 3)] for c in contents]
            finish = "length"
        if fault is None:
            self._answered(task, digest)
        prompt_tokens = billed_prompt_tokens(body)
        completion_tokens = sum(max(1, len(c) // 4) for c in contents)
        return 200, {}, {
            "id": f"chatcmpl-{uuid.uuid4().hex[:12]}", "object": "chat.completion", "created": int(time.time()),
            "model": body["model"],
            "choices": [{"index": i, "message": {"role": "assistant", "content": c}, "finish_reason": finish} for i, c in enumerate(contents)],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens, "total_tokens": prompt_tokens + completion_tokens},
        }

    def _forward(self, task: str, digest: str, body: dict) -> tuple[int, dict, dict]:
        request = urllib.request.Request(f"{self.upstream}/chat/completions", json.dumps(body).encode(), {"Content-Type": "application/json"})
        with self.lock:
            self.forwarding += 1
        try:
            with urllib.request.urlopen(request, timeout=600) as response:
                status, answer = response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            with self.lock:
                self.forwarding -= 1
            return error.code, {}, json.loads(error.read() or b"{}")
        choices = answer["choices"]
        usable = answer_problem(task, [c["finish_reason"] for c in choices], [c["message"]["content"] or "" for c in choices]) is None
        with self.lock:
            self.usage.append((task, answer["usage"]["prompt_tokens"], answer["usage"]["completion_tokens"]))
            self.forwarding -= 1
        if usable:
            self._answered(task, digest)
        return status, {}, answer

    def _answered(self, task: str, digest: str) -> None:
        """A usable answer to this body went out: sending the body again would pay twice."""
        with self.lock:
            if digest not in self.counts.answered_bodies:
                self.counts.answered_bodies.add(digest)
                self.counts.answered_by_task[task] += 1

    # ---- batch API ----------------------------------------------------------------------
    def _run_batch(self, batch: dict) -> None:
        """Answer a job's requests: answers in the output file, failures in the error file, as
        OpenAI does; a job that expires part-way keeps what it had answered."""
        items = [json.loads(line) for line in self.files[batch["input_file_id"]].decode().splitlines()]
        limit = len(items) if self.batch_expires_after is None else self.batch_expires_after
        output, errors = [], []
        for item in items[:limit]:
            status, _, answer = self.completion(item["body"])
            line = json.dumps({
                "id": f"batch_req_{uuid.uuid4().hex[:8]}", "custom_id": item["custom_id"],
                "response": {"status_code": status, "request_id": uuid.uuid4().hex, "body": answer},
                "error": None if status == 200 else {"code": str(status), "message": answer.get("error", {}).get("message", "")},
            })
            (output if status == 200 else errors).append(line)
        for name, lines in (("output_file_id", output), ("error_file_id", errors)):
            if lines:
                file_id = f"file-{uuid.uuid4().hex[:12]}"
                self.files[file_id] = ("\n".join(lines) + "\n").encode()
                batch[name] = file_id
        batch.update(status="completed" if limit >= len(items) else "expired", completed_at=int(time.time()),
                     request_counts={"total": len(items), "completed": len(output), "failed": len(errors)})

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive: clients reuse their connections

            def log_message(self, *args) -> None:
                pass

            def _send(self, status: int, payload: dict | bytes, headers: dict | None = None) -> None:
                body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/octet-stream" if isinstance(payload, bytes) else "application/json")
                self.send_header("Content-Length", str(len(body)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                try:
                    self.wfile.write(body)
                except OSError:
                    pass

            def _body(self) -> bytes:
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def do_POST(self) -> None:
                if self.path == "/v1/chat/completions":
                    status, headers, answer = server.completion(json.loads(self._body()))
                    self._send(status, answer, headers)
                elif self.path == "/v1/files":
                    message = email.parser.BytesParser().parsebytes(
                        b"Content-Type: " + self.headers["Content-Type"].encode() + b"\r\n\r\n" + self._body()
                    )
                    content = next(p.get_payload(decode=True) for p in message.get_payload() if p.get_param("name", header="content-disposition") == "file")
                    file_id = f"file-{uuid.uuid4().hex[:12]}"
                    server.files[file_id] = content
                    self._send(200, {"id": file_id, "object": "file", "bytes": len(content), "created_at": int(time.time()),
                                     "filename": "batch.jsonl", "purpose": "batch", "status": "processed"})
                elif self.path == "/v1/batches":
                    spec = json.loads(self._body())
                    batch_id = f"batch_{uuid.uuid4().hex[:12]}"
                    server.batches[batch_id] = {
                        "id": batch_id, "object": "batch", "endpoint": spec["endpoint"], "input_file_id": spec["input_file_id"],
                        "completion_window": spec["completion_window"], "status": "in_progress", "created_at": int(time.time()),
                        "output_file_id": None, "error_file_id": None, "polls": 0, "metadata": spec.get("metadata"),
                        "request_counts": {"total": 0, "completed": 0, "failed": 0},
                    }
                    self._send(200, {k: v for k, v in server.batches[batch_id].items() if k != "polls"})
                else:
                    self._send(404, {"error": {"message": f"no route {self.path}"}})

            def do_GET(self) -> None:
                if self.path.split("?")[0] == "/v1/batches":  # newest first, one page
                    jobs = [{k: v for k, v in b.items() if k != "polls"} for b in reversed(list(server.batches.values()))]
                    self._send(200, {"object": "list", "data": jobs, "has_more": False, "first_id": None, "last_id": None})
                    return
                match = re.fullmatch(r"/v1/batches/([\w-]+)", self.path)
                if match and match.group(1) in server.batches:
                    batch = server.batches[match.group(1)]
                    batch["polls"] += 1
                    if batch["status"] == "in_progress" and batch["polls"] >= server.batch_polls:
                        server._run_batch(batch)
                    self._send(200, {k: v for k, v in batch.items() if k != "polls"})
                    return
                match = re.fullmatch(r"/v1/files/([\w-]+)/content", self.path)
                if match and match.group(1) in server.files:
                    self._send(200, server.files[match.group(1)])
                    return
                self._send(404, {"error": {"message": f"no route {self.path}"}})

        return Handler
