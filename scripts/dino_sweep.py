#!/usr/bin/env python3
"""A sweep of DINO settings on the built-in Shapes data, on a GPU, with batched augmentations.

    swift run -c release tessera export --train-images 10000 [--hue-spread 0.5] --output shapes.safetensors
    python3 scripts/dino_sweep.py shapes.safetensors --out results.jsonl [--workers 8] [--only NAME...]
    python3 scripts/dino_sweep.py a.safetensors b.safetensors ...   # the same short runs on each file

Docs/dino-sweep holds the results of both forms and what they showed.

The training step is `dino_shapes_reference.py`'s (main_dino.py's), but each augmentation is one
batched operation on the device (crop, rotation and flip as one affine grid sample; colour jitter,
grey, blur and solarisation per sample), so one small run takes seconds and a sweep of many fits in
minutes. `--method simclr` replaces DINO's loss by InfoNCE on the two global crops, to tell whether
anything self-supervised can lift k-NN in a setting. Each run writes one JSON line: its settings,
k-NN (DINO's weighted k-NN, k 20, T 0.07, 500 test images) at random initialisation (also with
measured BatchNorm statistics) and along training, the mean loss of the last tenth of the steps,
the teacher's entropy and the collapse measure (norm of the batch mean of normalised outputs).
"""
import argparse
import json
import math
import multiprocessing as mp
import os
import time
from copy import deepcopy

import torch
import torch.nn as nn
import torch.nn.functional as F

from dino_models import Head, ResNet, cosine_schedule as cosine

BASE = dict(method="dino", images=1000, steps=180, batch=64, width=12, lr=1e-2, warmup=0.083, wd=0.04, wd_end=0.4,
            momentum=0.99, tt_start=0.04, tt=0.02, tt_warmup=0.25, out_dim=256, hidden=512, bottleneck=128,
            colour="dino", rotation=180.0, gmin=0.4, local_crops=2, lmin=0.1, lmax=0.4, blur=True, centre="zero",
            student_temp=0.1, centre_momentum=0.9, freeze_last=0.083, clip=3.0, seed=3, simclr_t=0.2)


def configs():
    """(name, overrides): the long runs first, so that they start at once on a pool of workers."""
    n10k = dict(images=10000)
    official = dict(tt=0.07, tt_start=0.04, momentum=0.996, out_dim=4096)
    runs = [("w32_steps5760_n10k", dict(n10k, width=32, steps=5760)),
            ("simclr_w32_steps5760_n10k", dict(n10k, method="simclr", width=32, steps=5760)),
            ("official_w32_steps5760_n10k", dict(n10k, **official, width=32, steps=5760)),
            ("w64_steps2880_n10k_b", dict(n10k, width=64, steps=2880, seed=4)),
            ("base", {}), ("base_seed4", dict(seed=4)), ("base_seed5", dict(seed=5))]
    for steps in (720, 2880):
        runs += [(f"steps{steps}", dict(steps=steps)), (f"steps{steps}_n10k", dict(n10k, steps=steps))]
    runs += [("steps2880_n10k_seed4", dict(n10k, steps=2880, seed=4)),
             ("steps2880_n10k_seed5", dict(n10k, steps=2880, seed=5))]
    for width in (24, 32, 64):
        runs += [(f"w{width}_steps720_n10k", dict(n10k, width=width, steps=720)),
                 (f"w{width}_steps2880_n10k", dict(n10k, width=width, steps=2880))]
    runs += [("simclr", dict(method="simclr")), ("simclr_steps720_n10k", dict(n10k, method="simclr", steps=720)),
             ("simclr_steps2880_n10k", dict(n10k, method="simclr", steps=2880)),
             ("simclr_w32_steps2880_n10k", dict(n10k, method="simclr", width=32, steps=2880)),
             ("official", official), ("official_steps720_n10k", dict(n10k, **official, steps=720)),
             ("official_steps2880_n10k", dict(n10k, **official, steps=2880)),
             ("official_w32_steps2880_n10k", dict(n10k, **official, width=32, steps=2880))]
    one = dict(n10k, steps=720)  # one change at a time from 720 steps over 10,000 images
    variants = [("lr1e-3", dict(lr=1e-3)), ("lr3e-3", dict(lr=3e-3)), ("lr3e-2", dict(lr=3e-2)),
                ("tt0.04", dict(tt=0.04)), ("tt0.07", dict(tt=0.07)), ("out64", dict(out_dim=64)),
                ("out1024", dict(out_dim=1024)), ("out4096", dict(out_dim=4096)),
                ("centre_first", dict(centre="first")), ("mom0.996", dict(momentum=0.996)),
                ("mom0.9", dict(momentum=0.9)), ("colour_none", dict(colour="none")),
                ("colour_strong", dict(colour="strong")), ("rot0", dict(rotation=0.0)),
                ("nolocal", dict(local_crops=0)), ("local6", dict(local_crops=6)), ("gmin0.14", dict(gmin=0.14)),
                ("batch256", dict(batch=256)), ("noblur", dict(blur=False)), ("warmup0.3", dict(warmup=0.3)),
                ("student_t0.2", dict(student_temp=0.2))]
    runs += [(f"{name}_steps720_n10k", dict(one, **o)) for name, o in variants]
    return runs


