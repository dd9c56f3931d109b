#!/usr/bin/env python3
"""DINO on the built-in Shapes data in PyTorch: the reference for Tessera's DINOTrainingTests.

    swift run -c release tessera export --train-images 1000 --output shapes.safetensors
    python3 scripts/dino_shapes_reference.py shapes.safetensors [--epochs 12] [--colour strong] ...
    python3 scripts/dino_shapes_reference.py shapes.safetensors --arch vit --train-images 3000 \
        --warmup-teacher-epochs 4   # the ViT of shortDINORunLiftsViTKNNAboveRandomInit
    python3 scripts/dino_shapes_reference.py digits --rotation 0   # the bundled UCI digits instead
    python3 scripts/dino_shapes_reference.py digits --rotation 0 --colour none --no-blur \
        --local-crops 0 --global-crop-min 1 --initial-centre first-batch --lr 4e-3 --epochs 48
        # DINO that trains without collapsing (flips only) and still lowers k-NN

The defaults are the settings of `shortDINORunAgainstRandomInit` (ResNet with basic blocks, one per
stage, width 12, CIFAR stem; 2 global 32-px crops and 2 local 16-px crops with 180° rotation; head
512-512-128 → 256 prototypes; AdamW lr 1e-2 × batch/256, teacher momentum 0.99 → 1, teacher
temperature 0.04 → 0.02). The training step is main_dino.py's, which Tessera matches to 1e-9 in
float64 (`dinoStepsMatchPyTorch`); the augmentations are torchvision's, close to Tessera's but not
identical. It prints one JSON line: k-NN (DINO's weighted k-NN, k 20, T 0.07, on the first 500 test
images) at random initialisation (also with BatchNorm statistics measured on the training images),
along training, and at the end; the mean loss per epoch; the teacher's output entropy (log of the
prototype count means uniform collapse); and the norm of the batch mean of the student's normalised
bottleneck outputs of the first global crops after the first updates (near 1: every image maps to the
same point, the collapse that precedes a uniform teacher).
"""
import argparse
import gzip
import json
import math
from copy import deepcopy
from pathlib import Path
import time

import timm
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision.transforms.v2 as T
from safetensors.torch import load_file

from dino_models import Head, ResNet, cosine_schedule

p = argparse.ArgumentParser()
p.add_argument("data", help="a file written by `tessera export`, or `digits`")
p.add_argument("--train-images", type=int, default=1000)
p.add_argument("--epochs", type=int, default=12)
p.add_argument("--batch-size", type=int, default=64)
p.add_argument("--lr", type=float, default=1e-2, help="peak learning rate for a batch of 256")
p.add_argument("--warmup-epochs", type=int, default=1, help="linear learning-rate warm-up (main_dino.py: 10)")
p.add_argument("--momentum", type=float, default=0.99)
p.add_argument("--teacher-temp", type=float, default=0.02)
p.add_argument("--warmup-teacher-temp", type=float, default=0.04)
p.add_argument("--warmup-teacher-epochs", type=int, default=3)
p.add_argument("--out-dim", type=int, default=256)
p.add_argument("--width", type=int, default=12)
p.add_argument("--patch", type=int, default=8, help="the ViT's patch size (tessera compare's: 4)")
p.add_argument("--arch", choices=["resnet", "vit"], default="resnet",
               help="vit: timm's ViT of `tessera compare` (patch --patch, width 96, depth 4, 3 heads, MLP ratio 2)")
p.add_argument("--colour", choices=["dino", "strong", "none"], default="dino")
p.add_argument("--rotation", type=float, default=180)
p.add_argument("--global-crop-min", type=float, default=0.4, help="smallest area of a global crop (1: no cropping)")
p.add_argument("--local-crops", type=int, default=2)
p.add_argument("--no-blur", action="store_true")
p.add_argument("--every", type=int, default=3, help="k-NN every n epochs")
p.add_argument("--seed", type=int, default=3)
p.add_argument("--koleo", type=float, default=0.0,
               help="weight of DINOv2's KoLeo term on the student's bottleneck outputs of the global crops "
                    "(not in DINO)")
