#!/usr/bin/env python3
"""PyTorch's side of `tessera bench`: images per second and peak RSS of a model's forward pass or
training step (forward, cross-entropy, backward, AdamW with weight decay 0.05), with the same model
names, options and JSON as `tessera bench`:

    python3 scripts/bench_models.py --model vit-s16 --batch 8 --mode train --json

vit-s16 / vit-b16 are timm's vit_small_patch16_224 / vit_base_patch16_224, resnet50 torchvision's;
swin-t timm's swin_tiny_patch4_window7_224; compare-vit and compare-resnet are `tessera compare`'s
models (32², 10 classes): timm's VisionTransformer at patch 4, width 96, depth 4, 3 heads, MLP ratio 2,
and the basic-block ResNet of width 12 of scripts/dino_models.py with a linear head; compare-swin the
EsViT tests' small Swin (timm's SwinTransformer, 32², patch 4, width 48, depths 2-2, heads 3-6, window 4,
MLP ratio 2); dino-vit-s16 is DINO's multi-crop step on ViT-S/16 (2 × 224² + 8 × 96² crops per image,
student and EMA teacher with DINO's head of 65536 outputs, the teacher on the global crops, the loss
with centring, backward, clipping at 3, AdamW, EMA), or in forward mode the student on all crops
without a graph (timm's ViT with dynamic_img_size; images/s counts images, not crops). 2 threads, as
Tessera on 2 cores. The JSON also gives one image's forward multiply-adds
(torch.utils.flop_counter's FLOPs / 2, the convention of timm's tables) and the parameter count.
"""
import argparse
import json
import resource
import time

import timm
import torch
import torch.nn as nn
import torchvision
from torch.utils.flop_counter import FlopCounterMode

from dino_models import DINOHead, ResNet


def make(name):
    if name == "vit-s16":
        return timm.create_model("vit_small_patch16_224", num_classes=1000), 224, 1000
    if name == "vit-b16":
        return timm.create_model("vit_base_patch16_224", num_classes=1000), 224, 1000
    if name == "resnet50":
        return torchvision.models.resnet50(), 224, 1000
    if name == "compare-vit":
        return timm.models.vision_transformer.VisionTransformer(
            img_size=32, patch_size=4, embed_dim=96, depth=4, num_heads=3, mlp_ratio=2, num_classes=10), 32, 10
    if name == "compare-resnet":
        return nn.Sequential(ResNet(12), nn.Linear(96, 10)), 32, 10
    if name == "swin-t":
        return timm.create_model("swin_tiny_patch4_window7_224", num_classes=1000), 224, 1000
    if name == "compare-swin":
        return timm.models.swin_transformer.SwinTransformer(
            img_size=32, patch_size=4, embed_dim=48, depths=(2, 2), num_heads=(3, 6), window_size=4, mlp_ratio=2,
            num_classes=10), 32, 10
    if name == "dino-vit-s16":
        return MultiCrop(), 224, 65536
    raise SystemExit("--model must be one of vit-s16, vit-b16, resnet50, swin-t, compare-vit, compare-resnet, "
                     f"compare-swin, dino-vit-s16, got {name}")


class MultiCrop(nn.Module):
    """DINO's MultiCropWrapper around timm's ViT-S/16 and DINO's head; the crops of one size share a call."""

    def __init__(self):
        super().__init__()
        self.backbone = timm.create_model("vit_small_patch16_224", num_classes=0, dynamic_img_size=True)
        self.head = DINOHead(384, 65536)

    def forward(self, crops):
        if not isinstance(crops, list):  # one image batch (the multiply-add count): the global crop
            return self.head(self.backbone(crops))
        groups = [crops[:2]] + ([crops[2:]] if len(crops) > 2 else [])
        return self.head(torch.cat([self.backbone(torch.cat(g)) for g in groups]))


def dino_step(student, teacher, optimizer, crops, center, temperature=0.04):
    """main_dino.py's step at epoch 1 (last layer not frozen), teacher momentum 0.996."""
    with torch.no_grad():
        t_out = teacher(crops[:2])
    s_out = student(crops)
    targets = nn.functional.softmax((t_out - center) / temperature, dim=-1).chunk(2)
    logs = nn.functional.log_softmax(s_out / 0.1, dim=-1).chunk(len(crops))
    terms = [torch.sum(-q * logs[v], dim=-1).mean() for i, q in enumerate(targets) for v in range(len(crops))
             if v != i]
    loss = sum(terms) / len(terms)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    for p in student.parameters():
        if p.grad is not None:
            norm = p.grad.norm()
            if norm > 3:
                p.grad.mul_(3 / (norm + 1e-6))
    optimizer.step()
    with torch.no_grad():
        center.mul_(0.9).add_(t_out.mean(0, keepdim=True), alpha=0.1)
        for ps, pt in zip(student.parameters(), teacher.parameters()):
            pt.mul_(0.996).add_(ps.detach(), alpha=0.004)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="vit-s16")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--mode", default="train", choices=["forward", "train"])
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    a = parser.parse_args()
    torch.set_num_threads(2)
    torch.manual_seed(0)
    model, size, classes = make(a.model)
    x = torch.randn(a.batch, 3, size, size)
    y = torch.arange(a.batch) % classes
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.05)
    if a.model == "dino-vit-s16":
        crops = [torch.randn(a.batch, 3, 224, 224) for _ in range(2)] + [torch.randn(a.batch, 3, 96, 96)
                                                                        for _ in range(8)]
        teacher, center = MultiCrop(), torch.zeros(1, 65536)
        teacher.load_state_dict(model.state_dict())
        teacher.requires_grad_(False)

    def step():
        if a.model == "dino-vit-s16":
            if a.mode == "forward":
                with torch.no_grad():
                    model(crops)
            else:
                dino_step(model, teacher, optimizer, crops, center)
        elif a.mode == "forward":
            with torch.no_grad():
                model(x)
        else:
            optimizer.zero_grad(set_to_none=True)
            nn.functional.cross_entropy(model(x), y).backward()
            optimizer.step()

    model.train(a.mode == "train")
    step(), step()
    times = []
    for _ in range(a.steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    median = sorted(times)[len(times) // 2]
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    model.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(x[:1])
    gmacs = counter.get_total_flops() / 2e9
    parameters = sum(p.numel() for p in model.parameters())
    print(f"{a.model} {a.mode}, batch {a.batch}: {a.batch / median:.2f} images/s (median step {median * 1000:.1f} ms "
          f"of {a.steps}), peak RSS {rss:.0f} MB (PyTorch {torch.__version__}); {gmacs:.3f} G multiply-adds per image "
          f"forward, {parameters / 1e6:.1f} M parameters")
    if a.json:
        print(json.dumps({"batch": a.batch, "images_per_s": a.batch / median, "mode": a.mode, "model": a.model,
                          "peak_rss_mb": rss, "step_ms": median * 1000,
                          "forward_gmacs": gmacs, "parameters": parameters}, sort_keys=True))


if __name__ == "__main__":
    main()
