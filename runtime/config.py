"""Pipeline configuration: YAML in conf/, validated at start-up.

Every model forbids unknown keys, so a typo stops the run with a message that names
the key. Secrets never live here: a provider names the environment variable that
holds its key.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator


# conf/ beside the packages: the checkout's, or the one installed with the wheel.
CONF_DIR = Path(__file__).resolve().parent.parent / "conf"
# Files the configuration names: a relative path in a conf file is relative to that file's
# folder, so a job finds them from any working directory (a job cluster's is not the bundle's).
FILE_KEYS = (("urls", "blocklist_file"), ("urls", "benchmark_hosts_file"), ("llm", "prompts_dir"))


class ConfigError(ValueError):
    """A configuration file or override that does not validate."""


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RunConfig(Section):
    work_dir: Path = Path("work")
    name: str = "webmine"


class SparkConfig(Section):
    master: str = "local[*]"
    app_name: str = "webmine"
    shuffle_partitions: int = Field(4, ge=1)
    driver_memory: str = "4g"
    extra: dict[str, str] = {}


class TablesConfig(Section):
    # Path mode: every table is a Delta folder under root, a local folder or a URI that
    # every node reaches (hdfs://, s3a://, abfss://). Catalog mode (Databricks, Unity
    # Catalog): every table is `<catalog>.<name>`, e.g. `main.webmine.final_qas`.
    root: str = "work/tables"
    catalog: str | None = None
    # Where stages fix their batches as Delta tables; executors write there, so on a
    # cluster it must be shared storage too. Empty: `<run.work_dir>/_staging`.
    staging: str | None = None
    # Time travel reaches back this far: Delta keeps the log (log_retention_days) and the files a
    # later commit replaced (deleted_file_retention_days; VACUUM and Databricks' predictive
    # optimisation honour it) for the versions that audits, lineage and training pin.
    log_retention_days: int = Field(90, ge=1)
    deleted_file_retention_days: int = Field(30, ge=7)  # Delta's VACUUM refuses less than 7 days
    # A run's staged batches keep their replaced files this long (longer than any batch takes);
    # jobs.maintain removes a staging folder a killed run left once it is this long unused.
    staging_retention_hours: int = Field(24, ge=1)

    @model_validator(mode="after")
    def _log_outlives_files(self) -> "TablesConfig":
        if self.log_retention_days < self.deleted_file_retention_days:
            raise ValueError(f"tables.log_retention_days ({self.log_retention_days}) must be at least "
                             f"tables.deleted_file_retention_days ({self.deleted_file_retention_days}): "
                             "a version whose log is gone cannot be read even with its files")
        return self


class TrackingConfig(Section):
    enabled: bool = True
    uri: str = "sqlite:///work/mlflow.db"
    # Empty: the tracking server chooses (Databricks does).
    artifact_root: Path | None = Path("work/mlartifacts")
    experiment: str = "webmine"


class SampleWebConfig(Section):
    enabled: bool = True
    dir: Path = Path("work/sample_web")
    bind: str = "127.0.0.1"
    port: int = Field(18080, ge=1, le=65535)
    content_pages: int = Field(120, ge=6)
    seed: int = 7
    seed_fraction: float = Field(0.45, gt=0, le=1)


# Options that would carry a credential: those come from the environment, never from conf.
SECRET_OPTION_WORDS = ("key", "secret", "token", "password", "credential", "sas", "connection_string")


class PublishConfig(Section):
    """Seed images uploaded to object storage and given a time-limited signed URL as `image_url`,
    so that a provider that searches by URL (SerpAPI Google Lens) can be asked about local seeds."""

    # Where to upload, through fsspec: s3://bucket/prefix, gs://bucket/prefix, az://container/prefix
    # (or abfs://), or the cloud location of a Databricks external volume. Empty: nothing is published.
    uri: str | None = None
    url_ttl_s: int = Field(7 * 24 * 3600, ge=60)  # S3 signs for at most 7 days
    renew_before_s: int = Field(24 * 3600, ge=0)  # a URL with less left than this is signed anew
    partitions: int = Field(2, ge=1)  # Spark tasks uploading at once
    # fsspec options that are not credentials (endpoint_url, region_name, ...); credentials are
    # read by each SDK from its environment variables (AWS_*, GOOGLE_APPLICATION_CREDENTIALS, AZURE_*).
    storage_options: dict[str, str] = {}

    @model_validator(mode="after")
    def _no_secrets(self) -> "PublishConfig":
        secret = [k for k in self.storage_options if any(w in k.lower() for w in SECRET_OPTION_WORDS)]
        if secret:
            raise ValueError(f"seeds.publish.storage_options.{secret[0]}: credentials come from the environment, not from conf")
        if self.renew_before_s >= self.url_ttl_s:
            raise ValueError(f"seeds.publish.renew_before_s ({self.renew_before_s}) must be less than url_ttl_s ({self.url_ttl_s})")
        return self


class SeedsConfig(Section):
    # A folder of images, a CSV/JSONL manifest with columns `path`, `subject` (and optionally
    # `image_url`, the image's public URL, which SerpAPI needs), or a Parquet file or folder
    # with image bytes (a Hugging Face dataset export). Empty means: the sample web's manifest.
    source: Path | None = None
    min_side: int = Field(32, ge=1)
    max_side: int = Field(8192, ge=1)
    max_bytes: int = Field(20_000_000, ge=1)
    # Parquet seeds: the column with the image (binary, or a struct with `bytes`), the subject's
    # column and the public URL's column (absent columns are left empty).
    parquet_image_column: str = "image"
    parquet_subject_column: str = "subject"
    parquet_url_column: str = "image_url"
    # A seed whose pHash lies within this many bits of an earlier seed's is a near duplicate.
    near_duplicate_distance: int = Field(6, ge=0, le=16)
    publish: PublishConfig = PublishConfig()


class RemoteSearchConfig(Section):
    """A paid search API. The key is read from the environment variable named here."""

    base_url: str
    api_key_env: str
    timeout_s: float = Field(30, gt=0)
    requests_per_minute: int = Field(60, ge=1)  # for the whole job, shared by `partitions` tasks
    concurrency: int = Field(4, ge=1)  # requests at once per task
    partitions: int = Field(1, ge=1)
    max_retries: int = Field(4, ge=0)  # for 429, 5xx, timeouts and connection errors
    backoff_base_s: float = Field(1.0, gt=0)
    backoff_max_s: float = Field(60, gt=0)
    max_results: int = Field(60, ge=1)
    max_response_bytes: int = Field(5_000_000, ge=1)
    # US dollars per request answered with HTTP 2xx (what the provider bills); errors are not billed.
    price_per_request_usd: float = Field(ge=0)


class SerpApiConfig(RemoteSearchConfig):
    # Google Lens through SerpAPI: needs the seed's public image URL (`seeds.image_url`).
    base_url: str = "https://serpapi.com/search.json"
    api_key_env: str = "SERPAPI_API_KEY"
    price_per_request_usd: float = Field(0.015, ge=0)  # list price: Developer plan, $75 for 5,000 searches


class CloudVisionConfig(RemoteSearchConfig):
    # Google Cloud Vision web detection: the seed's bytes are sent (base64).
    base_url: str = "https://vision.googleapis.com/v1/images:annotate"
    api_key_env: str = "GOOGLE_CLOUD_VISION_API_KEY"
    include_partial_matches: bool = True  # pages with partially matching images count too
    price_per_request_usd: float = Field(0.0035, ge=0)  # list price: web detection, $3.50 per 1,000 units


class IndexConfig(Section):
    # For `jobs.build_index`: a local folder of saved pages (<host>/<path>.html and the images they
    # show), or WARC files: one file, a folder, or a glob, local or any fsspec URI (s3://crawl/*.warc.gz).
    # The sample web indexes itself.
    source: str | None = None
    # Each image is indexed by its pHash and by the pHash of its centre, this much cut off each
    # side, so that a cropped copy still matches.
    crop_fraction: float = Field(0.05, ge=0, lt=0.5)
    min_side: int = Field(32, ge=1)
    max_record_bytes: int = Field(20_000_000, ge=1)  # a WARC page or image record larger than this is passed over
    # The banding join of runtime/near_duplicates: `bands` of the 64-bit hash, `probe_radius`
    # bits probed per band (null: max_distance // bands, which finds every match).
    bands: Literal[2, 4, 8, 16] = 4
    probe_radius: int | None = Field(None, ge=0, le=4)


class SearchConfig(Section):
    # Queried in this order for every seed: local (the reverse-image index in `search_index`),
    # serpapi (Google Lens), cloud_vision (Google Cloud Vision web detection).
    providers: list[Literal["local", "serpapi", "cloud_vision"]] = Field(["local"], min_length=1)
    top_k: int = Field(10, ge=1)  # pages per seed from the local index
    max_distance: int = Field(12, ge=0, le=64)  # the local index's match threshold, in bits
    index: IndexConfig = IndexConfig()
    serpapi: SerpApiConfig = SerpApiConfig()
    cloud_vision: CloudVisionConfig = CloudVisionConfig()
    # Rounds of search in one pipeline run: the images of QAs validated in round k become the
    # seeds of round k+1, at most `max_seeds_per_round` of them.
    rounds: int = Field(2, ge=1)
    max_seeds_per_round: int = Field(1000, ge=1)
    # Remote search spend, over everything in search_responses: once reached, further queries are
    # `skipped` rows (asked when the budget is raised). Empty: no limit.
    max_spend_usd: float | None = Field(None, ge=0)

    def remote(self, provider: str) -> RemoteSearchConfig:
        return {"serpapi": self.serpapi, "cloud_vision": self.cloud_vision}[provider]

    @model_validator(mode="after")
    def _radius_fits(self) -> "SearchConfig":
        radius = self.index.probe_radius if self.index.probe_radius is not None else self.max_distance // self.index.bands
        if radius > 4:
            raise ValueError(f"search.max_distance {self.max_distance} with search.index.bands {self.index.bands} probes "
                             f"{radius} bits per band (at most 4): use more bands or set search.index.probe_radius")
        return self


class UrlsConfig(Section):
    # Hosts whose pages are unlikely to hold problems; a name blocks its subdomains too.
    # The file holds one host a line (# comments); `blocklist` adds to it.
    blocklist_file: Path | None = None
    blocklist: list[str] = []
    tracking_params: list[str] = ["utm_*", "fbclid", "gclid", "msclkid", "mc_cid", "mc_eid", "ref", "ref_src"]
    # Hosts of evaluation benchmarks: their pages never enter, so test items cannot leak in.
    benchmark_hosts_file: Path | None = None
    benchmark_hosts: list[str] = []
    # Drop the URLs of the K hosts with the most search hits (0: keep them).
    skip_top_domains: int = Field(0, ge=0)


class NetworkConfig(Section):
    # `host:port` patterns (fnmatch) that may resolve to loopback or private addresses.
    allow_private: list[str] = []
    # false: nothing but the allow-listed host:ports is reached (offline runs, benchmarks on saved pages)
    allow_public: bool = True
    user_agent: str = "WebMine/0.1 (+https://example.invalid/webmine)"


RESOURCE_TYPES = ("document", "stylesheet", "image", "media", "font", "script", "texttrack", "xhr", "fetch",
                  "eventsource", "websocket", "manifest", "other")


class RenderConfig(Section):
    # auto: a page whose scripts cannot change its content (udfs/page_scripts.py) is rendered with
    # scripts off and read at load, the rest in the full browser; browser / static: every page so.
    mode: Literal["auto", "browser", "static"] = "auto"
    concurrency: int = Field(4, ge=1)  # pages at once in each Python worker's browser
    partitions: int = Field(2, ge=1)  # Spark tasks, each with its worker's browser
    page_timeout_s: float = Field(15, gt=0)  # everything for one page: fetch, load, tree
    # After load, the tree is taken once the page has settled: no request pending and none started
    # or ended, and no DOM change, for `settle_quiet_s`; a page that does not within
    # `settle_timeout_s` (or its page time) is `partial`.
    settle_quiet_s: float = Field(0.5, gt=0)
    settle_timeout_s: float = Field(5, gt=0)
    max_attempts: int = Field(3, ge=1)  # renders of a page that fails in passing (timeout, 5xx, partial)
    block_resource_types: list[Literal[RESOURCE_TYPES]] = ["media", "font"]  # never fetched
    max_page_bytes: int = Field(5_000_000, ge=1)  # the main document, and each resource a page loads
    max_redirects: int = Field(5, ge=0)
    chromium_path: Path = Path("/usr/bin/chromium")
    obey_robots: bool = True
    per_host_concurrency: int = Field(2, ge=1)  # pages of one host at once, per worker
    per_host_delay_s: float = Field(0.5, ge=0)  # between the starts of two pages of one host, per worker
    # A site's robots.txt Crawl-delay lengthens that gap; pages of a site asking for more are not rendered.
    max_crawl_delay_s: float = Field(10.0, ge=0)
    rasterize_svg: bool = True  # SVG images and inline SVG diagrams become PNG images in the tree
    svg_min_side: int = Field(64, ge=1)  # smaller SVGs (icons) are not rasterised

    @model_validator(mode="after")
    def _settling_fits(self) -> "RenderConfig":
        if self.settle_timeout_s <= self.settle_quiet_s:
            raise ValueError("settle_timeout_s must exceed settle_quiet_s: no page could settle")
        return self


class ImagesConfig(Section):
    concurrency: int = Field(8, ge=1)  # downloads at once per Spark task
    timeout_s: float = Field(10, gt=0)
    max_bytes: int = Field(10_000_000, ge=1)
    min_side: int = Field(100, ge=1)
    partitions: int = Field(2, ge=1)
    output_format: Literal["png", "jpeg"] = "png"  # images are stored as RGB in this format
    jpeg_quality: int = Field(90, ge=1, le=95)
    animated: Literal["first_frame", "drop"] = "first_frame"
    obey_robots: bool = True  # an image a site's robots.txt disallows becomes a `robots` row
    max_attempts: int = Field(3, ge=1)  # downloads of an image that fails in passing (timeout, 5xx)


class EndpointConfig(Section):
    """An OpenAI-compatible endpoint. The key is read from the environment variable named here."""

    base_url: str = "https://api.openai.com/v1"
    api_key_env: str = "OPENAI_API_KEY"
    timeout_s: float = Field(60, gt=0)
    # How the endpoint takes the reply's JSON schema as response_format: json_schema (OpenAI,
    # vLLM), json_object (llama.cpp's server: schema beside the type), none (parsed from text).
    structured_output: Literal["json_schema", "json_object", "none"] = "json_schema"
    # Whether the endpoint's model reads images. False sends a request's text alone, the images'
    # placeholders in it (a text-only judge; a server without a vision projector answers 500).
    images: bool = True
    # The most choices the endpoint returns in one answer (llama.cpp's server: its slots, and
    # a 400 beyond); a request for more is sent in parts. None: as many as asked.
    max_choices: int | None = Field(None, ge=1)


class LlmStageConfig(Section):
    endpoint: str = "default"
    model: str = "gpt-4o-mini"
    temperature: float = Field(0.0, ge=0, le=2)
    max_tokens: int = Field(1024, ge=1)


class PriceConfig(Section):
    """US dollars per million tokens; the Batch API bills batch_factor of that."""

    input_per_mtok: float = Field(ge=0)
    output_per_mtok: float = Field(ge=0)
    batch_factor: float = Field(0.5, gt=0, le=1)


class LlmConfig(Section):
    # rules: the offline rule-based engine (answers come from the page); llm: the LLM stages.
    engine: Literal["rules", "llm"] = "rules"
    endpoints: dict[str, EndpointConfig] = {"default": EndpointConfig()}
    # One model setting per task; the consistency and alignment judges share `judge`.
    extract: LlmStageConfig = LlmStageConfig(max_tokens=2048)
    validate_: LlmStageConfig = Field(LlmStageConfig(max_tokens=256), alias="validate")
    synthesize: LlmStageConfig = LlmStageConfig(temperature=0.7, max_tokens=1024)
    judge: LlmStageConfig = LlmStageConfig(max_tokens=256)
    prompts_dir: Path = CONF_DIR / "prompts"  # <task>.yaml: version, system, user
    answers_per_question: int = Field(4, ge=1)
    synthesis_mode: Literal["online", "batch"] = "online"
    # A Batch API job holds at most this many requests and bytes of JSONL (OpenAI's limits).
    batch_max_requests: int = Field(50_000, ge=1)
    batch_max_bytes: int = Field(200_000_000, ge=1)
    # Bounds for the whole job; each of the `partitions` concurrent tasks gets its share.
    partitions: int = Field(2, ge=1)
    concurrency: int = Field(16, ge=1)
    requests_per_minute: int = Field(600, ge=1)
    tokens_per_minute: int = Field(400_000, ge=1)
    max_retries: int = Field(6, ge=0)
    max_parse_retries: int = Field(2, ge=0)
    backoff_base_s: float = Field(0.5, gt=0)
    backoff_max_s: float = Field(30, gt=0)
    image_max_side: int = Field(768, ge=32)
    # Sent with every image: the tokens billed for an image depend on it (low: a fixed few).
    image_detail: Literal["low", "high", "auto"] = "high"
    prices: dict[str, PriceConfig] = {}
    # A model missing from prices stops the run at start-up, unless this says it may run at $0.
    allow_unpriced: bool = False

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    def task(self, name: str) -> LlmStageConfig:
        """The model settings of a prompt task (extract, validate, synthesize, consistency, align)."""
        return {"extract": self.extract, "validate": self.validate_, "synthesize": self.synthesize}.get(name, self.judge)

    @model_validator(mode="after")
    def _references_resolve(self) -> "LlmConfig":
        for name in ("extract", "validate", "synthesize", "judge"):
            endpoint = getattr(self, "validate_" if name == "validate" else name).endpoint
            if endpoint not in self.endpoints:
                raise ValueError(f"llm.{name}.endpoint: no endpoint named {endpoint!r} in llm.endpoints")
            model = getattr(self, "validate_" if name == "validate" else name).model
            if self.engine == "llm" and model not in self.prices and not self.allow_unpriced:
                raise ValueError(f"llm.prices: no price for model {model!r} (used by llm.{name}); give one, or set llm.allow_unpriced")
        return self


class ValidateConfig(Section):
    min_question_chars: int = Field(15, ge=1)
    max_question_chars: int = Field(4000, ge=1)


# Evaluation benchmarks that udfs/benchmarks.py reads in the shapes their maintainers publish.
PublishedBenchmark = Literal["mmmu", "mmmu_pro", "mathvista", "mathverse", "dynamath"]


class TrainConfig(Section):
    """Fine-tuning from a pinned version of final_qas; defaults are the reference's hyperparameters."""

    table_version: int | None = None  # None: the latest version, recorded with the run
    # Export, mix and checkpoint: a local or shared folder, or a URI every executor reaches (s3://, gs://, ...).
    output_dir: str = "work/train"
    checkpoint: str | None = None  # a saved model + processor (folder or hub id) that AutoModelForImageTextToText loads
    external_data: str | None = None  # conversation JSONL to mix in; None: no mix
    mix_ratio: float = Field(0.9, gt=0, le=1)  # our share of the mix (9:1)
    seed: int = 0
    epochs: int = Field(1, ge=1)
    max_steps: int | None = Field(None, ge=1)  # set: stop after this many optimizer steps (epochs repeat as needed)
    learning_rate: float = Field(1e-5, gt=0)
    vision_learning_rate: float = Field(2e-6, gt=0)  # the vision tower's
    scheduler: Literal["cosine", "linear", "constant_with_warmup"] = "cosine"
    warmup_ratio: float = Field(0.03, ge=0, lt=1)
    weight_decay: float = Field(0.0, ge=0)
    max_grad_norm: float = Field(1.0, gt=0)
    max_length: int = Field(8192, ge=16)  # tokens per example, image tokens included
    per_device_batch_size: int = Field(1, ge=1)
    gradient_accumulation: int = Field(1, ge=1)  # global batch: per_device_batch_size x accumulation x processes
    num_processes: int = Field(1, ge=1)  # one per GPU (or CPU process); they form one DDP / FSDP / ZeRO-3 job
    use_gpu: bool = False
    precision: Literal["auto", "bf16", "fp32"] = "auto"  # auto: bf16 on a GPU that has it, else fp32
    gradient_checkpointing: bool = True
    sharding: Literal["ddp", "fsdp", "deepspeed_zero3"] = "ddp"  # fsdp / ZeRO-3 (needs deepspeed) for models over one GPU
    ddp_find_unused_parameters: bool = True  # text-only batches leave the vision tower unused
    attn_implementation: Literal["sdpa", "eager", "flash_attention_2"] = "sdpa"
    logging_steps: int = Field(1, ge=1)
    dataloader_workers: int = Field(0, ge=0)
    audit_ranks: bool = False  # each rank writes its examples and a parameter digest per step to <run>/ranks/

    @model_validator(mode="after")
    def zero3_runs_on_gpus(self) -> "TrainConfig":
        if self.sharding == "deepspeed_zero3" and not self.use_gpu:
            raise ValueError("train.sharding: deepspeed_zero3 needs train.use_gpu: true")
        return self


