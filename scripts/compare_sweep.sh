#!/usr/bin/env bash
# The runs behind `tessera compare`'s supervised design and its PyTorch reference; each stage appends
# one JSON line per run to Docs/compare-sweep/<stage>.jsonl (see Docs/compare-sweep/README.md).
#
#   scripts/compare_sweep.sh [stage ...]
#       stages: reference lr tessera-seeds full-reference dino-reference full-seeds (default: all but
#       full-seeds, which takes about 35 minutes)
#
# PYTHON names the interpreter with torch, torchvision, timm and safetensors (default python3; it is
# split into words, so a wrapper command works). Each stage takes 5–15 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
out=Docs/compare-sweep
work=${SWEEP_WORK:-runs/compare-sweep}
python=(${PYTHON:-python3})
mkdir -p "$out" "$work"
tessera=${TESSERA:-}  # a built tessera binary; otherwise one is built
if [ -z "$tessera" ]; then swift build -c release --product tessera >/dev/null; tessera=.build/release/tessera; fi

# The path of compare's data with N training images, exported once.
shapes() {
    local file="$work/shapes-$1.safetensors"
    [ -f "$file" ] || $tessera export --train-images "$1" --output "$file" >&2
    echo "$file"
}

# The default design in PyTorch, three seeds (compare's data: 3000 training and 1000 test images).
reference() {
    "${python[@]}" scripts/compare_reference.py "$(shapes 3000)" --seeds 0 1 2 | tee -a "$out/reference.jsonl"
}

# The peak learning rates around compare's (4e-3 ViT, 1.2e-2 ResNet), PyTorch, seed 0.
lr() {
    for rate in 2e-3 8e-3 1.6e-2; do
        "${python[@]}" scripts/compare_reference.py "$(shapes 3000)" --arch vit --vit-lr $rate \
            | grep '"seed"' | tee -a "$out/lr.jsonl"
    done
    for rate in 4e-3 3e-2; do
        "${python[@]}" scripts/compare_reference.py "$(shapes 3000)" --arch resnet --resnet-lr $rate \
            | grep '"seed"' | tee -a "$out/lr.jsonl"
    done
}

# Tessera's default run at seeds 0, 1 and 2 (seed 0 is Docs/example-report): the supervised numbers,
# the DINO k-NN against random initialisation and the attention Jaccard.
tessera-seeds() {
    for seed in 0 1 2; do
        $tessera compare --seed $seed --output "$work/tessera-seed-$seed" >/dev/null
        python3 - "$work/tessera-seed-$seed/results.json" $seed <<'EOF' | tee -a "$out/tessera.jsonl"
import json, sys
r = json.load(open(sys.argv[1]))
print(json.dumps({"seed": int(sys.argv[2]), "vit_name": r["vit"]["name"], "counts": r["subsetCounts"],
                  "vit": r["vit"]["supervisedAccuracy"], "resnet": r["resnet"]["supervisedAccuracy"],
                  "vit_dino_knn": r["vit"]["dinoKNN"], "vit_random_knn": r["vit"]["randomKNN"],
                  "resnet_dino_knn": r["resnet"]["dinoKNN"], "resnet_random_knn": r["resnet"]["randomKNN"],
                  "jaccard_best": r["jaccardBest"], "seconds": round(r["seconds"], 1)}))
EOF
    done
}

# --full's data-scaling stage in PyTorch: 20 000 training images, 1000 steps per size, seed 0.
full-reference() {
    "${python[@]}" scripts/compare_reference.py "$(shapes 20000)" --fractions 0.0032 0.015 0.1 1 \
        --steps 1000 | grep '"seed"' | tee -a "$out/full-reference.jsonl"
}

# compare's DINO stage of the ResNet and the patch-4 ViT in PyTorch on the same 3000 images, seeds 0, 1, 2.
dino-reference() {
    for arch in resnet vit; do
        for seed in 0 1 2; do
            "${python[@]}" scripts/dino_shapes_reference.py "$(shapes 3000)" --arch $arch --patch 4 \
                --train-images 3000 --epochs 12 --warmup-teacher-epochs 4 --seed $seed \
                | tee -a "$out/dino-reference.jsonl"
        done
    done
}

# One line of full-tessera.jsonl from a --full run's results.json: data scaling, DINO, Jaccard, compute, MoCo v3.
full-summary() {
    python3 - "$1" "$2" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
print(json.dumps({"seed": int(sys.argv[2]), "counts": r["subsetCounts"],
                  "vit": r["vit"]["supervisedAccuracy"], "resnet": r["resnet"]["supervisedAccuracy"],
                  "vit_dino_knn": r["vit"]["dinoKNN"], "vit_random_knn": r["vit"]["randomKNN"],
                  "resnet_dino_knn": r["resnet"]["dinoKNN"], "resnet_random_knn": r["resnet"]["randomKNN"],
                  "jaccard_best": r["jaccardBest"],
                  "compute": [[p["name"], round(p["trainingTFLOPs"], 3), p["accuracy"]]
                              for p in r["computeScaling"]["points"]],
                  "moco": {run["patchProjection"]: {"largest_knn_dip": round(run["largestKNNDrop"], 1),
                                                    "final_knn": run["knnCurve"][-1][1]}
                           for run in r["stability"]["runs"]},
                  "seconds": round(r["seconds"], 1)}))
EOF
}

# --full at seeds 1 and 2 beside Docs/example-report-full (seed 0): how far each finding holds across seeds.
full-seeds() {
    full-summary Docs/example-report-full/results.json 0 | tee -a "$out/full-tessera.jsonl"
    for seed in 1 2; do
        $tessera compare --full --seed $seed --output "$work/full-seed-$seed" >/dev/null
        full-summary "$work/full-seed-$seed/results.json" $seed | tee -a "$out/full-tessera.jsonl"
    done
}

stages=("$@")
[ ${#stages[@]} -gt 0 ] || stages=(reference lr tessera-seeds full-reference dino-reference)
for stage in "${stages[@]}"; do "$stage"; done
