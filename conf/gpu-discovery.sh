#!/usr/bin/env bash
# GPU discovery script for Spark (spark-mp conf template).
#
# Prints this machine's NVIDIA GPUs in the form Spark's resource discovery expects:
#   {"name": "gpu", "addresses": ["0", "1", "2", "3"]}
# from `nvidia-smi --query-gpu=index --format=csv,noheader`.
#
# Use: copy it to the same path on every worker, make it executable, and point Spark at it:
#   spark.executor.resource.gpu.discoveryScript  /opt/spark-mp/gpu-discovery.sh
# (spark-defaults.conf.template, emr/configurations.json and emr/bootstrap.sh do exactly that.)
#
# When nvidia-smi is missing, fails, or lists no GPU, it prints why on stderr and exits 1: Spark then
# refuses to start the executor with that message, instead of an executor that claims no GPU and a
# training task that would silently run on the CPU. Only bash builtins besides nvidia-smi are used.
set -u

where="${HOSTNAME:-this host}"
if ! command -v nvidia-smi >/dev/null 2>&1; then
  echo "gpu-discovery.sh: nvidia-smi not found on PATH ($PATH) on $where: is the NVIDIA driver installed?" >&2
  exit 1
fi
if ! listing="$(nvidia-smi --query-gpu=index --format=csv,noheader 2>&1)"; then
  echo "gpu-discovery.sh: nvidia-smi failed on $where: $listing" >&2
  exit 1
fi

addresses=""
while IFS= read -r line; do
  index="${line//[[:space:]]/}"
  if [ -z "$index" ]; then
    continue
  fi
  if [[ ! "$index" =~ ^[0-9]+$ ]]; then
    echo "gpu-discovery.sh: unexpected line from nvidia-smi on $where: '$line' (expected a GPU index)" >&2
    exit 1
  fi
  addresses="${addresses:+$addresses, }\"$index\""
done <<< "$listing"

if [ -z "$addresses" ]; then
  echo "gpu-discovery.sh: nvidia-smi lists no GPU on $where; spark.executor.resource.gpu.amount needs at least one" >&2
  exit 1
fi
printf '{"name": "gpu", "addresses": [%s]}\n' "$addresses"