class EvaluateConfig(Section):
    """The hand-off to lmms-eval for a trained checkpoint (run where the weights and benchmarks are)."""

    checkpoint: str | None = None
    # lmms-eval's model class; auto: chosen from the checkpoint's architecture (config.json).
    model: str = "auto"
    tasks: list[str] = ["mmmu_pro", "mathverse_testmini", "dynamath"]
    batch_size: int = Field(1, ge=1)
    conv_template: str = "qwen_1_5"  # LLaVA-NeXT-format checkpoints only; HF checkpoints use their own chat template
    output_dir: Path = Path("work/eval")
    # Also score the checkpoint here on benchmark files as published (benchmark -> file, folder or glob).
    published: dict[PublishedBenchmark, str] = {}
    limit: int | None = Field(None, ge=1)  # the first items of each file only
    max_new_tokens: int = Field(512, ge=1)


class DedupConfig(Section):
    """Near-duplicate questions by MinHash LSH; near-duplicate images by perceptual hash."""

    shingle_words: int = Field(2, ge=1)  # questions are compared as sets of word n-grams of this size
    num_perm: int = Field(128, ge=8)  # MinHash permutations
    bands: int = Field(32, ge=1)  # LSH bands (num_perm / bands rows each): more bands find lower similarities
    min_jaccard: float = Field(0.7, gt=0, le=1)  # shingle-set similarity from which two questions are one
    image_distance: int = Field(8, ge=0, le=16)  # pHash bits apart from which two images are one

    @model_validator(mode="after")
    def _bands_divide(self) -> "DedupConfig":
        if self.num_perm % self.bands:
            raise ValueError(f"quality.dedup.bands: {self.bands} does not divide num_perm {self.num_perm}")
        return self


