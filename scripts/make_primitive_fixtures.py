#!/usr/bin/env python3
"""Writes PyTorch's values for the elementwise primitives log1p / expm1 / erf / logaddexp, the
activations composed from them (softplus, logsigmoid, silu, mish) with their gradients, and the
conformance cases of the architecture issue (log-softmax of large inputs, clamp with low > high), and
pooling with ceil_mode, dilation and asymmetric padding (F.pad, then a pool).

Run from the repository root:  python3 scripts/make_primitive_fixtures.py
Needs torch and safetensors. CI does not run this; it reads Tests/Fixtures/primitives.safetensors.
"""
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

torch.manual_seed(2026)
out = {}
# Wide range and values near 0, where exp(x) − 1 and log(1 + x) lose everything.
x = torch.cat([torch.linspace(-30, 30, 601, dtype=torch.float64),
               torch.tensor([-1e-12, -3e-9, 1e-10, 2e-7, 5e-5, -0.5, 0.999], dtype=torch.float64)])
out["x"] = x
out["expm1"], out["erf"] = torch.expm1(x), torch.erf(x)
out["log1p_x"] = x.abs() - 0.999  # log1p needs x > −1
out["log1p"] = torch.log1p(out["log1p_x"])
a = torch.randn(200, dtype=torch.float64) * 30
b = torch.randn(200, dtype=torch.float64) * 30
a[:4] = torch.tensor([1000.0, -1000.0, float("inf"), float("-inf")], dtype=torch.float64)
b[:4] = torch.tensor([999.0, -1001.0, 3.0, float("-inf")], dtype=torch.float64)
out["logaddexp_a"], out["logaddexp_b"], out["logaddexp"] = a, b, torch.logaddexp(a, b)
# Activations and their gradients for a random upstream gradient.
h = torch.randn(300, dtype=torch.float64) * 8
g = torch.randn(300, dtype=torch.float64)
out["act_x"], out["act_g"] = h, g
# PyTorch's softplus returns x above threshold = 20 (off by up to 2e-9 there); Tessera's is exact,
# so the references use a threshold no input reaches (mish likewise, written out).
exact_softplus = lambda v: F.softplus(v, threshold=1000.0)
for name, f in [("softplus", exact_softplus), ("logsigmoid", F.logsigmoid), ("silu", F.silu),
                ("mish", lambda v: v * torch.tanh(exact_softplus(v)))]:
    v = h.clone().requires_grad_(True)
    y = f(v)
    (grad,) = torch.autograd.grad(y, v, g)
    out[name], out[name + "_grad"] = y.detach(), grad
# log-softmax and cross-entropy at the scale of 1e4 (float32 as the conformance case, and float64).
big = torch.tensor([[10000.0, 10001.0, 10002.0, 10003.0]])
out["big_logits32"] = big.float()
out["big_log_softmax32"] = F.log_softmax(big.float(), dim=1)
out["big_log_softmax64"] = F.log_softmax(big.double(), dim=1)
out["big_cross_entropy32"] = F.cross_entropy(big.float(), torch.tensor([3])).reshape(1)
out["clamp_x"] = torch.linspace(-2, 2, 9, dtype=torch.float64)
out["clamp_low3_high1"] = torch.clamp(out["clamp_x"], min=3.0, max=1.0)
# Pooling: ceil_mode keeps a last partial window (6 columns give 4 windows, not 3, at kernel 3, stride 2,
# padding 1); asymmetric padding (top 0, bottom 1, left 1, right 0) as F.pad then a pool.
p = torch.randn(2, 3, 7, 6, dtype=torch.float64)
out["pool_x"] = p
out["pool_max_ceil_k3s2p1"] = F.max_pool2d(p, 3, 2, 1, ceil_mode=True)
out["pool_avg_ceil_k3s2p1"] = F.avg_pool2d(p, 3, 2, 1, ceil_mode=True)
out["pool_avg_ceil_nopad_k3s2p1"] = F.avg_pool2d(p, 3, 2, 1, ceil_mode=True, count_include_pad=False)
out["pool_max_ceil_k2s2"] = F.max_pool2d(p, 2, 2, ceil_mode=True)
out["pool_avg_ceil_k2s2"] = F.avg_pool2d(p, 2, 2, ceil_mode=True)
out["pool_max_asym_k2s2"] = F.max_pool2d(F.pad(p, (1, 0, 0, 1), value=float("-inf")), 2, 2)
out["pool_avg_asym_k2s2"] = F.avg_pool2d(F.pad(p, (1, 0, 0, 1)), 2, 2)
out["pool_max_dilated_k3s2p1d2"] = F.max_pool2d(p, 3, 2, 1, dilation=2)
out["pool_max_dilated_ceil_k2s2d2"] = F.max_pool2d(p, 2, 2, 0, dilation=2, ceil_mode=True)
# Convolution with "SAME" padding: PyTorch's padding="same" (stride 1, an even kernel pads one more
# at the bottom and right) and timm's pad_same then a convolution (stride 2).
from timm.layers import pad_same
cx = torch.randn(2, 3, 7, 6, dtype=torch.float64)
cw, cb = torch.randn(4, 3, 4, 3, dtype=torch.float64), torch.randn(4, dtype=torch.float64)
out["conv_x"], out["conv_w"], out["conv_b"] = cx, cw, cb
out["conv_same_s1"] = F.conv2d(cx, cw, cb, padding="same")
out["conv_same_s2"] = F.conv2d(pad_same(cx, [4, 3], [2, 2]), cw, cb, stride=2)
out = {k: v.contiguous() for k, v in out.items()}
save_file(out, "Tests/Fixtures/primitives.safetensors", metadata={"generator": "scripts/make_primitive_fixtures.py",
                                                                 "torch": torch.__version__})
print(f"wrote {len(out)} tensors")
