#!/usr/bin/env python3
"""PyTorch CPU timings of the cases tessera-bench runs, as JSON {case: milliseconds}.

    python3 scripts/bench_reference.py > torch.json
    swift run -c release tessera-bench --torch torch.json
    python3 scripts/bench_reference.py --layers > layers.json     # the layer rows only
    swift run -c release tessera-bench layers --torch layers.json

Same shapes, float32, 2 threads, median of repeated runs after warm-up (like tessera-bench).
"""
import json
import sys
import time

import torch
import torch.nn.functional as F
import timm
import torchvision

torch.set_num_threads(2)
quick = "--quick" in sys.argv
layers_only = "--layers" in sys.argv  # the rows of `tessera-bench layers`
reps = 5 if quick else 15


def measure(fn):
    fn(); fn()
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return sorted(times)[len(times) // 2] * 1000


def fwd_bwd(make_inputs, forward):
    inputs = make_inputs()
    out = forward(*inputs)
    g = torch.randn_like(out)

    def step():
        for t in inputs:
            t.grad = None
        forward(*inputs).backward(g)
    return measure(step)


def leaf(*shape):
    return torch.randn(*shape, requires_grad=True)


r = {}
with torch.no_grad():
    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    r["matmul 2048³"] = measure(lambda: a @ b)
    x, y = torch.randn(16 << 20), torch.randn(16 << 20)
    r["add 16M"] = measure(lambda: x + y)
    r["exp 16M"] = measure(lambda: torch.exp(x))
    r["GELU erf 16M"] = measure(lambda: F.gelu(x))
    r["GELU tanh 16M"] = measure(lambda: F.gelu(x, approximate="tanh"))
    r["sum 16M"] = measure(lambda: x.sum())
    s = torch.randn(32, 6, 197, 197)
    r["softmax 32×6×197×197"] = measure(lambda: s.softmax(-1))

r["Linear 6304×384→1536 fwd+bwd"] = fwd_bwd(lambda: (leaf(32, 197, 384), leaf(1536, 384), leaf(1536)), F.linear)
r["LayerNorm 6304×384 fwd+bwd"] = fwd_bwd(lambda: (leaf(32, 197, 384), leaf(384), leaf(384)),
                                          lambda x, w, b: F.layer_norm(x, (384,), w, b, 1e-6))
r["GELU 6304×1536 fwd+bwd"] = fwd_bwd(lambda: (leaf(32, 197, 1536),), F.gelu)
r["SDPA 32×6×197×64 fwd+bwd"] = fwd_bwd(lambda: (leaf(32, 6, 197, 64), leaf(32, 6, 197, 64), leaf(32, 6, 197, 64)),
                                        F.scaled_dot_product_attention)


def attention(x, wqkv, bqkv, wproj, bproj):
    B, N, C = x.shape
    q, k, v = F.linear(x, wqkv, bqkv).reshape(B, N, 3, 6, C // 6).permute(2, 0, 3, 1, 4)
    o = F.scaled_dot_product_attention(q, k, v)
    return F.linear(o.transpose(1, 2).reshape(B, N, C), wproj, bproj)


r["Attention ViT-S 32×197×384 fwd+bwd"] = fwd_bwd(
    lambda: (leaf(32, 197, 384), leaf(1152, 384), leaf(1152), leaf(384, 384), leaf(384)), attention)
with torch.no_grad():
    xc, wc = torch.randn(8, 64, 56, 56), torch.randn(64, 64, 3, 3)
    r["Conv2d 8×64×56×56 3×3→64 fwd"] = measure(lambda: F.conv2d(xc, wc, padding=1))
r["Conv2d 8×64×56×56 3×3→64 fwd+bwd"] = fwd_bwd(lambda: (leaf(8, 64, 56, 56), leaf(64, 64, 3, 3)),
                                                 lambda x, w: F.conv2d(x, w, padding=1))
# ResNet-50's bottleneck reduction: 1×1, 256 → 64 channels.
with torch.no_grad():
    xp, wp = torch.randn(8, 256, 56, 56), torch.randn(64, 256, 1, 1)
    r["Conv2d 8×256×56×56 1×1→64 fwd"] = measure(lambda: F.conv2d(xp, wp))
r["Conv2d 8×256×56×56 1×1→64 fwd+bwd"] = fwd_bwd(lambda: (leaf(8, 256, 56, 56), leaf(64, 256, 1, 1)),
                                                 lambda x, w: F.conv2d(x, w))
images = torch.randn(8, 3, 224, 224)
stem, g_stem = leaf(64, 3, 7, 7), torch.randn(8, 64, 112, 112)


def stem_step():
    stem.grad = None
    F.conv2d(images, stem, stride=2, padding=3).backward(g_stem)
r["Conv2d 8×3×224×224 7×7/2→64 fwd+bwd"] = measure(stem_step)
r["Conv2d 8×128×56×56 3×3/2→128 fwd+bwd"] = fwd_bwd(lambda: (leaf(8, 128, 56, 56), leaf(128, 128, 3, 3)),
                                                    lambda x, w: F.conv2d(x, w, stride=2, padding=1))
r["Conv2d 8×256×56×56 1×1/2→512 fwd+bwd"] = fwd_bwd(lambda: (leaf(8, 256, 56, 56), leaf(512, 256, 1, 1)),
                                                    lambda x, w: F.conv2d(x, w, stride=2))
r["Conv2d 64×12×32×32 3×3→12 fwd+bwd"] = fwd_bwd(lambda: (leaf(64, 12, 32, 32), leaf(12, 12, 3, 3)),
                                                lambda x, w: F.conv2d(x, w, padding=1))
r["Conv2d 64×12×32×32 3×3/2→24 fwd+bwd"] = fwd_bwd(lambda: (leaf(64, 12, 32, 32), leaf(24, 12, 3, 3)),
                                                  lambda x, w: F.conv2d(x, w, stride=2, padding=1))
r["Conv2d 64×12×32×32 1×1/2→24 fwd+bwd"] = fwd_bwd(lambda: (leaf(64, 12, 32, 32), leaf(24, 12, 1, 1)),
                                                  lambda x, w: F.conv2d(x, w, stride=2))
r["Conv2d 64×96×4×4 3×3→96 fwd+bwd"] = fwd_bwd(lambda: (leaf(64, 96, 4, 4), leaf(96, 96, 3, 3)),
                                             lambda x, w: F.conv2d(x, w, padding=1))
r["MaxPool 8×64×112×112 3×3/2 fwd+bwd"] = fwd_bwd(lambda: (leaf(8, 64, 112, 112),),
                                                  lambda x: F.max_pool2d(x, 3, 2, 1))
batch_norm = torch.nn.BatchNorm2d(256)
r["BatchNorm2d 8×256×56×56 fwd+bwd"] = fwd_bwd(lambda: (leaf(8, 256, 56, 56),), batch_norm)
r["ReLU 8×256×56×56 fwd+bwd"] = fwd_bwd(lambda: (leaf(8, 256, 56, 56),), F.relu)
projector_norm = torch.nn.BatchNorm1d(4096)
r["BatchNorm1d 256×4096 fwd+bwd"] = fwd_bwd(lambda: (leaf(256, 4096),), projector_norm)

models = [] if layers_only else [("ResNet-50", torchvision.models.resnet50()),
                                  ("ViT-S/16", timm.create_model("vit_small_patch16_224", num_classes=1000))]
for name, model in models:
    model.eval()
    with torch.no_grad():
        r[f"{name} 8×224² fwd"] = measure(lambda: model(images))
    model.train()
    g = torch.randn(8, 1000)

    def step():
        model.zero_grad(set_to_none=True)
        model(images).backward(g)
    r[f"{name} 8×224² fwd+bwd"] = measure(step)
json.dump({"torch": torch.__version__, "threads": torch.get_num_threads(), "ms": r}, sys.stdout,
          indent=1, ensure_ascii=False)
print()