def data_variant_configs(files):
    """The same short runs on each data file (variants of the data)."""
    runs = []
    for f in files:
        tag = os.path.basename(f).split(".")[0]
        runs += [(f"{tag}_dino_steps1200", dict(data=f, images=5000, steps=1200)),
                 (f"{tag}_dino_steps720", dict(data=f, images=5000, steps=720)),
                 (f"{tag}_simclr_steps720", dict(data=f, method="simclr", images=5000, steps=720)),
                 (f"{tag}_dino_base", dict(data=f)),
                 (f"{tag}_dino_base_n5000", dict(data=f, images=5000))]
    return runs


# ---------------------------------------------------------------- model

class MultiCrop(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.backbone, self.head = ResNet(c["width"]), Head(8 * c["width"], c["out_dim"], c["hidden"], c["bottleneck"])

    def forward(self, crops):  # crops of one size share a backbone call (and BatchNorm statistics)
        groups = [torch.cat(crops[:2])] + ([torch.cat(crops[2:])] if len(crops) > 2 else [])
        return self.head(torch.cat([self.backbone(g) for g in groups]))


# ---------------------------------------------------------------- batched augmentations

def grey(x):
    return (0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2]).unsqueeze(1)


def rgb_to_hsv(x):
    r, g, b = x.unbind(1)
    maxc, _ = x.max(1)
    minc, _ = x.min(1)
    delta = maxc - minc
    s = torch.where(maxc > 0, delta / maxc.clamp_min(1e-8), torch.zeros_like(maxc))
    d = delta.clamp_min(1e-8)
    h = torch.where(maxc == r, ((g - b) / d) % 6, torch.where(maxc == g, (b - r) / d + 2, (r - g) / d + 4))
    h = torch.where(delta > 0, h / 6, torch.zeros_like(h))
    return torch.stack([h, s, maxc], 1)


def hsv_to_rgb(x):
    h, s, v = x.unbind(1)
    i = torch.floor(h * 6)
    f = h * 6 - i
    p, q, t = v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))
    i = i.long() % 6
    r = torch.stack([v, q, p, p, t, v], 1).gather(1, i.unsqueeze(1)).squeeze(1)
    g = torch.stack([t, v, v, q, p, p], 1).gather(1, i.unsqueeze(1)).squeeze(1)
    b = torch.stack([p, p, t, v, v, q], 1).gather(1, i.unsqueeze(1)).squeeze(1)
    return torch.stack([r, g, b], 1)


def per_sample(n, lo, hi, device):
    return torch.empty(n, 1, 1, 1, device=device).uniform_(lo, hi)


