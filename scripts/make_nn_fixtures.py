#!/usr/bin/env python3
"""Writes the PyTorch reference values the NN tests compare against.

Run from the repository root:  python3 scripts/make_nn_fixtures.py
Needs torch and safetensors (pip install torch safetensors). CI does not run this; it reads the
committed Tests/Fixtures/nn_layers.safetensors. Everything is float64 so the comparison measures
our kernels, not float32 rounding.
"""
import json
import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import save_file

from lars import LARS

torch.manual_seed(2026)
torch.set_default_dtype(torch.float64)
out = {}
meta = {}


def put(prefix, **tensors):
    for k, v in tensors.items():
        out[f"{prefix}.{k}"] = v.detach().contiguous()


# Linear on a rank-3 input.
x, lin = torch.randn(2, 3, 5), nn.Linear(5, 4)
put("linear", x=x, weight=lin.weight, bias=lin.bias, y=lin(x))

# Conv2d: groups + stride + padding; dilation; pointwise.
for name, (cin, cout, k, s, p, d, g, hw) in {
    "conv_grouped": (4, 6, 3, 2, 1, 1, 2, (7, 9)),
    "conv_dilated": (3, 5, 3, 1, 2, 2, 1, (8, 6)),
    "conv_pointwise": (5, 3, 1, 1, 0, 1, 1, (4, 4)),
    "conv_7x7": (3, 4, 7, 2, 3, 1, 1, (12, 11)),
}.items():
    conv = nn.Conv2d(cin, cout, k, stride=s, padding=p, dilation=d, groups=g)
    x = torch.randn(2, cin, *hw)
    put(name, x=x, weight=conv.weight, bias=conv.bias, y=conv(x))
    meta[name] = dict(stride=s, padding=p, dilation=d, groups=g)

# BatchNorm2d: two training steps (running statistics), then evaluation.
bn = nn.BatchNorm2d(3, momentum=0.1)
with torch.no_grad():
    bn.weight.copy_(torch.randn(3))
    bn.bias.copy_(torch.randn(3))
x1, x2 = torch.randn(4, 3, 5, 5) * 2 + 1, torch.randn(4, 3, 5, 5)
bn.train()
y1 = bn(x1)
bn(x2)
bn.eval()
put("batchnorm", weight=bn.weight, bias=bn.bias, x1=x1, x2=x2, y1_train=y1, y_eval=bn(x1),
    running_mean=bn.running_mean, running_var=bn.running_var)

# LayerNorm with timm's epsilon.
ln = nn.LayerNorm(16, eps=1e-6)
with torch.no_grad():
    ln.weight.copy_(torch.randn(16))
    ln.bias.copy_(torch.randn(16))
x = torch.randn(3, 7, 16) * 3 + 2
put("layernorm", x=x, weight=ln.weight, bias=ln.bias, y=ln(x))

# Pooling.
x = torch.randn(2, 3, 9, 8)
put("pool", x=x, max_k3s2p1=F.max_pool2d(x, 3, 2, 1), avg_k3s2p1=F.avg_pool2d(x, 3, 2, 1),
    avg_k2_nopad=F.avg_pool2d(x, 2, count_include_pad=False), adaptive_3x2=F.adaptive_avg_pool2d(x, (3, 2)))

