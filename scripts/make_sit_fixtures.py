#!/usr/bin/env python3
"""Writes the reference for Tessera's SiT tests: Tests/Fixtures/sit_steps.safetensors.

Run from the repository root:  /root/venv/bin/python scripts/make_sit_fixtures.py
Needs torch, timm, numpy, safetensors. CI does not run this; it reads the fixture.

Written out from SiT's official code (Sara-Ahmed/SiT, main.py, vision_transformer.py and
datasets/datasets_utils.py, December 2022):
1. Four whole SiT steps in float64: a small DINO-layout ViT (timm's, identical keys) inside
   `FullPipline` with `CLSHead` and `RECHead`; the teacher (train mode, as main.py leaves it) on
   the clean crops, the student on the corrupted ones; the SimCLR-named loss of main.py (MoCo v3's
   contrastive loss, both ways, τ = 0.2) plus λ × the L1 error on the masked pixels; AdamW on DINO's
   parameter groups with the cosine learning-rate and weight-decay schedules, per-parameter clipping
   at 3, the EMA teacher with its cosine momentum. The corrupted crops and masks of every step are
   in the fixture (drawn here with SiT's `GMML_drop_rand_patches`), and the collate step is off
   (`drop_replace` 0), since Tessera's random numbers are not NumPy's.
2. The statistics of SiT's own `GMML_drop_rand_patches` over many draws (covered share, blocks
   per image), which Tessera's corruption must reproduce within sampling noise.
3. `torch.rot90` of a small batch, for the first version's rotations.
"""
import math
import random

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from numpy.random import randint
from safetensors.torch import save_file
from timm.models.vision_transformer import VisionTransformer

FIXTURE = "Tests/Fixtures/sit_steps.safetensors"
torch.manual_seed(5)
np.random.seed(5)
random.seed(5)
torch.set_default_dtype(torch.float64)

IMG, PATCH, DIM, OUT, HIDDEN, BATCH = 16, 4, 16, 8, 16, 4
EPOCHS, ITERS, BASE_LR, MIN_LR, WARMUP, WD, WD_END, CLIP = 2, 2, 0.5, 1e-5, 1, 0.04, 0.1, 3.0
MOMENTUM, TEMP, LMBDA = 0.9, 0.2, 2.0


