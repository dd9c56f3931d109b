#!/usr/bin/env python3
"""Writes Tests/Fixtures/swin.safetensors: timm's Swin Transformer at random initialisation, small.

Run from the repository root:  /root/venv/bin/python scripts/make_swin_fixtures.py
Needs torch, timm (1.0's layout), safetensors. CI does not run this; it reads the fixture.

Two float64 configs of timm's `SwinTransformer`, each with its weights, an input, the logits,
`forward_features` (NHWC after the final norm) and every parameter's gradient of a cross-entropy:
- "even": 32², patch 2, window 4 — shifted windows with their −100 mask in both stages;
- "padded": 24², patch 2, window 5 — feature maps of 12 and 6 that windows do not divide, so
  the blocks pad, and the second stage's odd merge pads too (6 → 3).
And timm's `swin_tiny_patch4_window7_224` (28 M parameters) with weights and input given by a formula
both sides compute (`formula_weights` below; Tessera's test has the same), so that no 110 MB of
weights need committing: its logits, pooled features and the norm of every parameter's gradient.
"""
import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from timm.models.swin_transformer import SwinTransformer

torch.manual_seed(7)
torch.set_default_dtype(torch.float64)
CONFIGS = {
    "even": dict(img_size=32, patch_size=2, embed_dim=8, depths=(2, 2), num_heads=(2, 4), window_size=4),
    "padded": dict(img_size=24, patch_size=2, embed_dim=4, depths=(2, 2, 2), num_heads=(1, 2, 4), window_size=5),
}
out = {}
for name, config in CONFIGS.items():
    model = SwinTransformer(num_classes=5, drop_path_rate=0.0, **config).double()
    with torch.no_grad():  # non-trivial norms, so their gradients are checked too
        for m in model.modules():
            if isinstance(m, torch.nn.LayerNorm):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
    for k, v in model.state_dict().items():
        out[f"{name}.state.{k}"] = v.clone()
    x = torch.randn(3, 3, config["img_size"], config["img_size"])
    logits = model(x)
    loss = F.cross_entropy(logits, torch.tensor([0, 3, 4]))
    loss.backward()
    out[f"{name}.input"], out[f"{name}.logits"] = x, logits.detach()
    out[f"{name}.features"] = model.forward_features(x).detach()
    out[f"{name}.loss"] = loss.detach().reshape(1)
    for k, p in model.named_parameters():
        out[f"{name}.grad.{k}"] = p.grad.clone()
    print(name, sum(p.numel() for p in model.parameters()), "parameters, loss", loss.item())



def formula_weights(model):
    """Parameter p (in sorted key order), element e: 1 + 0.1·sin(0.7·e + p) for LayerNorm weights,
    0.02·sin(1.3·e + 0.7·p) otherwise; buffers stay as they are."""
    state = model.state_dict()
    for p, key in enumerate(sorted(state)):
        e = torch.arange(state[key].numel(), dtype=torch.float64)
        is_norm = key.endswith("norm.weight") or key.endswith("norm1.weight") or key.endswith("norm2.weight")
        value = 1 + 0.1 * torch.sin(0.7 * e + p) if is_norm else 0.02 * torch.sin(1.3 * e + 0.7 * p)
        state[key] = value.reshape(state[key].shape)
    model.load_state_dict(state)


tiny = SwinTransformer(img_size=224, patch_size=4, embed_dim=96, depths=(2, 2, 6, 2), num_heads=(3, 6, 12, 24),
                       window_size=7, num_classes=1000, drop_path_rate=0.0).double()
formula_weights(tiny)
x = torch.sin(0.001 * torch.arange(2 * 3 * 224 * 224, dtype=torch.float64)).reshape(2, 3, 224, 224)
logits = tiny(x)
loss = F.cross_entropy(logits, torch.tensor([1, 998]))
loss.backward()
out["swin_t.logits"] = logits.detach()
out["swin_t.pooled"] = tiny.forward_features(x).mean((1, 2)).detach()
keys = sorted(k for k, _ in tiny.named_parameters())
grads = dict(tiny.named_parameters())
out["swin_t.grad_norms"] = torch.stack([grads[k].grad.norm() for k in keys])
print("swin_t loss", loss.item(), len(keys), "parameters tensors")

out = {k: v.detach().contiguous() for k, v in out.items()}
save_file(out, "Tests/Fixtures/swin.safetensors", metadata={"generator": "scripts/make_swin_fixtures.py"})
