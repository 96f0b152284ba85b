#!/usr/bin/env bash
# Spark resource discovery: the driver's GPUs, for TorchDistributor in local mode.
addresses=$(nvidia-smi --query-gpu=index --format=csv,noheader | sed 's/.*/"&"/' | paste -sd, -)
echo "{\"name\": \"gpu\", \"addresses\": [${addresses}]}"
