#!/usr/bin/env bash
# Databricks cluster init script for spark-mp (spark-mp conf template).
#
# Use: upload to a workspace file or Unity Catalog volume, e.g. /Volumes/main/default/spark-mp/init-spark-mp.sh,
# and name it in the cluster's init_scripts (cluster.json here does). It runs on the driver and on every
# worker before Spark starts, and:
#   - makes the local javacpp cache that cluster.json's extraJavaOptions point at (ND4J's natives unpack
#     there once per node instead of into a home directory);
#   - on workers, checks that the node has the GPU the Spark conf asks for, and fails the node's start
#     with a message naming what nvidia-smi found, instead of a worker that trains on the CPU.
# The spark-mp jar itself is a cluster library (libraries.json), not installed here.
set -euo pipefail

CACHE=/local_disk0/tmp/javacpp-cache
mkdir -p "$CACHE"
chmod 1777 "$CACHE"

# DB_IS_DRIVER is set by Databricks on the driver node; GPU checks only matter where tasks run.
if [ "${DB_IS_DRIVER:-FALSE}" != "TRUE" ]; then
  if ! command -v nvidia-smi >/dev/null 2>&1; then
    echo "init-spark-mp.sh: no nvidia-smi on worker ${HOSTNAME:-?}: choose a GPU node type and a GPU (ML) runtime" >&2
    exit 1
  fi
  gpus="$(nvidia-smi --query-gpu=index --format=csv,noheader | grep -c . || true)"
  if [ "$gpus" -lt 1 ]; then
    echo "init-spark-mp.sh: nvidia-smi lists no GPU on worker ${HOSTNAME:-?}; spark.task.resource.gpu.amount needs one" >&2
    exit 1
  fi
  echo "init-spark-mp.sh: worker ${HOSTNAME:-?} has $gpus GPU(s)"
fi
