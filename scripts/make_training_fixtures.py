#!/usr/bin/env python3
"""Writes six full DINO training steps in float64, the reference for Zoo's DINO step test.

Run from the repository root:  python3 scripts/make_training_fixtures.py [--optimizer sgd|lars]
Needs torch, torchvision, safetensors. CI does not run this; it reads
Tests/Fixtures/dino_steps.safetensors.

The step is written out from the DINO repository's main_dino.py: a torchvision-layout ResNet
(BasicBlock, one block per stage, 3×3 stem without max pooling, width 4) and DINO head in a
multi-crop wrapper (crops of one resolution share a backbone call, so BatchNorm sees them
together), the teacher on the two global crops, DINOLoss with centring and teacher-temperature
warm-up, AdamW (or main_dino.py's SGD with momentum 0.9, or LARS) on DINO's two parameter groups (no
decay on biases and norms) with the cosine learning-rate and weight-decay schedules, per-parameter
gradient clipping at 3, the last layer's gradients dropped in epoch 0, then the EMA teacher update
(parameters only).
"""
import argparse
import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import save_file
from torchvision.models.resnet import BasicBlock

from lars import LARS

parser = argparse.ArgumentParser()
parser.add_argument("--optimizer", choices=["adamw", "sgd", "lars"], default="adamw")
OPTIMIZER = parser.parse_args().optimizer
FIXTURE = ("Tests/Fixtures/dino_steps.safetensors" if OPTIMIZER == "adamw"
           else f"Tests/Fixtures/dino_steps_{OPTIMIZER}.safetensors")

torch.manual_seed(11)
torch.set_default_dtype(torch.float64)

EPOCHS, ITERS_PER_EPOCH, BATCH, WIDTH, OUT_DIM = 2, 3, 4, 4, 32
BASE_LR, MIN_LR, WARMUP_EPOCHS, WD, WD_END, CLIP = 0.256, 1e-5, 1, 0.04, 0.4, 3.0
MOMENTUM, WARMUP_TT, TT, WARMUP_TT_EPOCHS, STUDENT_T, CENTER_M = 0.9, 0.04, 0.07, 1, 0.1, 0.9


class SmallResNet(nn.Module):
    """torchvision's ResNet layout with a CIFAR-style stem and no classifier: pooled features."""

    def __init__(self, width):
        super().__init__()
        self.inplanes = width
        self.conv1 = nn.Conv2d(3, width, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.layer1 = self._make_layer(width, 1)
        self.layer2 = self._make_layer(width * 2, 2)
        self.layer3 = self._make_layer(width * 4, 2)
        self.layer4 = self._make_layer(width * 8, 2)

    def _make_layer(self, planes, stride):
        downsample = None
        if stride != 1 or self.inplanes != planes:
            downsample = nn.Sequential(nn.Conv2d(self.inplanes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))
        block = BasicBlock(self.inplanes, planes, stride, downsample)
        self.inplanes = planes
        return nn.Sequential(block)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        return self.layer4(self.layer3(self.layer2(self.layer1(x)))).mean((2, 3))


class DINOHead(nn.Module):
    def __init__(self, in_dim, out_dim, hidden_dim, bottleneck_dim):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(in_dim, hidden_dim), nn.GELU(), nn.Linear(hidden_dim, hidden_dim), nn.GELU(),
                                 nn.Linear(hidden_dim, bottleneck_dim))
        self.last_layer = nn.utils.weight_norm(nn.Linear(bottleneck_dim, out_dim, bias=False))
        self.last_layer.weight_g.data.fill_(1)
        self.last_layer.weight_g.requires_grad = False

    def forward(self, x):
        return self.last_layer(F.normalize(self.mlp(x), dim=-1, p=2))


class MultiCropWrapper(nn.Module):
    def __init__(self, backbone, head):
        super().__init__()
        self.backbone, self.head = backbone, head

    def forward(self, crops):
        counts = torch.unique_consecutive(torch.tensor([c.shape[-1] for c in crops]), return_counts=True)[1]
        start, outputs = 0, []
        for end in torch.cumsum(counts, 0).tolist():
            outputs.append(self.backbone(torch.cat(crops[start:end])))
            start = end
        return self.head(torch.cat(outputs))


def cosine_scheduler(base, final, epochs, niter_per_ep, warmup_epochs=0, start_warmup_value=0):
    warmup = np.linspace(start_warmup_value, base, warmup_epochs * niter_per_ep) if warmup_epochs > 0 else np.array([])
    iters = np.arange(epochs * niter_per_ep - len(warmup))
    return np.concatenate((warmup, final + 0.5 * (base - final) * (1 + np.cos(np.pi * iters / len(iters)))))


