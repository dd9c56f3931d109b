#!/usr/bin/env python3
"""Writes a MoCo v3 ViT checkpoint in moco-v3's own layout, its reference outputs, and a
one-layer DINO head, for Zoo's MoCo v3 / checkpoint tests.

Run from the repository root:  python3 scripts/make_moco_fixtures.py
Needs torch, timm (1.x), safetensors. CI does not run this; it reads
Tests/Fixtures/moco_v3_checkpoint.pth, Tests/Fixtures/moco_v3_reference.safetensors and
Tests/Fixtures/dino_head_one_layer.pth.

- moco_v3_checkpoint.pth: what facebookresearch/moco-v3 main_moco.py's save_checkpoint writes,
  {'epoch': 1, 'arch': 'vit_tiny_test', 'state_dict', 'optimizer', 'scaler'}, for MoCo_ViT
  (moco/builder.py) around VisionTransformerMoCo (vits.py), both written out below from those
  files and adapted to timm 1.x (PatchEmbed import, num_prefix_tokens), with the same parameter
  names and init. Tiny config: 32×32 images, patch 8, width 32, depth 2, 2 heads, MLP ratio 2,
  qkv bias, LayerNorm eps 1e-6, stop_grad_conv1; dim 16, mlp_dim 32, T 0.2. The model is wrapped
  in a module with attribute `module`, as DistributedDataParallel would be, so the state-dict keys
  begin with `module.`. Seed 0. Before saving, one training step as main_moco.py's train() takes
  it: forward (momentum update at m = 0.99 before the keys), the symmetric contrastive loss
  (concat_all_gather = identity, rank 0), GradScaler (init scale 2**16, here on the CPU) and AdamW
  (lr 1e-3 held fixed, no warm-up schedule, weight decay 0.1 on every parameter, as moco-v3 has no
  parameter groups), in float32 without autocast. The step batch (x1, x2: 4×3×32×32 standard
  normals) comes from torch.Generator().manual_seed(0). At step 1 the momentum encoder equals the
  base one, so after the step it holds the initial weights and the base encoder the stepped ones;
  both have BatchNorm running statistics from the step.
  moco-v3 detail: MoCo_ViT's predictor is _build_mlp(2, dim, mlp_dim, dim) with last_bn left at its
  default True (only MoCo_ResNet passes False), so the predictor ends in BatchNorm1d(affine=False)
  and has predictor.4.running_mean/var/num_batches_tracked. The projector/predictor Linears keep
  torch's default init (the Xavier loop in VisionTransformerMoCo runs before the head is replaced).
- moco_v3_reference.safetensors, from the SAVED weights (read back with torch.load weights_only):
  x1, x2: a fresh batch from torch.Generator().manual_seed(1) (not the step batch);
  train() mode (BatchNorm batch statistics, each encoder call its own batch):
    base_projection_train = base_encoder(x1) [4,16], prediction_train = predictor(base_encoder(x1)),
    momentum_projection_train = momentum_encoder(x1),
    loss_train = contrastive_loss(q1, k2) + contrastive_loss(q2, k1), q = predictor(base_encoder(x)),
    k = momentum_encoder(x) with the saved momentum weights (no momentum update, nothing changed);
  eval() mode: base_projection_eval, prediction_eval, momentum_projection_eval, and
    base_features_eval = forward_head(forward_features(x1), pre_logits=True) (class token after the
    final norm) [4,32];
  init statistics of a fresh MoCo_ViT (torch.manual_seed(1), no step):
    init_cls_token_std, init_patch_bias_abs_max, init_patch_weight_max_abs, init_patch_weight_bound,
    init_linear_max_abs, init_linear_bound, init_linear_bias_abs_max (1-D, one entry per nn.Linear of
    base_encoder.blocks in named_modules order: blocks.0.attn.qkv, blocks.0.attn.proj,
    blocks.0.mlp.fc1, blocks.0.mlp.fc2, blocks.1.attn.qkv, blocks.1.attn.proj, blocks.1.mlp.fc1,
    blocks.1.mlp.fc2; also in the metadata as "init_linear_names"). The qkv bound is
    sqrt(6 / (out/3 + in)), the others Xavier's sqrt(6 / (out + in)), the patch embedding's
    sqrt(6 / (3·p·p + width));
  dino_head_input [4,48], dino_head_output [4,32]: the DINO head below.
- dino_head_one_layer.pth: the state dict of DINO's DINOHead(in_dim=48, out_dim=32, nlayers=1,
  bottleneck_dim=16) (facebookresearch/dino vision_transformer.py: mlp = Linear(48, 16), L2 norm,
  last_layer = nn.utils.weight_norm(Linear(16, 32, bias=False))) with keys mlp.weight, mlp.bias,
  last_layer.weight_g, last_layer.weight_v. Seed 2; after DINO's init (trunc normal std 0.02, zero
  bias, weight_g = 1) the bias and weight_g are perturbed (bias + 0.1·N(0,1), weight_g ∈ [0.5, 1.5))
  so a loader that drops either would be caught, as in a trained head with norm_last_layer=False.
"""
import json
import math
from functools import partial, reduce
from operator import mul

