#!/usr/bin/env bash
# `tessera bench` beside scripts/bench_models.py (PyTorch) on the same cases, one process per case,
# as a Markdown table. Usage: scripts/bench_side_by_side.sh [PYTHON] (default python3; it needs torch,
# timm and torchvision). Build first: swift build -c release --product tessera
set -euo pipefail
cd "$(dirname "$0")/.."
python=${1:-python3}
tessera=.build/release/tessera
cases=("vit-s16 8 forward" "vit-s16 8 train" "vit-b16 8 train" "resnet50 8 forward" "resnet50 8 train"
       "compare-vit 64 train" "compare-resnet 64 train")
field() { "$python" -c "import json, sys; print(round(json.loads(sys.stdin.read().splitlines()[-1])['$1'], 2))"; }
echo "| case | Tessera images/s | PyTorch images/s | Tessera / PyTorch speed | Tessera peak RSS MB |" \
     "PyTorch peak RSS MB |"
echo "|---|---|---|---|---|---|"
for c in "${cases[@]}"; do
    read -r model batch mode <<< "$c"
    ours=$("$tessera" bench --model "$model" --batch "$batch" --mode "$mode" --json)
    theirs=$("$python" scripts/bench_models.py --model "$model" --batch "$batch" --mode "$mode" --json)
    a=$(field images_per_s <<< "$ours") b=$(field images_per_s <<< "$theirs")
    ra=$(field peak_rss_mb <<< "$ours") rb=$(field peak_rss_mb <<< "$theirs")
    ratio=$("$python" -c "print(f'{$a / $b:.2f}×')")
    echo "| $model $mode, batch $batch | $a | $b | $ratio | $ra | $rb |"
done
