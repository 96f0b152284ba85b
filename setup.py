from setuptools import setup

setup(
    name="webmine",
    version="0.1.0",
    description="Web-mined image + question + answer data for vision-language models, on Spark and Delta Lake",
    python_requires=">=3.10",
    packages=["runtime", "schemas", "udfs", "jobs", "sampleweb", "training"],
    package_data={"udfs": ["tree.js"]},
    # Spark and Delta are the `spark` extra: Databricks brings its own, and a second
    # pyspark installed over the runtime's breaks it. Everywhere else: pip install '.[spark]'.
    install_requires=[
        "playwright==1.65.2",
        "pydantic>=2.7,<3",
        "pyyaml>=6",
        "pillow>=11",
        "imagehash==4.3.2",
        "openai==3.51.0",
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
    ],
    extras_require={
        "spark": ["pyspark==4.1.1", "delta-spark==4.1.0"],
        "test": ["pytest>=8", "pytest-timeout>=2.3", "moto[server]==5.2.5", "s3fs==2026.9.0"],
        # Object storage for WARC crawls and published seeds (fsspec): S3 here; gcsfs / adlfs for GCS / Azure.
        "s3": ["s3fs==2026.9.0"],
        # The training stage only: torch from PyPI is a large CUDA build.
        "train": ["torch==2.15.0", "transformers==5.23.0", "datasets==5.2.0"],
        # benchmarks/ only: the static baseline and the extractor compared against.
        "bench": ["beautifulsoup4>=4.12", "trafilatura==2.3.1"],
    },
)
