#!/usr/bin/env python3
"""Writes Tests/Fixtures/esvit_checkpoint.pth: a small EsViT training checkpoint in EsViT's own layout.

Run from the repository root:  /root/venv/bin/python scripts/make_esvit_checkpoint_fixture.py [ESVIT_REPO]
Needs torch, timm, and microsoft/esvit's models/swin_transformer.py (ESVIT_REPO, default: the mirror
of the repository at /work/.mirror/microsoft+esvit/repo, read with `git show`); none of it is committed.
CI does not run this; it reads the fixture.

EsViT's Swin keeps the original (Microsoft) layout that its published checkpoints have: patch merging
at the end of a stage (`layers.0.downsample`), `relative_position_index` buffers, and the two DINO heads
on the backbone itself (`head`, `head_dense`). The file is laid out as main_esvit.py saves one:
{'student': DDP keys (`module.`), 'teacher', 'optimizer', 'epoch', 'dino_loss'}, plus
'check': an input and the teacher backbone's pooled features and last-stage tokens, computed by
EsViT's own `forward_features` (float32, eval mode).
"""
import os
import subprocess
import sys
import types

import torch
import torch.nn as nn

repo = sys.argv[1] if len(sys.argv) > 1 else "/work/.mirror/microsoft+esvit/repo"
source = subprocess.run(["git", "-C", repo, "show", "HEAD:models/swin_transformer.py"], check=True,
                        capture_output=True, text=True).stdout
# The file registers its builder in EsViT's registry; a no-op decorator stands in for it.
source = source.replace("from .registry import register_model", "register_model = lambda f: f")
module = types.ModuleType("esvit_swin")
exec(compile(source, "esvit/models/swin_transformer.py", "exec"), module.__dict__)


class DINOHead(nn.Module):  # main_esvit.py's head: keys mlp.0, mlp.2, mlp.4, last_layer.weight_{g,v}
    def __init__(self, in_dim, out_dim, hidden=32, bottleneck=16):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(in_dim, hidden), nn.GELU(), nn.Linear(hidden, hidden), nn.GELU(),
                                 nn.Linear(hidden, bottleneck))
        self.last_layer = nn.utils.weight_norm(nn.Linear(bottleneck, out_dim, bias=False))


torch.manual_seed(5)
config = dict(img_size=32, patch_size=2, in_chans=3, num_classes=0, embed_dim=8, depths=[2, 2], num_heads=[2, 4],
              window_size=4, mlp_ratio=4.0, drop_path_rate=0.0, use_dense_prediction=True)
teacher = module.SwinTransformer(**config)
with torch.no_grad():  # non-trivial norms and bias tables, so a wrong mapping shows
    for name, p in teacher.named_parameters():
        if name.endswith("relative_position_bias_table"):
            p.normal_(0, 0.5)
        elif "norm" in name:
            p.uniform_(0.5, 1.5) if name.endswith("weight") else p.uniform_(-0.2, 0.2)
teacher.head = DINOHead(teacher.num_features, 10)
teacher.head_dense = DINOHead(teacher.num_features, 10)
teacher.eval()
x = torch.randn(2, 3, 32, 32)
with torch.no_grad():
    pooled, tokens = teacher.forward_features(x)
state = teacher.state_dict()
print(len(state), "teacher keys, e.g.", [k for k in state if "downsample" in k or "index" in k][:4])
checkpoint = {
    "student": {"module." + k: v.clone() for k, v in state.items()},
    "teacher": state,
    "optimizer": {"state": {}, "param_groups": [{"lr": 0.0005, "weight_decay": 0.04}]},
    "epoch": 3,
    "dino_loss": {"center": torch.zeros(1, 10), "center_grid": torch.zeros(1, 10)},
    "check": {"input": x, "pooled": pooled, "tokens": tokens},
}
torch.save(checkpoint, "Tests/Fixtures/esvit_checkpoint.pth")
print("wrote Tests/Fixtures/esvit_checkpoint.pth", os.path.getsize("Tests/Fixtures/esvit_checkpoint.pth"), "bytes")