# ---- datasets_utils.py: GMML_drop_rand_patches (the X_rep branch left out: no collate step here) ----
def gmml_drop_rand_patches(X, drop_type="zeros", max_replace=0.7, align=16, max_block_sz=0.3):
    C, H, W = X.size()
    n_drop_pix = np.random.uniform(min(0.5, max_replace), max_replace) * H * W
    mx_blk_height, mx_blk_width = int(H * max_block_sz), int(W * max_block_sz)
    align = max(1, align)
    mask = torch.zeros_like(X)
    blocks = 0
    while mask[0].sum() < n_drop_pix:
        rnd_r = (randint(0, H - align) // align) * align
        rnd_c = (randint(0, W - align) // align) * align
        rnd_h = min(randint(align, mx_blk_height), H - rnd_r)
        rnd_h = round(rnd_h / align) * align
        rnd_w = min(randint(align, mx_blk_width), W - rnd_c)
        rnd_w = round(rnd_w / align) * align
        if drop_type == "noise":
            X[:, rnd_r:rnd_r + rnd_h, rnd_c:rnd_c + rnd_w] = torch.empty((C, rnd_h, rnd_w)).normal_()
        else:
            X[:, rnd_r:rnd_r + rnd_h, rnd_c:rnd_c + rnd_w] = 0
        mask[:, rnd_r:rnd_r + rnd_h, rnd_c:rnd_c + rnd_w] = 1
        blocks += 1
    return X, mask, blocks


# ---- vision_transformer.py: CLSHead, RECHead; main.py: FullPipline, SimCLR ----
class CLSHead(nn.Module):
    def __init__(self, in_dim, bottleneck_dim, nlayers=3, hidden_dim=4096):
        super().__init__()
        layers = [nn.Linear(in_dim, hidden_dim), nn.BatchNorm1d(hidden_dim), nn.ReLU(inplace=True)]
        for _ in range(nlayers - 2):
            layers += [nn.Linear(hidden_dim, hidden_dim), nn.BatchNorm1d(hidden_dim), nn.GELU()]
        layers += [nn.Linear(hidden_dim, bottleneck_dim), nn.BatchNorm1d(bottleneck_dim, affine=False)]
        self.mlp = nn.Sequential(*layers)

    def forward(self, x):
        return self.mlp(x)


class RECHead(nn.Module):
    def __init__(self, in_dim, in_chans=3, patch_size=16):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(in_dim, in_dim), nn.GELU(), nn.Linear(in_dim, in_dim), nn.GELU(),
                                 nn.Linear(in_dim, in_dim), nn.GELU())
        self.convTrans = nn.ConvTranspose2d(in_dim, in_chans, kernel_size=(patch_size, patch_size),
                                            stride=(patch_size, patch_size))

    def forward(self, x):
        x_rec = self.mlp(x).transpose(1, 2)
        side = int(math.sqrt(x_rec.size()[2]))
        return self.convTrans(x_rec.unflatten(2, (side, side)))


class Backbone(VisionTransformer):
    """DINO's / SiT's ViT: forward returns every token after the final norm (timm's keys)."""

    def forward(self, x):
        return self.forward_features(x)


class FullPipline(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = Backbone(img_size=IMG, patch_size=PATCH, embed_dim=DIM, depth=2, num_heads=2, mlp_ratio=2,
                                 qkv_bias=True, num_classes=0, global_pool="")
        self.head = CLSHead(DIM, OUT, hidden_dim=HIDDEN)
        self.head_recons = RECHead(DIM, patch_size=PATCH)

    def forward(self, x, recons=True):
        out = self.backbone(x)
        return self.head(out[:, 0]), (self.head_recons(out[:, 1:]) if recons else None)


def contrastive_loss(q, k):
    q, k = F.normalize(q, dim=1), F.normalize(k, dim=1)
    logits = torch.einsum("nc,mc->nm", [q, k]) / TEMP
    return nn.CrossEntropyLoss()(logits, torch.arange(logits.shape[0])) * (2 * TEMP)


def simclr(student_output, teacher_output):
    s, t = student_output.chunk(2), teacher_output.detach().chunk(2)
    return contrastive_loss(s[0], t[1]) + contrastive_loss(s[1], t[0])


def cosine_scheduler(base, final, epochs, niter_per_ep, warmup_epochs=0, start_warmup_value=0):
    warmup = np.linspace(start_warmup_value, base, warmup_epochs * niter_per_ep) if warmup_epochs > 0 else np.array([])
    iters = np.arange(epochs * niter_per_ep - len(warmup))
    return np.concatenate((warmup, final + 0.5 * (base - final) * (1 + np.cos(np.pi * iters / len(iters)))))


out = {}
student, teacher = FullPipline(), FullPipline()
with torch.no_grad():  # non-trivial BatchNorm affine parameters and a non-zero class token
    for m in student.modules():
        if isinstance(m, nn.BatchNorm1d) and m.affine:
            m.weight.uniform_(0.5, 1.5)
            m.bias.uniform_(-0.2, 0.2)
    student.backbone.cls_token.normal_(0, 0.5)
    student.backbone.pos_embed.normal_(0, 0.5)
teacher.load_state_dict(student.state_dict())
for p in teacher.parameters():
    p.requires_grad = False
for k, v in student.state_dict().items():
    out[f"initial.{k}"] = v.clone()

regularized = [p for n, p in student.named_parameters() if not (n.endswith(".bias") or p.ndim == 1)]
plain = [p for n, p in student.named_parameters() if n.endswith(".bias") or p.ndim == 1]
optimizer = torch.optim.AdamW([{"params": regularized}, {"params": plain, "weight_decay": 0.0}])
lrs = cosine_scheduler(BASE_LR * BATCH / 256, MIN_LR, EPOCHS, ITERS, WARMUP)
wds = cosine_scheduler(WD, WD_END, EPOCHS, ITERS)
momenta = cosine_scheduler(MOMENTUM, 1, EPOCHS, ITERS)

losses = {"loss": [], "contrastive": [], "reconstruction": []}
for it in range(EPOCHS * ITERS):
    clean = [torch.randn(BATCH, 3, IMG, IMG) for _ in range(2)]
    corrupted, masks = [], []
    for view in clean:
        pairs = [gmml_drop_rand_patches(im.clone(), max_replace=0.5, align=1)[:2] for im in view]
        corrupted.append(torch.stack([p[0] for p in pairs]))
        masks.append(torch.stack([p[1][:1] for p in pairs]))  # [B, 1, H, W]: every channel is alike
    for v in range(2):
        out[f"step{it}.clean{v}"], out[f"step{it}.corrupted{v}"], out[f"step{it}.mask{v}"] = \
            clean[v], corrupted[v], masks[v]
    for i, group in enumerate(optimizer.param_groups):
        group["lr"] = lrs[it]
        if i == 0:
            group["weight_decay"] = wds[it]
    t_cls, _ = teacher(torch.cat(clean), recons=False)
    s_cls, s_recons = student(torch.cat(corrupted))
    c_loss = simclr(s_cls, t_cls)
    recloss = F.l1_loss(s_recons, torch.cat(clean), reduction="none")
    r_loss = recloss[torch.cat(masks).expand_as(recloss) == 1].mean()
    loss = c_loss + LMBDA * r_loss
    optimizer.zero_grad()
    loss.backward()
    for p in student.parameters():  # utils.clip_gradients
        if p.grad is not None:
            clip_coef = CLIP / (p.grad.data.norm(2) + 1e-6)
            if clip_coef < 1:
                p.grad.data.mul_(clip_coef)
    optimizer.step()
    with torch.no_grad():
        m = momenta[it]
        for ps, pt in zip(student.parameters(), teacher.parameters()):
            pt.data.mul_(m).add_((1 - m) * ps.detach().data)
    for name, value in [("loss", loss), ("contrastive", c_loss), ("reconstruction", r_loss)]:
        losses[name].append(value.item())

for k, v in student.state_dict().items():
    out[f"student.{k}"] = v
for k, v in teacher.state_dict().items():
    out[f"teacher.{k}"] = v
for name, values in losses.items():
    out[f"losses.{name}"] = torch.tensor(values)
out["learning_rates"] = torch.tensor(lrs)

# 2. GMML statistics: covered share and blocks per image, for two settings.
for name, (side, align, drop) in {"pixel": (32, 1, 0.5), "patch": (32, 8, 0.5), "small": (32, 1, 0.3)}.items():
    shares, blocks = [], []
    for _ in range(2000):
        _, mask, n = gmml_drop_rand_patches(torch.ones(1, side, side), max_replace=drop, align=align)
        shares.append(mask.mean().item())
        blocks.append(n)
    out[f"gmml.{name}"] = torch.tensor([np.mean(shares), np.std(shares), np.mean(blocks), np.std(blocks)])

# 3. rot90.
images = torch.arange(2 * 2 * 3 * 3, dtype=torch.float64).reshape(2, 2, 3, 3)
out["rot90.input"] = images
for k in range(4):
    out[f"rot90.k{k}"] = torch.stack([torch.rot90(im, k, dims=(1, 2)) for im in images])

out = {k: v.detach().to(torch.float64 if v.is_floating_point() else v.dtype).contiguous() for k, v in out.items()}
save_file(out, FIXTURE, metadata={"generator": "scripts/make_sit_fixtures.py", "torch": torch.__version__})
print("losses", losses)
print({k: out[k].tolist() for k in out if k.startswith("gmml.")})
