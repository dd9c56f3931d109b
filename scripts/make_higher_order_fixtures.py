"""Writes Tests/Fixtures/r1_penalty.safetensors: ViTGAN's R1 penalty on a small conv + attention
discriminator, its value and its gradients in every parameter, by PyTorch (create_graph=True).

Run: /root/venv/bin/python scripts/make_higher_order_fixtures.py
"""
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

torch.manual_seed(0)
dt = torch.float64
params = {
    "conv.weight": torch.randn(8, 3, 3, 3, dtype=dt) * 0.3,
    "conv.bias": torch.randn(8, dtype=dt) * 0.1,
    "norm.weight": 1 + 0.1 * torch.randn(8, dtype=dt),
    "norm.bias": 0.1 * torch.randn(8, dtype=dt),
    "qkv.weight": torch.randn(24, 8, dtype=dt) * 0.3,
    "qkv.bias": torch.randn(24, dtype=dt) * 0.1,
    "head.weight": torch.randn(1, 8, dtype=dt) * 0.3,
    "head.bias": torch.randn(1, dtype=dt) * 0.1,
}
for p in params.values():
    p.requires_grad_(True)
x = torch.randn(2, 3, 8, 8, dtype=dt, requires_grad=True)
gamma = 10.0


def discriminator(x):
    p = params
    h = F.gelu(F.conv2d(x, p["conv.weight"], p["conv.bias"], stride=2, padding=1))  # [2, 8, 4, 4]
    t = F.layer_norm(h.flatten(2).transpose(1, 2), (8,), p["norm.weight"], p["norm.bias"])  # [2, 16, 8]
    qkv = F.linear(t, p["qkv.weight"], p["qkv.bias"]).reshape(2, 16, 3, 2, 4).permute(2, 0, 3, 1, 4)
    # Attention written out: PyTorch's fused CPU kernel has no double backward.
    q, k, v = qkv[0], qkv[1], qkv[2]
    a = (torch.softmax(q @ k.transpose(-2, -1) / 2.0, dim=-1) @ v).transpose(1, 2).reshape(2, 16, 8)
    return F.linear((t + a).mean(1), p["head.weight"], p["head.bias"])  # [2, 1]


logits = discriminator(x)
(grad_x,) = torch.autograd.grad(logits.sum(), x, create_graph=True)
r1 = gamma / 2 * grad_x.pow(2).flatten(1).sum(1).mean()
r1.backward()
out = {"x": x.detach(), "logits": logits.detach(), "grad_x": grad_x.detach(), "r1": r1.detach().reshape(1),
       "grad_wrt_x": x.grad}
for name, p in params.items():
    out[name] = p.detach()
    out["grad." + name] = p.grad if p.grad is not None else torch.zeros_like(p)  # R1 does not reach the head bias
save_file({k: v.contiguous() for k, v in out.items()}, "Tests/Fixtures/r1_penalty.safetensors",
          metadata={"generator": "scripts/make_higher_order_fixtures.py", "gamma": str(gamma)})
print({k: tuple(v.shape) for k, v in out.items()}, float(r1))