def colour(x, c):
    if c["colour"] == "none":
        return x
    strong = c["colour"] == "strong"
    n, dev = len(x), x.device
    bri, con, sat, hue = (0.6, 0.6, 0.8, 0.5) if strong else (0.4, 0.4, 0.2, 0.1)
    apply = (torch.rand(n, 1, 1, 1, device=dev) < 0.8).float()
    y = (x * per_sample(n, 1 - bri, 1 + bri, dev)).clamp(0, 1)
    m = grey(y).mean((2, 3), keepdim=True)
    y = ((y - m) * per_sample(n, 1 - con, 1 + con, dev) + m).clamp(0, 1)
    gy = grey(y)
    y = ((y - gy) * per_sample(n, 1 - sat, 1 + sat, dev) + gy).clamp(0, 1)
    hsv = rgb_to_hsv(y)
    hsv = torch.cat([(hsv[:, :1] + per_sample(n, -hue, hue, dev)) % 1.0, hsv[:, 1:]], 1)
    y = hsv_to_rgb(hsv).clamp(0, 1)
    x = apply * y + (1 - apply) * x
    to_grey = (torch.rand(n, 1, 1, 1, device=dev) < (0.5 if strong else 0.2)).float()
    return to_grey * grey(x).expand_as(x) + (1 - to_grey) * x