class DecontaminationConfig(Section):
    # A JSONL file, or a folder of them, of benchmark items: id, benchmark, question, images (paths
    # relative to the file, or base64). Empty: the sample web's planted items when the sample web is on.
    benchmarks: Path | None = None
    # Benchmarks as their maintainers publish them: benchmark -> a Parquet / JSON / JSONL file, a
    # folder of them, or a glob; local or a URI (udfs/benchmarks.py reads each benchmark's columns).
    published: dict[PublishedBenchmark, str] = {}
    ngram: int = Field(13, ge=1)  # a QA sharing a word n-gram this long with an item is contaminated
    image_distance: int = Field(8, ge=0, le=16)  # pHash bits from a benchmark image


class QualityConfig(Section):
    dedup: DedupConfig = DedupConfig()
    decontamination: DecontaminationConfig = DecontaminationConfig()


class StagesConfig(Section):
    # Rows of new input committed together; a killed run loses at most one batch.
    batch_rows: int = Field(400, ge=1)
    batch_rows_per_stage: dict[str, int] = {}
    # While a batch runs: a progress bar on a terminal, else a line this often (runtime/progress.py).
    progress_interval_s: float = Field(10, gt=0)


class PipelineConfig(Section):
    run: RunConfig = RunConfig()
    spark: SparkConfig = SparkConfig()
    tables: TablesConfig = TablesConfig()
    tracking: TrackingConfig = TrackingConfig()
    sample_web: SampleWebConfig = SampleWebConfig()
    seeds: SeedsConfig = SeedsConfig()
    search: SearchConfig = SearchConfig()
    urls: UrlsConfig = UrlsConfig()
    network: NetworkConfig = NetworkConfig()
    render: RenderConfig = RenderConfig()
    images: ImagesConfig = ImagesConfig()
    llm: LlmConfig = LlmConfig()
    validate_: ValidateConfig = Field(ValidateConfig(), alias="validate")
    stages: StagesConfig = StagesConfig()
    train: TrainConfig = TrainConfig()
    evaluate: EvaluateConfig = EvaluateConfig()
    quality: QualityConfig = QualityConfig()

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    def staging_root(self) -> str:
        return self.tables.staging or str(self.run.work_dir / "_staging")

    def seed_source(self) -> Path:
        return self.seeds.source or self.sample_web.dir / "seeds" / "manifest.csv"

    def benchmark_source(self) -> Path | None:
        """Where decontamination reads benchmark items; None: nothing to check against."""
        if self.quality.decontamination.benchmarks is not None:
            return self.quality.decontamination.benchmarks
        return self.sample_web.dir / "benchmarks" if self.sample_web.enabled else None

    def blocked_hosts(self) -> list[str]:
        return list(self.urls.blocklist) + _host_file("urls.blocklist_file", self.urls.blocklist_file)

    def benchmark_hosts(self) -> list[str]:
        return list(self.urls.benchmark_hosts) + _host_file("urls.benchmark_hosts_file", self.urls.benchmark_hosts_file)

    def batch_rows(self, stage: str) -> int:
        return self.stages.batch_rows_per_stage.get(stage, self.stages.batch_rows)


