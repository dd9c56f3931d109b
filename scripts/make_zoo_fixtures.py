#!/usr/bin/env python3
"""Writes the timm/torchvision reference values the Zoo tests compare against.

Run from the repository root:  python3 scripts/make_zoo_fixtures.py
Needs torch, torchvision, timm, safetensors. CI does not run this; it reads
Tests/Fixtures/zoo.safetensors and Tests/Fixtures/*.pth.

- A small timm VisionTransformer (random init) with its state dict, logits, features, last
  attention and outputs at another input size (timm's position-embedding resampling) and with
  DINO's interpolate_pos_encoding (written here from the DINO repository's formula).
- A small ResNet built from torchvision's own BasicBlock/Bottleneck classes in torchvision's
  layout (width 8 instead of 64 to keep the fixture small), and the key names and shapes of the
  full-size torchvision ResNet-50, timm ViT-S/16 and a DINO head.
- A DINO head and DINO loss step, MoCo v3's sin-cos embedding and contrastive loss.
- `.pth` files written by torch.save for the checkpoint reader (state dict, nested DINO-style
  checkpoint), and a legacy (non-zip) file.
"""
import argparse
import json
import math

import timm
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
from safetensors.torch import save_file
from timm.models.vision_transformer import VisionTransformer

from dino_models import DINOHead  # scripts/dino_models.py: DINO's own head definition
from torchvision.models.resnet import BasicBlock, Bottleneck

torch.manual_seed(7)
out, meta = {}, {}


def put(prefix, tensors):
    for k, v in tensors.items():
        out[f"{prefix}.{k}"] = v.detach().float().contiguous()


# ---- ViT ------------------------------------------------------------------------------------
vit = VisionTransformer(img_size=32, patch_size=8, embed_dim=48, depth=2, num_heads=3, num_classes=5,
                        qkv_bias=True, dynamic_img_size=True).eval()
with torch.no_grad():
    for p in vit.parameters():  # non-trivial norms and biases
        p.add_(torch.randn_like(p) * 0.02)
put("vit.state", vit.state_dict())
x = torch.randn(2, 3, 32, 32)
x2 = torch.randn(2, 3, 48, 40)
captured = {}


