#!/usr/bin/env python3
"""Writes Tests/Fixtures/esvit_loss.safetensors: EsViT's DDINOLoss on fixed inputs, two calls.

Run from the repository root:  /root/venv/bin/python scripts/make_esvit_fixtures.py
Needs torch, safetensors. CI does not run this; it reads the fixture.

The loss is re-implemented from microsoft/esvit's main_esvit.py (`DDINOLoss.forward` and
`update_center`, one process): 4 crops (2 global of N = 4 tokens, 2 local of 1 token), B = 3,
K = 6 outputs, P = 5 feature channels; the loss, the gradients of the student's view and region
outputs, and both centres after each of two calls (epochs 0 and 1 of a temperature warm-up).
"""
import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

torch.manual_seed(3)
torch.set_default_dtype(torch.float64)
B, K, P, CROPS, N, T_LOCAL = 3, 6, 5, 4, 4, 1
STUDENT_T, CENTER_M = 0.1, 0.9
temps = np.concatenate((np.linspace(0.04, 0.07, 2), np.ones(0)))
center, center_grid = torch.zeros(1, K), torch.zeros(1, K)


def ddino_loss(s_cls_out, s_region_out, s_fea, s_npatch, t_cls_out, t_region_out, t_fea, t_npatch, epoch):
    global center, center_grid
    temp = temps[epoch]
    t_cls = F.softmax((t_cls_out - center) / temp, dim=-1).detach().chunk(2)
    t_region = F.softmax((t_region_out - center_grid) / temp, dim=-1).detach().chunk(2)
    t_fea = t_fea.chunk(2)
    n = t_npatch[0]
    b = t_region[0].shape[0] // n
    s_cls = (s_cls_out / STUDENT_T).chunk(CROPS)
    s_region = s_region_out / STUDENT_T
    s_split_size = [s_npatch[0]] * 2 + [s_npatch[1]] * (CROPS - 2)
    s_split_size_bs = [i * b for i in s_split_size]
    s_region = torch.split(s_region, s_split_size_bs, dim=0)
    s_fea = torch.split(s_fea, s_split_size_bs, dim=0)
    total_loss, n_loss_terms = 0, 0
    for iq, q in enumerate(t_cls):
        for v in range(len(s_cls)):
            if v == iq:
                continue
            loss = 0.5 * torch.sum(-q * F.log_softmax(s_cls[v], dim=-1), dim=-1)
            s_region_cur, s_fea_cur = s_region[v].view(b, s_split_size[v], -1), s_fea[v].view(b, s_split_size[v], -1)
            t_region_cur, t_fea_cur = t_region[iq].view(b, n, -1), t_fea[iq].view(b, n, -1)
            sim = torch.matmul(F.normalize(s_fea_cur, p=2, dim=-1),
                               F.normalize(t_fea_cur, p=2, dim=-1).permute(0, 2, 1))
            ind = sim.max(dim=2)[1]
            t_indexed = torch.gather(t_region_cur, 1, ind.unsqueeze(2).expand(-1, -1, t_region_cur.size(2)))
            loss_grid = torch.sum(-t_indexed * F.log_softmax(s_region_cur, dim=-1), dim=[-1]).mean(-1)
            loss += 0.5 * loss_grid
            total_loss += loss.mean()
            n_loss_terms += 1
    total_loss /= n_loss_terms
    with torch.no_grad():
        batch_center = torch.sum(t_cls_out, dim=0, keepdim=True) / len(t_cls_out)
        batch_grid_center = torch.sum(t_region_out, dim=0, keepdim=True) / len(t_region_out)
        center = center * CENTER_M + batch_center * (1 - CENTER_M)
        center_grid = center_grid * CENTER_M + batch_grid_center * (1 - CENTER_M)
    return total_loss


out = {}
student_rows = B * (2 * N + (CROPS - 2) * T_LOCAL)
for epoch in range(2):
    s_cls = torch.randn(CROPS * B, K, requires_grad=True)
    s_region = torch.randn(student_rows, K, requires_grad=True)
    s_fea = torch.randn(student_rows, P)
    t_cls, t_region, t_fea = torch.randn(2 * B, K), torch.randn(2 * B * N, K), torch.randn(2 * B * N, P)
    loss = ddino_loss(s_cls, s_region, s_fea, [N, T_LOCAL], t_cls, t_region, t_fea, [N], epoch)
    loss.backward()
    for name, value in [("s_cls", s_cls), ("s_region", s_region), ("s_fea", s_fea), ("t_cls", t_cls),
                        ("t_region", t_region), ("t_fea", t_fea)]:
        out[f"call{epoch}.{name}"] = value.detach()
    out[f"call{epoch}.loss"] = loss.detach().reshape(1)
    out[f"call{epoch}.grad_s_cls"], out[f"call{epoch}.grad_s_region"] = s_cls.grad, s_region.grad
    out[f"call{epoch}.center"], out[f"call{epoch}.center_grid"] = center.clone(), center_grid.clone()
    print("loss", loss.item())
save_file({k: v.contiguous() for k, v in out.items()}, "Tests/Fixtures/esvit_loss.safetensors",
          metadata={"generator": "scripts/make_esvit_fixtures.py"})
