#!/usr/bin/env bash
# DAVIS-size label propagation: frames/s and peak memory of `tessera eval video-segmentation` with
# ViT-S/16 on 480 × 854 frames (DINO's protocol: shorter side 480, so 480 × 832 model input, 30 × 52
# patches, 1 + 7 context frames, ±12-patch window, top-5). The frames are a moving-Shapes video
# stretched to 854 × 480 (speed does not depend on the pixels; random weights run as fast as DINO's).
#   scripts/bench_video_segmentation.sh [frames]       (after swift build -c release)
set -euo pipefail
frames=${1:-16}
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
tessera=${TESSERA:-.build/release/tessera}
"$tessera" export --benchmark video-segmentation --output "$root/davis" --videos 1 --frames "$frames" \
    --image-size 480 --width 854 >/dev/null
grep -q -m1 avx512f /proc/cpuinfo && echo "machine: AVX-512" || echo "machine: AVX2 (no avx512f)"
/usr/bin/time -f "peak RSS %M KB, wall %e s" "$tessera" eval video-segmentation --arch vit_small_patch16_224 \
    --data "$root/davis" --output "$root/out" 2>&1 | grep -E "frames/s|peak RSS|J&F|^\| [0-9]"