# Multi-head self-attention as timm's Attention (qkv bias), with its probabilities.
dim, heads = 16, 4
qkv, proj = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)
x = torch.randn(2, 5, dim)
b, n, c = x.shape
q, k, v = qkv(x).reshape(b, n, 3, heads, c // heads).permute(2, 0, 3, 1, 4)
attn = ((q * (c // heads) ** -0.5) @ k.transpose(-2, -1)).softmax(-1)
y = proj((attn @ v).transpose(1, 2).reshape(b, n, c))
put("attention", x=x, y=y, probabilities=attn)
put("attention", **{"qkv.weight": qkv.weight, "qkv.bias": qkv.bias, "proj.weight": proj.weight, "proj.bias": proj.bias})

# Weight-normalised Linear exactly as torch.nn.utils.weight_norm.
wn = nn.utils.weight_norm(nn.Linear(6, 5, bias=False))
with torch.no_grad():
    wn.weight_g.copy_(torch.rand(5, 1) + 0.5)
x = torch.randn(3, 6)
put("weightnorm", x=x, weight_g=wn.weight_g, weight_v=wn.weight_v, y=wn(x))

# Cross-entropy: indices with label smoothing, soft targets; gradients of the logits.
logits = torch.randn(5, 7, requires_grad=True)
labels = torch.tensor([0, 3, 6, 2, 3])
loss = F.cross_entropy(logits, labels, label_smoothing=0.1)
loss.backward()
put("xent", logits=logits, labels=labels, loss_smooth=loss, grad_smooth=logits.grad)
logits.grad = None
soft = torch.rand(5, 7).softmax(-1)
loss = F.cross_entropy(logits, soft)
loss.backward()
put("xent", soft=soft, loss_soft=loss, grad_soft=logits.grad)

# DINO's soft cross-entropy with temperatures and a center.
student, teacher, center = torch.randn(4, 9), torch.randn(4, 9), torch.randn(1, 9) * 0.1
q = F.softmax((teacher - center) / 0.04, dim=-1)
put("dino_ce", student=student, teacher=teacher, center=center,
    loss=torch.sum(-q * F.log_softmax(student / 0.1, dim=-1), dim=-1).mean())

# A module tree whose keys the Swift module of the same structure must reproduce.
class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(4, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4)
        self.downsample = nn.Sequential(nn.Conv2d(4, 4, 1, bias=False), nn.BatchNorm2d(4))

    def forward(self, x):
        return F.relu(self.bn1(self.conv1(x)) + self.downsample(x))


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 4, 3, stride=2, padding=1)
        self.layer1 = nn.Sequential(Block(), Block())
        self.norm_layer = nn.LayerNorm(4)
        self.last_layer = nn.utils.weight_norm(nn.Linear(4, 3, bias=False))

    def forward(self, x):
        x = self.layer1(self.stem(x)).mean((2, 3))
        return self.last_layer(self.norm_layer(x))


net = Net()
for m in net.modules():  # non-trivial running statistics
    if isinstance(m, nn.BatchNorm2d):
        m.running_mean.uniform_(-0.5, 0.5)
        m.running_var.uniform_(0.5, 1.5)
        m.num_batches_tracked.fill_(7)
net.eval()
x = torch.randn(2, 3, 8, 8)
for k, v in net.state_dict().items():
    out[f"net.state.{k}"] = v.contiguous()
put("net", x=x, y=net(x))
meta["net.keys"] = list(net.state_dict().keys())

# Optimisers: three steps on a matrix and a 1-D parameter with fixed gradients, two groups.
w0, b0 = torch.randn(3, 4), torch.randn(4)
grads = [(torch.randn(3, 4), torch.randn(4)) for _ in range(3)]
put("optim", w0=w0, b0=b0)
for t, (gw, gb) in enumerate(grads):
    put("optim", **{f"gw{t}": gw, f"gb{t}": gb})


def run(make):
    w, b = w0.clone().requires_grad_(), b0.clone().requires_grad_()
    opt = make([{"params": [w], "lr": 0.1, "weight_decay": 0.05}, {"params": [b], "lr": 0.05, "weight_decay": 0.0}])
    for gw, gb in grads:
        w.grad, b.grad = gw.clone(), gb.clone()
        opt.step()
    return w, b


for name, make in {
    "sgd": lambda gs: torch.optim.SGD(gs, momentum=0.9, nesterov=True),
    "sgd_plain": lambda gs: torch.optim.SGD(gs),
    "adamw": lambda gs: torch.optim.AdamW(gs, betas=(0.9, 0.95), eps=1e-8),
    "lars": lambda gs: LARS(gs),
}.items():
    w, b = run(make)
    put("optim", **{f"{name}.w": w, f"{name}.b": b})

# Gradient clipping (global norm) and DINO's cosine schedule.
g1, g2 = torch.randn(3, 4) * 3, torch.randn(5) * 3
p1, p2 = torch.zeros(3, 4, requires_grad=True), torch.zeros(5, requires_grad=True)
p1.grad, p2.grad = g1.clone(), g2.clone()
norm = torch.nn.utils.clip_grad_norm_([p1, p2], 1.5)
put("clip", g1=g1, g2=g2, norm=norm, c1=p1.grad, c2=p2.grad)


def cosine_scheduler(base_value, final_value, epochs, niter_per_ep, warmup_epochs=0, start_warmup_value=0):
    warmup = [start_warmup_value + (base_value - start_warmup_value) * i / max(warmup_epochs * niter_per_ep - 1, 1)
              for i in range(warmup_epochs * niter_per_ep)]
    rest = epochs * niter_per_ep - len(warmup)
    return warmup + [final_value + 0.5 * (base_value - final_value) * (1 + math.cos(math.pi * i / rest))
                     for i in range(rest)]


out["schedule.cosine"] = torch.tensor(cosine_scheduler(5e-4, 1e-6, 10, 7, warmup_epochs=2))

save_file(out, "Tests/Fixtures/nn_layers.safetensors", metadata={"meta": json.dumps(meta)})
print(f"wrote {len(out)} tensors")
