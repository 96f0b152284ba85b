from setuptools import setup

setup(
    name="webmine",
    version="0.1.0",
    description="Web-mined image + question + answer data for vision-language models, on Spark and Delta Lake",
    python_requires=">=3.10",
    packages=["runtime", "schemas", "udfs", "jobs", "sampleweb"],
    package_data={"udfs": ["tree.js"]},
    install_requires=[
        "pyspark==4.1.1",
        "delta-spark==4.1.0",
        "playwright==1.65.2",
        "pydantic>=2.7,<3",
        "pyyaml>=6",
        "pillow>=11",
        "imagehash==4.3.2",
        "mlflow>=3.4,<4",
        "pandas>=2.2,<3",
        "pyarrow>=15",
        "numpy>=1.26",
    ],
    extras_require={
        "test": ["pytest>=8", "pytest-timeout>=2.3"],
        # benchmarks/ only: the static baseline and the extractor compared against.
        "bench": ["beautifulsoup4>=4.12", "trafilatura==2.3.1"],
    },
)