p.add_argument("--initial-centre", choices=["zero", "first-batch"], default="zero", help="main_dino.py starts at zero")
a = p.parse_args()
torch.manual_seed(a.seed)
DIGITS = Path(__file__).resolve().parent.parent / "Sources/Vision/Resources/digits.csv.gz"
if a.data == "digits":  # 1,797 8×8 digits, a seeded split, upsampled to 32 px grey RGB
    rows = torch.tensor([[float(v) for v in line.split(",")] for line in gzip.open(DIGITS, "rt")])
    rows = rows[torch.randperm(len(rows), generator=torch.Generator().manual_seed(0))]
    pixels = F.interpolate((rows[:, :64] / 16).view(-1, 1, 8, 8), size=32,
                           mode="bilinear").clamp(0, 1).repeat(1, 3, 1, 1)
    data = {"train_images": pixels[:1297], "train_labels": rows[:1297, 64],
            "test_images": pixels[1297:], "test_labels": rows[1297:, 64]}
else:
    data = load_file(a.data)
train_x, train_y = data["train_images"][:a.train_images], data["train_labels"][:a.train_images].long()
test_x, test_y = data["test_images"][:500], data["test_labels"][:500].long()


def normalize(x):
    return (x - 0.5) / 0.25


class MultiCrop(nn.Module):
    def __init__(self):
        super().__init__()
        if a.arch == "vit":  # local crops interpolate the position embedding, as DINO's ViT does
            self.backbone = timm.models.vision_transformer.VisionTransformer(
                img_size=32, patch_size=a.patch, embed_dim=96, depth=4, num_heads=3, mlp_ratio=2, num_classes=0,
                dynamic_img_size=True)
            self.head = Head(96, a.out_dim)
        else:
            self.backbone, self.head = ResNet(a.width), Head(8 * a.width, a.out_dim)

    def forward(self, crops):  # crops of one size share a backbone call (and BatchNorm statistics)
        groups = [torch.cat(crops[:2])] + ([torch.cat(crops[2:])] if len(crops) > 2 else [])
        return self.head(torch.cat([self.backbone(g) for g in groups]))


def colour():
    if a.colour == "none":
        return []
    strong = a.colour == "strong"
    jitter = T.ColorJitter(0.6, 0.6, 0.8, 0.5) if strong else T.ColorJitter(0.4, 0.4, 0.2, 0.1)
    return [T.RandomApply([jitter], p=0.8), T.RandomGrayscale(0.5 if strong else 0.2)]