def blur(x, p, size):
    n, ch, h, w = x.shape
    k = max(3, size // 8 * 2 + 1)
    sigma = torch.empty(n, device=x.device).uniform_(0.1, 2.0)
    r = torch.arange(k, device=x.device, dtype=x.dtype) - k // 2
    kern = torch.exp(-(r[None] ** 2) / (2 * sigma[:, None] ** 2))
    kern = kern / kern.sum(1, keepdim=True)
    off = torch.rand(n, device=x.device) >= p
    delta = torch.zeros(k, device=x.device, dtype=x.dtype)
    delta[k // 2] = 1
    kern[off] = delta
    kern = kern.repeat_interleave(ch, 0)  # [n*ch, k]
    y = F.pad(x.reshape(1, n * ch, h, w), (k // 2, k // 2, 0, 0), mode="reflect")
    y = F.conv2d(y, kern.view(n * ch, 1, 1, k), groups=n * ch)
    y = F.pad(y, (0, 0, k // 2, k // 2), mode="reflect")
    y = F.conv2d(y, kern.view(n * ch, 1, k, 1), groups=n * ch)
    return y.view(n, ch, h, w)


def view(x, c, size, scale, blur_p, solarize_p):
    """Rotation (zero fill), random resized crop, flip as one affine sampling; then colour, blur, solarise."""
    n, dev = len(x), x.device
    area = torch.empty(n, device=dev).uniform_(*scale)
    logr = torch.empty(n, device=dev).uniform_(math.log(3 / 4), math.log(4 / 3))
    ratio = logr.exp()
    cw, ch = (area * ratio).sqrt().clamp(max=1.0), (area / ratio).sqrt().clamp(max=1.0)
    cx = (torch.rand(n, device=dev) * 2 - 1) * (1 - cw)  # crop centre in [-1, 1] units
    cy = (torch.rand(n, device=dev) * 2 - 1) * (1 - ch)
    flip = torch.where(torch.rand(n, device=dev) < 0.5, -1.0, 1.0)
    angle = (torch.rand(n, device=dev) * 2 - 1) * math.radians(c["rotation"])
    cos, sin = angle.cos(), angle.sin()
    # output (u, v) in [-1, 1] → crop point p = (cx + cw*flip*u, cy + ch*v) → rotated back into the source
    a = torch.stack([cw * flip, torch.zeros_like(cw), cx, torch.zeros_like(cw), ch, cy], 1).view(n, 2, 3)
    rot = torch.stack([cos, -sin, sin, cos], 1).view(n, 2, 2)
    theta = rot @ a
    grid = F.affine_grid(theta, (n, 3, size, size), align_corners=False)
    y = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    y = colour(y, c)
    if c["blur"]:
        y = blur(y, blur_p, size)
    if solarize_p > 0 and c["colour"] != "none":
        sol = (torch.rand(n, 1, 1, 1, device=dev) < solarize_p)
        y = torch.where(sol & (y >= 0.5), 1 - y, y)
    return ((y.clamp(0, 1) - 0.5) / 0.25)


def crops(x, c):
    views = [view(x, c, 32, (c["gmin"], 1.0), 1.0, 0.0), view(x, c, 32, (c["gmin"], 1.0), 0.1, 0.2)]
    views += [view(x, c, 16, (c["lmin"], c["lmax"]), 0.5, 0.0) for _ in range(c["local_crops"])]
    return views


# ---------------------------------------------------------------- evaluation and schedules

@torch.no_grad()
def knn(backbone, data, k=20, t=0.07):
    was = backbone.training
    backbone.eval()
    f = lambda x: F.normalize(torch.cat([backbone((x[i:i + 1000] - 0.5) / 0.25)
                                         for i in range(0, len(x), 1000)]), dim=1)
    train_f, test_f = f(data["train_x"]), f(data["test_x"])
    backbone.train(was)
    sim, idx = (test_f @ train_f.T).topk(k, dim=1)
    votes = torch.zeros(len(test_f), 10, device=sim.device).scatter_add_(1, data["train_y"][idx], (sim / t).exp())
    return round((votes.argmax(1) == data["test_y"]).float().mean().item(), 4)


@torch.no_grad()
def calibrated_knn(backbone, data):
    copy = deepcopy(backbone)
    for m in copy.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None
    for i in range(0, len(data["train_x"]), 100):
        copy((data["train_x"][i:i + 100] - 0.5) / 0.25)
    return knn(copy, data)


def run(name, c, all_data, device):
    torch.manual_seed(c["seed"])
    n = c["images"]
    data = dict(train_x=all_data["train_x"][:n], train_y=all_data["train_y"][:n],
                test_x=all_data["test_x"], test_y=all_data["test_y"])
    student, teacher = MultiCrop(c).to(device), MultiCrop(c).to(device)
    teacher.load_state_dict(student.state_dict())
    for q in teacher.parameters():
        q.requires_grad = False
    random_knn, random_cal = knn(student.backbone, data), calibrated_knn(student.backbone, data)
    steps, bs = c["steps"], c["batch"]
    lrs = cosine(c["lr"] * bs / 256, 1e-5, steps, int(c["warmup"] * steps))
    wds, momenta = cosine(c["wd"], c["wd_end"], steps), cosine(c["momentum"], 1.0, steps)
    tw = int(c["tt_warmup"] * steps)
    temps = [c["tt_start"] + (c["tt"] - c["tt_start"]) * min(1.0, i / max(1, tw)) for i in range(steps)]
    named = [(k, q) for k, q in student.named_parameters() if q.requires_grad]
    decay = [q for k, q in named if not (k.endswith("bias") or q.ndim == 1)]
    plain = [q for k, q in named if k.endswith("bias") or q.ndim == 1]
    opt = torch.optim.AdamW([{"params": decay}, {"params": plain, "weight_decay": 0.0}], fused=device.type == "cuda")
    last = [q for k, q in named if "last_layer" in k]
    params, tparams = list(student.parameters()), list(teacher.parameters())
    center = torch.zeros(1, c["out_dim"], device=device)
    curve, losses, collapse, entropy = [(0, random_knn)], [], [], 0.0
    checkpoints = {int(steps * f) for f in (0.25, 0.5, 0.75, 1.0)}
    start = time.time()
    order = torch.randperm(n, device=device)
    pos = 0
    for it in range(steps):
        if pos + bs > n:
            order, pos = torch.randperm(n, device=device), 0
        x = crops(data["train_x"][order[pos:pos + bs]], c)
        pos += bs
        for i, g in enumerate(opt.param_groups):
            g["lr"] = lrs[it]
            if i == 0:
                g["weight_decay"] = wds[it]
        if c["method"] == "simclr":
            z = F.normalize(student.head.mlp(student.backbone(torch.cat(x[:2]))), dim=-1)
            sim = z @ z.T / c["simclr_t"]
            sim.fill_diagonal_(-1e9)
            target = torch.cat([torch.arange(bs, 2 * bs), torch.arange(0, bs)]).to(device)
            loss = F.cross_entropy(sim, target)
            if it in (1, 5, 10, 20, 50) or it == steps - 1:
                collapse.append((it, round(z[:bs].detach().mean(0).norm().item(), 3)))
        else:
            with torch.no_grad():
                t_out = teacher(x[:2])
                if it == 0 and c["centre"] == "first":
                    center = t_out.mean(0, keepdim=True)
                targets = F.softmax((t_out - center) / temps[it], dim=-1)
                if it == steps - 1:
                    entropy = -(targets * targets.clamp_min(1e-12).log()).sum(1).mean().item()
            s_out = (student(x) / c["student_temp"]).chunk(len(x))
            if it in (1, 5, 10, 20, 50) or it == steps - 1:
                collapse.append((it, round(student.head.bottleneck[:bs].detach().mean(0).norm().item(), 3)))
            terms = [torch.sum(-q * F.log_softmax(s, dim=-1), dim=-1).mean()
                     for iq, q in enumerate(targets.chunk(2)) for v, s in enumerate(s_out) if v != iq]
            loss = sum(terms) / len(terms)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        grads = [q.grad for q in params if q.grad is not None]
        norms = torch._foreach_norm(grads)
        scales = [torch.clamp(c["clip"] / (nm + 1e-6), max=1.0) for nm in norms]
        torch._foreach_mul_(grads, scales)
        if it < int(c["freeze_last"] * steps):
            for q in last:
                q.grad = None
        opt.step()
        with torch.no_grad():
            if c["method"] == "dino":
                torch._foreach_mul_(tparams, momenta[it])
                torch._foreach_add_(tparams, [q.detach() for q in params], alpha=1 - momenta[it])
                center = center * c["centre_momentum"] + t_out.mean(0, keepdim=True) * (1 - c["centre_momentum"])
            else:
                for qt, qs in zip(tparams, params):
                    qt.copy_(qs)
                for bt, bs_ in zip(teacher.buffers(), student.buffers()):
                    bt.copy_(bs_)
        losses.append(loss.detach())
        if it + 1 in checkpoints:
            curve.append((it + 1, knn(teacher.backbone, data)))
    losses = torch.stack(losses).cpu().tolist()
    tail = losses[-max(1, steps // 10):]
    return dict(name=name, config=c, random_init_knn=random_knn, random_init_knn_calibrated_bn=random_cal,
                teacher_knn=curve[-1][1], student_knn=knn(student.backbone, data), knn_curve=curve,
                first_loss=round(losses[0], 3), final_loss=round(sum(tail) / len(tail), 3),
                teacher_entropy=round(entropy, 3), uniform_entropy=round(math.log(c["out_dim"]), 3),
                bottleneck_mean_norm=collapse, seconds=round(time.time() - start, 1))


def worker(job):
    name, overrides, path, out, threads = job
    torch.set_num_threads(threads)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    from safetensors.torch import load_file
    raw = load_file(path)
    data = {"train_x": raw["train_images"].float().div(255).to(device),
            "train_y": raw["train_labels"].long().to(device),
            "test_x": raw["test_images"][:500].float().div(255).to(device),
            "test_y": raw["test_labels"][:500].long().to(device)}
    c = dict(BASE, **{k: v for k, v in overrides.items() if k != "data"})
    try:
        result = run(name, c, data, device)
    except Exception as e:  # one broken setting must not lose the others' results
        result = dict(name=name, config=c, error=repr(e))
    line = json.dumps(result)
    with open(out, "a") as f:
        f.write(line + "\n")
    print(f"{name}: random {result.get('random_init_knn')} / {result.get('random_init_knn_calibrated_bn')} "
          f"→ teacher {result.get('teacher_knn')} ({result.get('seconds')} s)", flush=True)


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("data", nargs="+", help="one file (the full sweep) or several (the same short runs on each)")
    p.add_argument("--out", default="results.jsonl")
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--only", nargs="*")
    p.add_argument("--set", nargs="*", default=[], help="overrides for every run, KEY=VALUE")
    a = p.parse_args()
    extra = {}
    for kv in a.set:
        k, v = kv.split("=")
        extra[k] = type(BASE[k])(v) if not isinstance(BASE[k], bool) else v == "1"
    runs = configs() if len(a.data) == 1 else data_variant_configs(a.data)
    jobs = [(nm, dict(o, **extra), o.get("data", a.data[0]), a.out, a.threads)
            for nm, o in runs if not a.only or nm in a.only]
    ctx = mp.get_context("spawn")
    with ctx.Pool(a.workers) as pool:
        list(pool.imap_unordered(worker, jobs))
