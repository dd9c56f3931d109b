#!/usr/bin/env python3
"""`tessera compare`'s supervised data-scaling stage in PyTorch, on the same pixels: the reference
for the report's data-scaling numbers (finding a).

    swift run -c release tessera export --train-images 3000 --output shapes.safetensors
    python3 scripts/compare_reference.py shapes.safetensors --seeds 0 1 2          # the default design
    swift run -c release tessera export --train-images 20000 --output shapes-20k.safetensors
    python3 scripts/compare_reference.py shapes-20k.safetensors --fractions 0.0032 0.015 0.1 1 \
        --steps 1000                                                                # --full's design

The models are the compare models: timm's VisionTransformer (32 px, patch 4, width 96, depth 4,
3 heads, MLP ratio 2) and dino_models.ResNet (basic blocks, one per stage, width 12, CIFAR stem) with
a linear classifier. The recipe is Tessera's SupervisedRecipe with compare's settings: AdamW over
DINO's two parameter groups (no weight decay on biases and norms), peak learning rate 4e-3 (ViT) or
1.2e-2 (ResNet) × batch / 256, one warm-up epoch then a cosine to 1e-6 per iteration (DINO's
cosine_scheduler), weight decay 0.05, per-parameter gradient clipping at 3.0, label smoothing 0.1,
RandomResizedCrop(32, scale 0.6–1) and horizontal flips, batches of 64 with the last partial batch
dropped. Each subset is the first images of the training set (at least one batch). Without --steps
every subset gets the same epochs (smaller subsets fewer steps); with --steps every subset gets that
many steps and the schedule's 15 epochs are slices of them. Prints one JSON line per seed (top-1 on
the 1000 test images per subset size) and a last line with the means and standard deviations.
"""
import argparse
import json
import time

import timm
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision.transforms.v2 as T
from safetensors.torch import load_file

from dino_models import ResNet, cosine_schedule

p = argparse.ArgumentParser()
p.add_argument("data", help="a file written by `tessera export`")
p.add_argument("--fractions", type=float, nargs="+", default=[0.02, 0.1, 0.3, 1.0])
p.add_argument("--epochs", type=int, default=15)
p.add_argument("--steps", type=int, help="steps of every run whatever its data size (compare --full: 1000)")
p.add_argument("--batch-size", type=int, default=64)
p.add_argument("--seeds", type=int, nargs="+", default=[0])
p.add_argument("--arch", choices=["vit", "resnet", "both"], default="both")
p.add_argument("--patch", type=int, default=4, help="the ViT's patch size (compare: 4; 8 before 2026-12-07)")
p.add_argument("--threads", type=int, default=2)
p.add_argument("--vit-lr", type=float, default=4e-3, help="peak learning rate at batch 256 (compare: 4e-3)")
p.add_argument("--resnet-lr", type=float, default=1.2e-2, help="peak learning rate at batch 256 (compare: 1.2e-2)")
a = p.parse_args()
torch.set_num_threads(a.threads)

data = load_file(a.data)
train_x, train_y = data["train_images"], data["train_labels"].long()
test_x, test_y = data["test_images"], data["test_labels"].long()
classes = int(train_y.max()) + 1
augment = T.Compose([T.RandomResizedCrop(train_x.shape[-1], scale=(0.6, 1.0), antialias=True),
                     T.RandomHorizontalFlip()])


def normalize(x):
    return (x - 0.5) / 0.25  # ExperimentData.normalize


def make_model(arch):
    if arch == "vit":
        return timm.models.vision_transformer.VisionTransformer(
            img_size=train_x.shape[-1], patch_size=a.patch, embed_dim=96, depth=4, num_heads=3, mlp_ratio=2,
            num_classes=classes)
    return nn.Sequential(ResNet(12), nn.Linear(96, classes))


def train(arch, count, seed):
    torch.manual_seed(seed)
    model = make_model(arch)
    decay = [q for n, q in model.named_parameters() if not n.endswith(".bias") and q.ndim > 1]
    no_decay = [q for n, q in model.named_parameters() if n.endswith(".bias") or q.ndim <= 1]
    peak = (a.vit_lr if arch == "vit" else a.resnet_lr) * a.batch_size / 256
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": 0.05},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=peak)
    batches = count // a.batch_size
    steps = a.steps or a.epochs * batches
    per_epoch = batches if a.steps is None else -(-steps // a.epochs)
    rates = cosine_schedule(peak, 1e-6, a.epochs * per_epoch, per_epoch)
    generator = torch.Generator().manual_seed(seed)
    model.train()
    step, start = 0, time.time()
    while step < steps:
        order = torch.randperm(count, generator=generator)
        for b in range(batches):
            if step == steps:
                break
            index = order[b * a.batch_size:(b + 1) * a.batch_size]
            x = normalize(torch.stack([augment(img) for img in train_x[index]]))
            for group in optimizer.param_groups:
                group["lr"] = float(rates[min(step, len(rates) - 1)])
            loss = F.cross_entropy(model(x), train_y[index], label_smoothing=0.1)
            optimizer.zero_grad()
            loss.backward()
            for q in model.parameters():  # DINO's clip_gradients: each parameter's gradient norm at most 3
                norm = q.grad.norm(2)
                if norm > 3.0:
                    q.grad.mul_(3.0 / (norm + 1e-6))
            optimizer.step()
            step += 1
    model.eval()
    with torch.no_grad():
        predictions = torch.cat([model(normalize(test_x[i:i + 500])).argmax(1) for i in range(0, len(test_x), 500)])
    return (predictions == test_y).double().mean().item(), time.time() - start


counts = [min(len(train_x), max(a.batch_size, int(len(train_x) * f))) for f in a.fractions]
archs = ["vit", "resnet"] if a.arch == "both" else [a.arch]
results = {arch: [] for arch in archs}
for seed in a.seeds:
    line = {"seed": seed, "counts": counts, "steps": a.steps or f"{a.epochs} epochs"}
    if "vit" in archs:
        line["patch"] = a.patch
    line.update({arch + "_lr": a.vit_lr if arch == "vit" else a.resnet_lr for arch in archs})
    for arch in archs:
        runs = [train(arch, count, seed) for count in counts]
        line[arch] = [round(accuracy, 4) for accuracy, _ in runs]
        line[arch + "_seconds"] = round(sum(seconds for _, seconds in runs), 1)
        results[arch].append(line[arch])
    print(json.dumps(line), flush=True)
summary = {"counts": counts}
for arch, rows in results.items():
    table = torch.tensor(rows)
    summary[arch + "_mean"] = [round(v, 4) for v in table.mean(0).tolist()]
    if len(rows) > 1:
        summary[arch + "_std"] = [round(v, 4) for v in table.std(0).tolist()]
print(json.dumps(summary))
