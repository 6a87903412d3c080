#!/usr/bin/env bash
# EMR bootstrap action for spark-mp (spark-mp conf template).
#
# Use: upload this file and conf/gpu-discovery.sh to an S3 prefix, then
#   aws emr create-cluster ... --bootstrap-actions Path=s3://YOUR-BUCKET/spark-mp/bootstrap.sh,Args=[s3://YOUR-BUCKET/spark-mp]
# It runs on every node before YARN and Spark start, and:
#   - installs gpu-discovery.sh at /opt/spark-mp/gpu-discovery.sh (configurations.json points Spark there);
#   - makes the local javacpp cache the executors' extraJavaOptions name;
#   - on nodes with GPUs, opens the devices cgroup to YARN (its GPU plugin isolates each container's GPU).
# The spark-mp jar is not installed here: pass it with spark-submit --jars s3://.../spark-mp-...-all.jar
# (or as an EMR step's argument).
set -euo pipefail

PREFIX="${1:?usage: bootstrap.sh s3://bucket/prefix-holding-gpu-discovery.sh}"

sudo mkdir -p /opt/spark-mp
aws s3 cp "$PREFIX/gpu-discovery.sh" /tmp/gpu-discovery.sh
sudo install -m 0755 /tmp/gpu-discovery.sh /opt/spark-mp/gpu-discovery.sh

sudo mkdir -p /mnt/javacpp-cache
sudo chmod 1777 /mnt/javacpp-cache

if command -v nvidia-smi >/dev/null 2>&1; then
  # Fails the node's bootstrap (with the script's message) when the driver sees no GPU.
  /opt/spark-mp/gpu-discovery.sh
  sudo chmod a+rwx -R /sys/fs/cgroup/cpu,cpuacct /sys/fs/cgroup/devices 2>/dev/null || true
fi
