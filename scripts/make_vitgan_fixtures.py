"""Writes Tests/Fixtures/vitgan.safetensors: ViTGAN's parts computed by PyTorch in float64 — spectral
normalisation (torch.nn.utils.spectral_norm, two training steps of power iteration, and ViTGAN's improved
form scaled by the initial weight's σ), L2-distance attention (the paper's tied form through torch.cdist,
and the official code's formula), self-modulated LayerNorm (both forms), the overlapping patch embedding,
and the mapping network (StyleGAN2's EqualLinear, fused leaky ReLU, PixelNorm): outputs, and gradients of
a fixed projection of each output in the input and every parameter. Names are Tessera's state-dict keys.

Run: /root/venv/bin/python scripts/make_vitgan_fixtures.py
"""
import math

import torch
import torch.nn.functional as F
from safetensors.torch import save_file

torch.manual_seed(0)
dt = torch.float64
out = {}


def record(prefix, x, params, y, extra=None):
    """Stores the input, parameters, output, and ∂(y·r)/∂(x, params) for a random r."""
    r = torch.randn(y.shape, dtype=dt)
    leaves = [x] + list(params.values())
    grads = torch.autograd.grad((y * r).sum(), leaves)
    out[prefix + ".input"] = x.detach()
    out[prefix + ".output"] = y.detach()
    out[prefix + ".projection"] = r
    out[prefix + ".grad.input"] = grads[0]
    for (name, p), g in zip(params.items(), grads[1:]):
        out[prefix + "." + name] = p.detach()
        out[prefix + ".grad." + name] = g
    for name, t in (extra or {}).items():
        out[prefix + "." + name] = t.detach()


def leaf(*shape, scale=1.0):
    return (torch.randn(*shape, dtype=dt) * scale).requires_grad_(True)


# Spectral norm: state before, two training forwards, u and v after, gradient of the second output.
linear = torch.nn.utils.spectral_norm(torch.nn.Linear(6, 4).double())
before = {k: v.clone() for k, v in linear.state_dict().items()}
sigma0 = torch.linalg.svdvals(before["weight_orig"])[0]
x = leaf(3, 6)
linear(x)
y = linear(x)
for k, v in before.items():
    out["spectral.before." + k] = v
out["spectral.initial_sigma"] = sigma0.reshape(1)
out["spectral.weight_u"] = linear.weight_u.detach().clone()
out["spectral.weight_v"] = linear.weight_v.detach().clone()
record("spectral", x, {"weight_orig": linear.weight_orig, "bias": linear.bias}, y)
out["spectral.improved_output"] = F.linear(x, linear.weight * sigma0, linear.bias).detach()

# L2 attention, dim 8, 2 heads, 5 tokens.
b, n, c, h = 2, 5, 8, 2
d = c // h


def heads(t, parts):
    return t.reshape(b, n, parts, h, d).permute(2, 0, 3, 1, 4)


x = leaf(b, n, c)
p = {"qv.weight": leaf(2 * c, c, scale=0.4), "proj.weight": leaf(c, c, scale=0.4), "proj.bias": leaf(c, scale=0.1)}
qv = heads(F.linear(x, p["qv.weight"]), 2)
q, v = qv[0], qv[1]
scores = -torch.cdist(q, q) ** 2 / math.sqrt(d)
y = F.linear((scores.softmax(-1) @ v).permute(0, 2, 1, 3).reshape(b, n, c), p["proj.weight"], p["proj.bias"])
record("l2_paper", x, p, y)

x = leaf(b, n, c)
p = {"qkv.weight": leaf(3 * c, c, scale=0.4), "proj.weight": leaf(c, c, scale=0.4), "proj.bias": leaf(c, scale=0.1),
     "temperature": torch.tensor([0.7], dtype=dt, requires_grad=True)}
qkv = heads(F.linear(x, p["qkv.weight"]), 3)
q, k, v = qkv[0], qkv[1], qkv[2]
aa = torch.mean(q * q, -1, keepdim=True)  # the official code, verbatim in substance
dots = (aa - 2 * torch.matmul(q, k.transpose(-1, -2)) + aa.transpose(-1, -2)) * d ** -0.5 * p["temperature"]
y = F.linear((dots.softmax(-1) @ v).permute(0, 2, 1, 3).reshape(b, n, c), p["proj.weight"], p["proj.bias"])
record("l2_official", x, p, y)

# Self-modulated LayerNorm, tokens [2, 5, 8], latent [2, 6].
for variant, eps in (("paper", 1e-5), ("official", 1e-3)):
    x = leaf(b, n, c)
    w = torch.randn(b, 6, dtype=dt)
    p = {"gamma.weight": leaf(c, 6, scale=0.4), "gamma.bias": leaf(c, scale=0.1),
         "beta.weight": leaf(c, 6, scale=0.4), "beta.bias": leaf(c, scale=0.1)}
    gamma = F.linear(w, p["gamma.weight"], p["gamma.bias"]).unsqueeze(1)
    beta = F.linear(w, p["beta.weight"], p["beta.bias"]).unsqueeze(1)
    normalised = F.layer_norm(x, (c,), eps=eps)
    y = normalised * (gamma if variant == "paper" else 1 + gamma) + beta
    record("sln_" + variant, x, p, y, {"latent": w})

# Overlapping patch embedding: patch 4, overlap 1 (kernel 6, stride 4, padding 1) on 2 × 3 × 8 × 8.
x = leaf(2, 3, 8, 8)
p = {"proj.weight": leaf(c, 3, 6, 6, scale=0.2), "proj.bias": leaf(c, scale=0.1)}
y = F.conv2d(x, p["proj.weight"], p["proj.bias"], stride=4, padding=1).flatten(2).transpose(1, 2)
record("patch_embedding", x, p, y)

# Mapping network: PixelNorm, then 2 × (EqualLinear(lr_mul 0.01), fused leaky ReLU).
x = leaf(3, 6)
p = {"layers.0.weight": leaf(8, 6, scale=100.0), "layers.0.bias": leaf(8, scale=10.0),
     "layers.1.weight": leaf(8, 8, scale=100.0), "layers.1.bias": leaf(8, scale=10.0)}
hidden = x * torch.rsqrt(torch.mean(x ** 2, dim=1, keepdim=True) + 1e-8)
for i, fan_in in ((0, 6), (1, 8)):
    scaled = F.linear(hidden, p[f"layers.{i}.weight"] * (0.01 / math.sqrt(fan_in)))
    hidden = F.leaky_relu(scaled + p[f"layers.{i}.bias"] * 0.01, 0.2) * math.sqrt(2)
record("mapping", x, p, hidden)

save_file({k: v.contiguous() for k, v in out.items()}, "Tests/Fixtures/vitgan.safetensors",
          metadata={"generator": "scripts/make_vitgan_fixtures.py"})
print(len(out), "tensors")
