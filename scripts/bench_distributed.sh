#!/usr/bin/env bash
# Step time of data-parallel training, one core per process: ViT-S/16 and ResNet-50, batch 8 per
# process, 1 process, 2 processes on this machine (shared memory), and 2 processes in two network
# namespaces (TCP over a veth pair; needs root). Prints the JSON lines of `tessera bench` and the
# bytes that crossed the veth. Usage: scripts/bench_distributed.sh [STEPS]
set -euo pipefail
cd "$(dirname "$0")/.."
steps=${1:-5}
tessera=.build/release/tessera
export OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-Haswell} TESSERA_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
args=(--batch 8 --mode train --steps "$steps" --json)
for model in vit-s16 resnet50; do
    echo "# $model, 1 process"
    taskset -c 0 "$tessera" bench --model "$model" "${args[@]}" | tail -1
    echo "# $model, 2 processes, shared memory"
    mpirun --allow-run-as-root -np 2 --bind-to none -x TESSERA_NUM_THREADS -x OPENBLAS_NUM_THREADS \
        "$tessera" bench --model "$model" "${args[@]}" | tail -1
    if hosts=$(scripts/netns-hosts up tbench 98 2>/dev/null); then
        export TESSERA_NETNS_HOSTS=$hosts
        before=$(ip netns exec tbench-a cat /sys/class/net/tbench-va/statistics/tx_bytes)
        echo "# $model, 2 processes, two namespaces (TCP)"
        ip netns exec tbench-a mpirun --allow-run-as-root --host 10.99.98.1,10.99.98.2 -np 2 --bind-to none \
            --mca plm_rsh_agent "$PWD/scripts/netns-rsh" --mca btl tcp,self \
            --mca btl_tcp_if_include 10.99.98.0/24 --mca oob_tcp_if_include 10.99.98.0/24 \
            -x TESSERA_NETNS_HOSTS -x TESSERA_NUM_THREADS -x OPENBLAS_NUM_THREADS -x OPENBLAS_CORETYPE \
            "$tessera" bench --model "$model" "${args[@]}" | tail -1
        after=$(ip netns exec tbench-a cat /sys/class/net/tbench-va/statistics/tx_bytes)
        echo "# veth bytes sent by rank 0 (broadcast + $((steps + 2)) steps): $((after - before))"
        scripts/netns-hosts down tbench
    fi
done