def make_model():
    return MultiCropWrapper(SmallResNet(WIDTH), DINOHead(WIDTH * 8, OUT_DIM, hidden_dim=16, bottleneck_dim=8))


student, teacher = make_model(), make_model()
for m in student.modules():  # non-trivial affine BatchNorm parameters, so their gradients matter
    if isinstance(m, nn.BatchNorm2d):
        with torch.no_grad():
            m.weight.uniform_(0.5, 1.5)
            m.bias.uniform_(-0.2, 0.2)
teacher.load_state_dict(student.state_dict())
for p in teacher.parameters():
    p.requires_grad = False
initial = {k: v.clone() for k, v in student.state_dict().items()}

regularized = [p for n, p in student.named_parameters() if p.requires_grad and not (n.endswith(".bias") or p.ndim == 1)]
plain = [p for n, p in student.named_parameters() if p.requires_grad and (n.endswith(".bias") or p.ndim == 1)]
groups = [{"params": regularized}, {"params": plain, "weight_decay": 0.0}]
optimizer = {"adamw": lambda: torch.optim.AdamW(groups), "sgd": lambda: torch.optim.SGD(groups, lr=0, momentum=0.9),
             "lars": lambda: LARS(groups)}[OPTIMIZER]()
peak_lr = BASE_LR * BATCH / 256
lrs = cosine_scheduler(peak_lr, MIN_LR, EPOCHS, ITERS_PER_EPOCH, WARMUP_EPOCHS)
wds = cosine_scheduler(WD, WD_END, EPOCHS, ITERS_PER_EPOCH)
momenta = cosine_scheduler(MOMENTUM, 1, EPOCHS, ITERS_PER_EPOCH)
teacher_temps = np.concatenate((np.linspace(WARMUP_TT, TT, WARMUP_TT_EPOCHS), np.ones(EPOCHS - WARMUP_TT_EPOCHS) * TT))
center = torch.zeros(1, OUT_DIM)

out, losses = {}, []
for it in range(EPOCHS * ITERS_PER_EPOCH):
    epoch = it // ITERS_PER_EPOCH
    crops = [torch.randn(BATCH, 3, 12, 12), torch.randn(BATCH, 3, 12, 12),
             torch.randn(BATCH, 3, 6, 6), torch.randn(BATCH, 3, 6, 6)]
    for k, c in enumerate(crops):
        out[f"step{it}.crop{k}"] = c
    for i, group in enumerate(optimizer.param_groups):
        group["lr"] = lrs[it]
        if i == 0:
            group["weight_decay"] = wds[it]
    teacher_output = teacher(crops[:2])
    student_output = student(crops)
    student_out = (student_output / STUDENT_T).chunk(4)
    teacher_out = F.softmax((teacher_output - center) / teacher_temps[epoch], dim=-1).detach().chunk(2)
    total, n_terms = 0, 0
    for iq, q in enumerate(teacher_out):
        for v in range(4):
            if v != iq:
                total += torch.sum(-q * F.log_softmax(student_out[v], dim=-1), dim=-1).mean()
                n_terms += 1
    loss = total / n_terms
    with torch.no_grad():
        center = (center * CENTER_M
                  + torch.sum(teacher_output, dim=0, keepdim=True) / len(teacher_output) * (1 - CENTER_M))
    optimizer.zero_grad()
    loss.backward()
    for p in student.parameters():
        if p.grad is not None:
            clip_coef = CLIP / (p.grad.norm(2) + 1e-6)
            if clip_coef < 1:
                p.grad.mul_(clip_coef)
    if epoch < 1:
        for n, p in student.named_parameters():
            if "last_layer" in n:
                p.grad = None
    optimizer.step()
    with torch.no_grad():
        for ps, pt in zip(student.parameters(), teacher.parameters()):
            pt.mul_(momenta[it]).add_((1 - momenta[it]) * ps.detach())
    losses.append(loss.item())

for k, v in initial.items():
    out[f"initial.{k}"] = v
for k, v in student.state_dict().items():
    out[f"student.{k}"] = v
for k, v in teacher.state_dict().items():
    out[f"teacher.{k}"] = v
out["center"] = center
out["losses"] = torch.tensor(losses)
out["learning_rates"] = torch.tensor(lrs)
out = {k: v.detach().to(torch.float64 if v.is_floating_point() else v.dtype).contiguous() for k, v in out.items()}
save_file(out, FIXTURE, metadata={"generator": f"scripts/make_training_fixtures.py --optimizer {OPTIMIZER}",
                                  "torch": torch.__version__})
print("losses", losses)