def _host_file(key: str, path: Path | None) -> list[str]:
    """One host a line, # comments."""
    if path is None:
        return []
    try:
        lines = path.read_text().splitlines()
    except OSError as exc:
        raise ConfigError(f"{key}: cannot read {path}: {exc.strerror}") from None
    return [line.split("#")[0].strip() for line in lines if line.split("#")[0].strip()]


def _describe(error: ValidationError, source: str) -> str:
    lines = [f"invalid configuration in {source}:"]
    for item in error.errors():
        key = ".".join(str(part) for part in item["loc"]) or "<root>"
        if item["type"] == "extra_forbidden":
            lines.append(f"  {key}: unknown key")
        else:
            lines.append(f"  {key}: {item['msg']}")
    return "\n".join(lines)


def _set_dotted(data: dict[str, Any], dotted: str, value: Any) -> None:
    node = data
    parts = dotted.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"override {dotted}: {part} is not a section")
    node[parts[-1]] = value


def locate_conf(path: str | Path) -> Path:
    """A conf file as given, else (a relative one, e.g. conf/local.yaml) the packaged one."""
    given = Path(path)
    packaged = CONF_DIR.parent / given
    return packaged if not given.exists() and not given.is_absolute() and packaged.exists() else given


def _relative_to(data: dict[str, Any], folder: Path) -> dict[str, Any]:
    for section, key in FILE_KEYS:
        value = data.get(section, {}).get(key) if isinstance(data.get(section), dict) else None
        if isinstance(value, str) and not Path(value).is_absolute() and "://" not in value:
            data[section][key] = str(folder / value)
    return data


def load_config(path: str | Path | None = None, overrides: list[str] | dict[str, Any] | None = None) -> PipelineConfig:
    """Load a YAML file (or the defaults) and apply `key.path=value` overrides."""
    data: dict[str, Any] = {}
    source = "defaults"
    if path is not None:
        path = locate_conf(path)
        source = str(path)
        try:
            loaded = yaml.safe_load(Path(path).read_text()) or {}
        except FileNotFoundError:
            raise ConfigError(f"configuration file not found: {path}") from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"configuration file {path} is not valid YAML: {exc}") from None
        if not isinstance(loaded, dict):
            raise ConfigError(f"configuration file {path} must hold a mapping at the top")
        data = _relative_to(loaded, Path(path).resolve().parent)
    items = overrides.items() if isinstance(overrides, dict) else (
        (item.split("=", 1) if "=" in item else (item, None)) for item in overrides or []
    )
    for key, value in items:
        if value is None:
            raise ConfigError(f"override {key!r} must look like key.path=value")
        _set_dotted(data, key, yaml.safe_load(value) if isinstance(value, str) else value)
    try:
        return PipelineConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, source)) from None