def keep_attention(module, inputs, output):
    (h,) = inputs
    B, N, C = h.shape
    q, k, _ = module.qkv(h).reshape(B, N, 3, module.num_heads, C // module.num_heads).permute(2, 0, 3, 1, 4)
    captured["attn"] = ((q * module.scale) @ k.transpose(-2, -1)).softmax(-1)


vit.blocks[-1].attn.register_forward_hook(keep_attention)
with torch.no_grad():
    put("vit", {"x": x, "logits": vit(x), "features": vit.forward_features(x)})
    put("vit", {"last_attention": captured["attn"]})
    put("vit", {"x2": x2, "features_x2": vit.forward_features(x2)})

    # DINO's interpolate_pos_encoding for the 48 × 40 input (patch 8 → 6 × 5 grid from 4 × 4).
    def dino_interpolate(pos_embed, w, h, patch):
        n = pos_embed.shape[1] - 1
        cls, grid = pos_embed[:, :1], pos_embed[:, 1:]
        dim = pos_embed.shape[-1]
        w0, h0 = w // patch + 0.1, h // patch + 0.1
        side = int(math.sqrt(n))
        grid = F.interpolate(grid.reshape(1, side, side, dim).permute(0, 3, 1, 2),
                             scale_factor=(w0 / side, h0 / side), mode="bicubic")
        return torch.cat([cls, grid.permute(0, 2, 3, 1).view(1, -1, dim)], dim=1)

    # DINO unpacks `B, nc, w, h = x.shape`, so its "w" is the row count (48) and "h" the column count.
    put("vit", {"dino_pos_x2": dino_interpolate(vit.pos_embed, 48, 40, 8)})

# Gradients of every parameter for a label-smoothed cross-entropy (the supervised recipe's loss).
vit.zero_grad()
F.cross_entropy(vit(x), torch.tensor([1, 3]), label_smoothing=0.1).backward()
put("vit.grad", {name: p.grad for name, p in vit.named_parameters()})

meta["vit_s16.keys"] = {k: list(v.shape)
                        for k, v in timm.create_model("vit_small_patch16_224", pretrained=False).state_dict().items()}


# ---- ResNet ---------------------------------------------------------------------------------
class SmallResNet(nn.Module):
    """torchvision's ResNet layout (stem, four stages of torchvision's blocks, fc) at width 8."""

    def __init__(self, block, layers, width=8, num_classes=5):
        super().__init__()
        self.inplanes = width
        self.conv1 = nn.Conv2d(3, width, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.layer1 = self._make_layer(block, width, layers[0])
        self.layer2 = self._make_layer(block, width * 2, layers[1], 2)
        self.layer3 = self._make_layer(block, width * 4, layers[2], 2)
        self.layer4 = self._make_layer(block, width * 8, layers[3], 2)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(width * 8 * block.expansion, num_classes)

    def _make_layer(self, block, planes, blocks, stride=1):
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(nn.Conv2d(self.inplanes, planes * block.expansion, 1, stride, bias=False),
                                       nn.BatchNorm2d(planes * block.expansion))
        layers = [block(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * block.expansion
        layers += [block(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


for name, block, layers in [("resnet_bottleneck", Bottleneck, [2, 1, 2, 1]),
                            ("resnet_basic", BasicBlock, [1, 2, 1, 1])]:
    net = SmallResNet(block, layers)
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.3, 0.3)
            m.running_var.uniform_(0.5, 1.5)
            with torch.no_grad():
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
    net.eval()
    x = torch.randn(2, 3, 64, 48)
    put(f"{name}.state", net.state_dict())
    with torch.no_grad():
        put(name, {"x": x, "logits": net(x)})
meta["resnet50.keys"] = {k: list(v.shape) for k, v in torchvision.models.resnet50().state_dict().items()}


# ---- DINO head and loss ---------------------------------------------------------------------
head = DINOHead(48, 40, hidden_dim=32, bottleneck_dim=16)
put("dino_head.state", head.state_dict())
meta["dino_head.keys"] = {k: list(v.shape) for k, v in DINOHead(384, 65536).state_dict().items()}
feats = torch.randn(10, 48)
with torch.no_grad():
    put("dino_head", {"x": feats, "y": head(feats)})

# DINO loss: 4 crops (2 global + 2 local) of batch 3, 40 prototypes, epoch 1 of a 3-epoch warm-up.
student, teacher = torch.randn(12, 40), torch.randn(6, 40)
center = torch.zeros(1, 40)
temps = torch.cat([torch.linspace(0.04, 0.07, 3), torch.ones(7) * 0.07])
s_out = (student / 0.1).chunk(4)
t_out = F.softmax((teacher - center) / temps[1], dim=-1).chunk(2)
total, n_terms = 0, 0
for iq, q in enumerate(t_out):
    for v in range(4):
        if v == iq:
            continue
        total += torch.sum(-q * F.log_softmax(s_out[v], dim=-1), dim=-1).mean()
        n_terms += 1
new_center = center * 0.9 + teacher.sum(0, keepdim=True) / len(teacher) * 0.1
put("dino_loss", {"student": student, "teacher": teacher, "loss": total / n_terms, "center": new_center})


# ---- MoCo v3 --------------------------------------------------------------------------------
def sincos(grid, dim, temperature=10000.0):
    gw, gh = torch.meshgrid(torch.arange(grid, dtype=torch.float32),
                            torch.arange(grid, dtype=torch.float32), indexing="ij")
    omega = 1.0 / (temperature ** (torch.arange(dim // 4, dtype=torch.float32) / (dim // 4)))
    ow, oh = torch.einsum("m,d->md", gw.flatten(), omega), torch.einsum("m,d->md", gh.flatten(), omega)
    pe = torch.cat([torch.sin(ow), torch.cos(ow), torch.sin(oh), torch.cos(oh)], dim=1)[None]
    return torch.cat([torch.zeros(1, 1, dim), pe], dim=1)


put("moco", {"sincos_4_16": sincos(4, 16)})
q, k = torch.randn(6, 8), torch.randn(6, 8)
qn, kn = F.normalize(q, dim=1), F.normalize(k, dim=1)
put("moco", {"q": q, "k": k, "loss": F.cross_entropy(qn @ kn.t() / 0.2, torch.arange(6)) * 0.4})

save_file(out, "Tests/Fixtures/zoo.safetensors", metadata={"meta": json.dumps(meta)})

# ---- .pth files for the checkpoint reader ---------------------------------------------------
small = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Linear(4, 2))
small[1].num_batches_tracked.fill_(5)
state = small.state_dict()
state["extra.half"] = torch.randn(3, 2).half()
state["extra.bf16"] = torch.randn(2, 2).bfloat16()
state["extra.int64"] = torch.arange(5)
state["extra.bool"] = torch.tensor([True, False, True])
state["extra.view"] = torch.arange(12.0).reshape(3, 4)[:, 1::2]  # a strided view into a larger storage
torch.save(state, "Tests/Fixtures/state_dict.pth")
save_file({k: v.contiguous() for k, v in state.items()}, "Tests/Fixtures/state_dict_reference.safetensors")
ns = argparse.Namespace(arch="vit_small", patch_size=16, lr=0.0005)
torch.save({"student": {"module.backbone." + k: v for k, v in state.items() if not k.startswith("extra")},
            "teacher": {"backbone." + k: v for k, v in state.items() if not k.startswith("extra")},
            "epoch": 3, "args": ns, "dino_loss": {"center": torch.zeros(1, 4)}, "fp16_scaler": None,
            "optimizer": {"state": {}, "param_groups": [{"lr": 0.1, "params": [0, 1]}]}},
           "Tests/Fixtures/dino_checkpoint.pth")
torch.save({"weight": torch.ones(2)}, "Tests/Fixtures/legacy.pth", _use_new_zipfile_serialization=False)
print(f"wrote {len(out)} tensors and 3 .pth files")