import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import save_file
from timm.layers import PatchEmbed
from timm.models.vision_transformer import VisionTransformer

from dino_models import DINOHead  # scripts/dino_models.py

CHECKPOINT = "Tests/Fixtures/moco_v3_checkpoint.pth"
REFERENCE = "Tests/Fixtures/moco_v3_reference.safetensors"
DINO_HEAD = "Tests/Fixtures/dino_head_one_layer.pth"
DIM, MLP_DIM, T, MOMENTUM, BATCH = 16, 32, 0.2, 0.99, 4


# ---- moco-v3 vits.py: VisionTransformerMoCo ----------------------------------------------------
class VisionTransformerMoCo(VisionTransformer):
    def __init__(self, stop_grad_conv1=False, **kwargs):
        super().__init__(**kwargs)
        self.build_2d_sincos_position_embedding()
        for name, m in self.named_modules():
            if isinstance(m, nn.Linear):
                if "qkv" in name:  # Q, K and V treated as three separate matrices
                    val = math.sqrt(6.0 / float(m.weight.shape[0] // 3 + m.weight.shape[1]))
                    nn.init.uniform_(m.weight, -val, val)
                else:
                    nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)
        nn.init.normal_(self.cls_token, std=1e-6)
        if isinstance(self.patch_embed, PatchEmbed):
            val = math.sqrt(6.0 / float(3 * reduce(mul, self.patch_embed.patch_size, 1) + self.embed_dim))
            nn.init.uniform_(self.patch_embed.proj.weight, -val, val)
            nn.init.zeros_(self.patch_embed.proj.bias)
            if stop_grad_conv1:
                self.patch_embed.proj.weight.requires_grad = False
                self.patch_embed.proj.bias.requires_grad = False

    def build_2d_sincos_position_embedding(self, temperature=10000.0):
        h, w = self.patch_embed.grid_size
        grid_w = torch.arange(w, dtype=torch.float32)
        grid_h = torch.arange(h, dtype=torch.float32)
        grid_w, grid_h = torch.meshgrid(grid_w, grid_h, indexing="ij")  # torch's old default
        pos_dim = self.embed_dim // 4
        omega = 1.0 / (temperature ** (torch.arange(pos_dim, dtype=torch.float32) / pos_dim))
        out_w = torch.einsum("m,d->md", [grid_w.flatten(), omega])
        out_h = torch.einsum("m,d->md", [grid_h.flatten(), omega])
        pos_emb = torch.cat([torch.sin(out_w), torch.cos(out_w), torch.sin(out_h), torch.cos(out_h)], dim=1)[None, :, :]
        assert self.num_prefix_tokens == 1  # timm 0.4.9: self.num_tokens
        pe_token = torch.zeros([1, 1, self.embed_dim], dtype=torch.float32)
        self.pos_embed = nn.Parameter(torch.cat([pe_token, pos_emb], dim=1))
        self.pos_embed.requires_grad = False


def vit_tiny_test(**kwargs):  # as vits.py's vit_small, smaller
    return VisionTransformerMoCo(img_size=32, patch_size=8, embed_dim=32, depth=2, num_heads=2, mlp_ratio=2,
                                 qkv_bias=True, norm_layer=partial(nn.LayerNorm, eps=1e-6), **kwargs)


# ---- moco-v3 moco/builder.py: MoCo, MoCo_ViT -------------------------------------------------
class MoCoViT(nn.Module):
    def __init__(self, base_encoder, dim=256, mlp_dim=4096, T=1.0):
        super().__init__()
        self.T = T
        self.base_encoder = base_encoder(num_classes=mlp_dim)
        self.momentum_encoder = base_encoder(num_classes=mlp_dim)
        # MoCo_ViT._build_projector_and_predictor_mlps
        hidden_dim = self.base_encoder.head.weight.shape[1]
        del self.base_encoder.head, self.momentum_encoder.head
        self.base_encoder.head = self._build_mlp(3, hidden_dim, mlp_dim, dim)
        self.momentum_encoder.head = self._build_mlp(3, hidden_dim, mlp_dim, dim)
        self.predictor = self._build_mlp(2, dim, mlp_dim, dim)  # last_bn stays True for the ViT
        for param_b, param_m in zip(self.base_encoder.parameters(), self.momentum_encoder.parameters()):
            param_m.data.copy_(param_b.data)
            param_m.requires_grad = False

    @staticmethod
    def _build_mlp(num_layers, input_dim, mlp_dim, output_dim, last_bn=True):
        mlp = []
        for l in range(num_layers):
            dim1 = input_dim if l == 0 else mlp_dim
            dim2 = output_dim if l == num_layers - 1 else mlp_dim
            mlp.append(nn.Linear(dim1, dim2, bias=False))
            if l < num_layers - 1:
                mlp.append(nn.BatchNorm1d(dim2))
                mlp.append(nn.ReLU(inplace=True))
            elif last_bn:
                mlp.append(nn.BatchNorm1d(dim2, affine=False))
        return nn.Sequential(*mlp)

    @torch.no_grad()
    def _update_momentum_encoder(self, m):
        for param_b, param_m in zip(self.base_encoder.parameters(), self.momentum_encoder.parameters()):
            param_m.data = param_m.data * m + param_b.data * (1.0 - m)

    def contrastive_loss(self, q, k):
        q = F.normalize(q, dim=1)
        k = F.normalize(k, dim=1)  # concat_all_gather(k) is k for one process
        logits = torch.einsum("nc,mc->nm", [q, k]) / self.T
        N = logits.shape[0]
        labels = torch.arange(N, dtype=torch.long) + N * 0  # torch.distributed.get_rank() == 0
        return nn.CrossEntropyLoss()(logits, labels) * (2 * self.T)

    def forward(self, x1, x2, m):
        q1 = self.predictor(self.base_encoder(x1))
        q2 = self.predictor(self.base_encoder(x2))
        with torch.no_grad():
            self._update_momentum_encoder(m)
            k1 = self.momentum_encoder(x1)
            k2 = self.momentum_encoder(x2)
        return self.contrastive_loss(q1, k2) + self.contrastive_loss(q2, k1)


class DDPLike(nn.Module):
    """Stands in for DistributedDataParallel: the model under `module`, so keys start `module.`."""

    def __init__(self, module):
        super().__init__()
        self.module = module

    def forward(self, *args):
        return self.module(*args)


def build_moco():
    return MoCoViT(partial(vit_tiny_test, stop_grad_conv1=True), DIM, MLP_DIM, T)


def batch(seed):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(BATCH, 3, 32, 32, generator=g), torch.randn(BATCH, 3, 32, 32, generator=g)


# ---- checkpoint: one step, then save_checkpoint's dict ---------------------------------------
torch.manual_seed(0)
model = DDPLike(build_moco())
optimizer = torch.optim.AdamW(model.parameters(), 1e-3, weight_decay=0.1)
scaler = torch.amp.GradScaler("cpu")  # main_moco.py: torch.cuda.amp.GradScaler()
model.train()
sx1, sx2 = batch(0)
loss = model(sx1, sx2, MOMENTUM)
optimizer.zero_grad()
scaler.scale(loss).backward()
scaler.step(optimizer)
scaler.update()
print(f"step loss {loss.item():.6f}")
torch.save({
    "epoch": 1,
    "arch": "vit_tiny_test",
    "state_dict": model.state_dict(),
    "optimizer": optimizer.state_dict(),
    "scaler": scaler.state_dict(),
}, CHECKPOINT)

# ---- reference outputs from the saved weights ------------------------------------------------
ckpt = torch.load(CHECKPOINT, weights_only=True)
state = {k[len("module."):]: v for k, v in ckpt["state_dict"].items()}
assert all(k.startswith("module.") for k in ckpt["state_dict"])


def loaded():
    m = build_moco()
    m.load_state_dict(state, strict=True)
    return m


out = {}
x1, x2 = batch(1)
out["x1"], out["x2"] = x1, x2
with torch.no_grad():
    m = loaded().train()
    out["base_projection_train"] = m.base_encoder(x1)
    out["prediction_train"] = m.predictor(m.base_encoder(x1))
    out["momentum_projection_train"] = m.momentum_encoder(x1)
    m = loaded().train()  # fresh copy: the calls above moved the running statistics
    q1, q2 = m.predictor(m.base_encoder(x1)), m.predictor(m.base_encoder(x2))
    k1, k2 = m.momentum_encoder(x1), m.momentum_encoder(x2)
    out["loss_train"] = m.contrastive_loss(q1, k2) + m.contrastive_loss(q2, k1)
    m = loaded().eval()
    out["base_projection_eval"] = m.base_encoder(x1)
    out["prediction_eval"] = m.predictor(m.base_encoder(x1))
    out["momentum_projection_eval"] = m.momentum_encoder(x1)
    out["base_features_eval"] = m.base_encoder.forward_head(m.base_encoder.forward_features(x1), pre_logits=True)
    assert torch.allclose(m.base_encoder.head(out["base_features_eval"]), out["base_projection_eval"])

# ---- init statistics of a fresh model --------------------------------------------------------
torch.manual_seed(1)
fresh = build_moco().base_encoder
names, max_abs, bounds, bias_max = [], [], [], []
for name, mod in fresh.blocks.named_modules():
    if isinstance(mod, nn.Linear):
        fan_out, fan_in = mod.weight.shape
        names.append(f"blocks.{name}")
        max_abs.append(mod.weight.abs().max().item())
        bounds.append(math.sqrt(6.0 / ((fan_out // 3 if "qkv" in name else fan_out) + fan_in)))
        bias_max.append(mod.bias.abs().max().item())
pw = fresh.patch_embed.proj.weight
out["init_cls_token_std"] = fresh.cls_token.std()
out["init_patch_bias_abs_max"] = fresh.patch_embed.proj.bias.abs().max()
out["init_patch_weight_max_abs"] = pw.abs().max()
out["init_patch_weight_bound"] = torch.tensor(math.sqrt(6.0 / (pw[0].numel() + pw.shape[0])))
out["init_linear_max_abs"] = torch.tensor(max_abs)
out["init_linear_bound"] = torch.tensor(bounds)
out["init_linear_bias_abs_max"] = torch.tensor(bias_max)


# ---- DINO head, one layer (facebookresearch/dino vision_transformer.py DINOHead) -------------
torch.manual_seed(2)
head = DINOHead(48, 32, nlayers=1, bottleneck_dim=16)  # scripts/dino_models.py
with torch.no_grad():
    head.mlp.bias.add_(torch.randn(16) * 0.1)
    head.last_layer.weight_g.copy_(torch.rand(32, 1) + 0.5)
head_state = head.state_dict()
if "last_layer.parametrizations.weight.original0" in head_state:  # torch's parametrized weight_norm
    head_state = {"mlp.weight": head_state["mlp.weight"], "mlp.bias": head_state["mlp.bias"],
                  "last_layer.weight_g": head_state["last_layer.parametrizations.weight.original0"],
                  "last_layer.weight_v": head_state["last_layer.parametrizations.weight.original1"]}
assert list(head_state) == ["mlp.weight", "mlp.bias", "last_layer.weight_g", "last_layer.weight_v"]
torch.save(head_state, DINO_HEAD)
hx = torch.randn(4, 48)
with torch.no_grad():
    out["dino_head_input"], out["dino_head_output"] = hx, head(hx)
    g, v = head_state["last_layer.weight_g"], head_state["last_layer.weight_v"]
    manual = (F.normalize(hx @ head_state["mlp.weight"].t() + head_state["mlp.bias"], dim=-1)
              @ (g * v / v.norm(dim=1, keepdim=True)).t())
    assert torch.allclose(manual, out["dino_head_output"], atol=1e-6)

save_file({k: v.detach().float().contiguous() for k, v in out.items()}, REFERENCE, metadata={
    "init_linear_names": json.dumps(names),
    "config": json.dumps({"img_size": 32, "patch_size": 8, "embed_dim": 32, "depth": 2, "num_heads": 2,
                          "mlp_ratio": 2, "dim": DIM, "mlp_dim": MLP_DIM, "T": T, "momentum": MOMENTUM,
                          "ln_eps": 1e-6, "bn_eps": 1e-5}),
    "batches": "x1, x2 from torch.Generator().manual_seed(1); the step used manual_seed(0)",
})

# ---- read back -------------------------------------------------------------------------------
ckpt = torch.load(CHECKPOINT, weights_only=True)
assert torch.load(DINO_HEAD, weights_only=True).keys() == head_state.keys()
sd = ckpt["state_dict"]
print({k: ckpt[k] for k in ("epoch", "arch", "scaler")})
print("optimizer state for", len(ckpt["optimizer"]["state"]), "of",
      len(ckpt["optimizer"]["param_groups"][0]["params"]), "parameters")
base = {k: v for k, v in sd.items() if k.startswith("module.base_encoder.") and v.is_floating_point()}
differs = [k for k in base if not torch.equal(v := base[k], sd[k.replace("base_encoder", "momentum_encoder")])]
print(len(differs), "of", len(base), "base-encoder tensors differ from the momentum encoder's")
for k, v in sd.items():
    print(f"  {k} {list(v.shape)}")
for k, v in out.items():
    print(f"  {k} {list(v.shape)} {v.flatten()[:3].tolist() if v.numel() > 1 else v.item()}")
print(names, bounds)