def view(size, scale, blur, solarize=0.0):
    steps = [T.RandomRotation(a.rotation)] if a.rotation > 0 else []
    steps += [T.RandomResizedCrop(size, scale, antialias=True), T.RandomHorizontalFlip()] + colour()
    if not a.no_blur:
        steps.append(T.RandomApply([T.GaussianBlur(max(3, size // 8 * 2 + 1), (0.1, 2.0))], p=blur))
    if solarize > 0 and a.colour != "none":
        steps.append(T.RandomSolarize(0.5, solarize))
    return T.Compose(steps)


global1, global2 = view(32, (a.global_crop_min, 1), 1.0), view(32, (a.global_crop_min, 1), 0.1, 0.2)
local = view(16, (0.1, 0.4), 0.5)


def crops(x):
    views = [[global1(i) for i in x], [global2(i) for i in x]] + [[local(i) for i in x] for _ in range(a.local_crops)]
    return [normalize(torch.stack(v).clamp(0, 1)) for v in views]


@torch.no_grad()
def knn(backbone, k=20, t=0.07):
    backbone.eval()
    f = lambda x: F.normalize(torch.cat([backbone(normalize(x[i:i + 250])) for i in range(0, len(x), 250)]), dim=1)
    train_f, test_f = f(train_x), f(test_x)
    backbone.train()
    sim, idx = (test_f @ train_f.T).topk(k, dim=1)
    votes = torch.zeros(len(test_x), 10).scatter_add_(1, train_y[idx], (sim / t).exp())
    return (votes.argmax(1) == test_y).float().mean().item()


def cosine(base, final, warmup_epochs=0):
    return cosine_schedule(base, final, a.epochs * steps_per_epoch, warmup_epochs * steps_per_epoch)


@torch.no_grad()
def calibrated_knn(backbone):
    """k-NN of a copy whose BatchNorm statistics are measured on the training images (no learning)."""
    copy = deepcopy(backbone)  # no new random numbers: the run below stays the same
    for m in copy.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None  # a plain average over the batches below
    for i in range(0, len(train_x), 100):
        copy(normalize(train_x[i:i + 100]))
    return knn(copy)


student, teacher = MultiCrop(), MultiCrop()
teacher.load_state_dict(student.state_dict())
random_calibrated = calibrated_knn(student.backbone)
for q in teacher.parameters():
    q.requires_grad = False
steps_per_epoch = a.train_images // a.batch_size
lrs, wds = cosine(a.lr * a.batch_size / 256, 1e-5, a.warmup_epochs), cosine(0.04, 0.4)
momenta = cosine(a.momentum, 1.0)
temps = [a.warmup_teacher_temp
         + (a.teacher_temp - a.warmup_teacher_temp) * min(1, e / max(1, a.warmup_teacher_epochs - 1))
         if e < a.warmup_teacher_epochs else a.teacher_temp for e in range(a.epochs)]
named = [(n, q) for n, q in student.named_parameters() if q.requires_grad]
optimizer = torch.optim.AdamW([{"params": [q for n, q in named if not (n.endswith("bias") or q.ndim == 1)]},
                               {"params": [q for n, q in named if n.endswith("bias") or q.ndim == 1],
                                "weight_decay": 0.0}])
center = torch.zeros(1, a.out_dim)
curve, losses, entropy, collapse = [(0, knn(student.backbone))], [], 0.0, []
start, it = time.time(), 0
for epoch in range(a.epochs):
    order = torch.randperm(a.train_images)
    for b in range(steps_per_epoch):
        x = crops(train_x[order[b * a.batch_size:(b + 1) * a.batch_size]])
        for i, group in enumerate(optimizer.param_groups):
            group["lr"] = lrs[it]
            if i == 0:
                group["weight_decay"] = wds[it]
        with torch.no_grad():
            t_out = teacher(x[:2])
            if it == 0 and a.initial_centre == "first-batch":
                center = t_out.mean(0, keepdim=True)
            targets = F.softmax((t_out - center) / temps[epoch], dim=-1)
            entropy = -(targets * targets.clamp_min(1e-12).log()).sum(1).mean().item()
        s_out = (student(x) / 0.1).chunk(len(x))
        global_z = student.head.bottleneck[:2 * len(x[0])]
        if it in (1, 5, 10, 20, 50) or it == a.epochs * steps_per_epoch - 1:  # updates so far
            collapse.append((it, round(global_z[:len(x[0])].detach().mean(0).norm().item(), 3)))
        terms = [torch.sum(-q * F.log_softmax(s, dim=-1), dim=-1).mean()
                 for iq, q in enumerate(targets.chunk(2)) for v, s in enumerate(s_out) if v != iq]
        loss = sum(terms) / len(terms)
        if a.koleo > 0:  # -log of each output's distance to its nearest neighbour, per global crop
            for z in global_z.chunk(2):
                with torch.no_grad():
                    nearest = (z @ z.T).fill_diagonal_(-2).argmax(1)
                loss = loss - a.koleo / 2 * torch.log((z - z[nearest]).norm(dim=1) + 1e-8).mean()
        optimizer.zero_grad()
        loss.backward()
        for q in student.parameters():
            if q.grad is not None:
                q.grad.mul_(min(1.0, 3.0 / (q.grad.norm() + 1e-6)))
        if epoch == 0:
            for n, q in student.named_parameters():
                if "last_layer" in n:
                    q.grad = None
        optimizer.step()
        with torch.no_grad():
            for qs, qt in zip(student.parameters(), teacher.parameters()):
                qt.mul_(momenta[it]).add_((1 - momenta[it]) * qs.detach())
            center = center * 0.9 + t_out.mean(0, keepdim=True) * 0.1
        losses.append(loss.item())
        it += 1
    if (epoch + 1) % a.every == 0 or epoch + 1 == a.epochs:
        curve.append((epoch + 1, knn(teacher.backbone)))
print(json.dumps({"random_init_knn": curve[0][1], "random_init_knn_calibrated_bn": random_calibrated,
                  "teacher_knn": curve[-1][1], "student_knn": knn(student.backbone),
                  "knn_curve": curve, "epoch_loss": [round(sum(losses[i:i + steps_per_epoch]) / steps_per_epoch, 3)
                                                   for i in range(0, len(losses), steps_per_epoch)],
                  "teacher_entropy": round(entropy, 3), "uniform_entropy": round(math.log(a.out_dim), 3),
                  "bottleneck_mean_norm": collapse,
                  "seconds": round(time.time() - start, 1)}))
