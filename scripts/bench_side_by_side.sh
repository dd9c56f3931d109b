#!/usr/bin/env bash
# `tessera bench` beside scripts/bench_models.py (PyTorch) on the same cases, one process per case,
# as a Markdown table. Usage: scripts/bench_side_by_side.sh [PYTHON [CASE …]] (default python3; it needs
# torch, timm and torchvision; a case is "MODEL BATCH MODE", default: all of them).
# Build first: swift build -c release --product tessera
set -euo pipefail
cd "$(dirname "$0")/.."
python=${1:-python3}
shift || true  # the remaining arguments, if any, are the cases ("swin-t 8 train" …)
tessera=.build/release/tessera
cases=("$@")
[ ${#cases[@]} -gt 0 ] || cases=("vit-s16 8 forward" "vit-s16 8 train" "vit-b16 8 train" "resnet50 8 forward"
       "resnet50 8 train" "swin-t 8 forward" "swin-t 8 train" "compare-vit 64 train" "compare-resnet 64 train"
       "compare-swin 64 forward" "compare-swin 64 train")
field() { "$python" -c "import json, sys; print(round(json.loads(sys.stdin.read().splitlines()[-1])['$1'], 3))"; }
echo "| case | Tessera images/s | PyTorch images/s | Tessera / PyTorch speed | Tessera peak RSS MB |" \
     "PyTorch peak RSS MB | G multiply-adds per image (Tessera / PyTorch) |"
echo "|---|---|---|---|---|---|---|"
for c in "${cases[@]}"; do
    read -r model batch mode <<< "$c"
    ours=$("$tessera" bench --model "$model" --batch "$batch" --mode "$mode" --json)
    theirs=$("$python" scripts/bench_models.py --model "$model" --batch "$batch" --mode "$mode" --json)
    a=$(field images_per_s <<< "$ours") b=$(field images_per_s <<< "$theirs")
    ra=$(field peak_rss_mb <<< "$ours") rb=$(field peak_rss_mb <<< "$theirs")
    ga=$(field forward_gmacs <<< "$ours") gb=$(field forward_gmacs <<< "$theirs")
    ratio=$("$python" -c "print(f'{$a / $b:.2f}×')")
    echo "| $model $mode, batch $batch | $a | $b | $ratio | $ra | $rb | $ga / $gb |"
done
