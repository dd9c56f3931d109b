#!/usr/bin/env python3
"""Writes the NumPy/SciPy reference values the Tensor tests compare against.

Run from the repository root:  python3 scripts/make_fixtures.py
Needs numpy, scipy and safetensors (pip install numpy scipy safetensors). CI does not run
this; it reads the committed files in Tests/Fixtures.
"""
import json
import numpy as np
from scipy.special import erf
from safetensors.numpy import save_file

rng = np.random.default_rng(2026)
f64 = lambda *shape: rng.standard_normal(shape)
out = {}

# Elementwise, including broadcasting of [3, 1, 4] with [5, 1].
a, b = f64(3, 1, 4), f64(5, 1)
out["bcast.a"], out["bcast.b"] = a, b
out["bcast.add"], out["bcast.mul"], out["bcast.sub"] = a + b, a * b, a - b
out["bcast.div"] = a / (np.abs(b) + 0.5)
out["bcast.max"] = np.maximum(a, b)
x = np.linspace(-9, 9, 2001)
out["unary.x"] = x
out["unary.exp"], out["unary.tanh"] = np.exp(x), np.tanh(x)
out["unary.sigmoid"] = 1 / (1 + np.exp(-x))
out["unary.gelu"] = 0.5 * x * (1 + erf(x / np.sqrt(2)))
out["unary.gelu_tanh"] = 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)))
out["unary.log_abs"] = np.log(np.abs(x) + 1e-3)

# Reductions over several axes.
r = f64(4, 5, 6)
out["reduce.x"] = r
out["reduce.sum_0_2"] = r.sum(axis=(0, 2))
out["reduce.mean_1"] = r.mean(axis=1)
out["reduce.var_2"] = r.var(axis=2, ddof=1)
out["reduce.std_0_1"] = r.std(axis=(0, 1), ddof=0)
out["reduce.max_1"] = r.max(axis=1)
out["reduce.argmax_2"] = r.argmax(axis=2).astype(np.int64)
m = r.max(axis=(0, 2), keepdims=True)
out["reduce.logsumexp_0_2"] = (np.log(np.exp(r - m).sum(axis=(0, 2), keepdims=True)) + m).squeeze((0, 2))
out["reduce.norm_2"] = np.sqrt((r ** 2).sum(axis=2))

# Softmax along a middle axis and the last axis.
out["softmax.x"] = r
e = np.exp(r - r.max(axis=1, keepdims=True))
out["softmax.axis1"] = e / e.sum(axis=1, keepdims=True)
out["logsoftmax.axis2"] = r - r.max(axis=2, keepdims=True) - np.log(
    np.exp(r - r.max(axis=2, keepdims=True)).sum(axis=2, keepdims=True))

# Batched matmul with broadcast batch axes.
ma, mb = f64(2, 1, 3, 4), f64(3, 4, 5)
out["matmul.a"], out["matmul.b"], out["matmul.ab"] = ma, mb, ma @ mb

# Linear algebra.
spd = f64(5, 5)
spd = spd @ spd.T + 5 * np.eye(5)
rhs = f64(5, 2)
out["linalg.spd"], out["linalg.rhs"] = spd, rhs
out["linalg.solve"] = np.linalg.solve(spd, rhs)
out["linalg.cholesky"] = np.linalg.cholesky(spd)
out["linalg.eigvalsh"] = np.linalg.eigvalsh(spd)
g = f64(6, 4)
out["linalg.general"] = g
out["linalg.singular_values"] = np.linalg.svd(g, compute_uv=False)

# Gather / scatter-add.
src = f64(3, 4)
idx = rng.integers(0, 4, size=(3, 2)).astype(np.int64)
out["gather.x"], out["gather.index"] = src, idx
out["gather.axis1"] = np.take_along_axis(src, idx, axis=1)
acc = np.zeros((3, 4))
vals = f64(3, 2)
np.add.at(acc, (np.arange(3)[:, None].repeat(2, 1), idx), vals)
out["scatter.src"], out["scatter.axis1"] = vals, acc

# Every dtype the reader must understand, in both byte orders of concern (all little-endian).
out["dtype.f32"] = np.arange(6, dtype=np.float32).reshape(2, 3) / 4
out["dtype.i32"] = np.array([-2, 0, 7], dtype=np.int32)
out["dtype.i64"] = np.array([[1 << 40, -5]], dtype=np.int64)
out["dtype.bool"] = np.array([True, False, True])
out["dtype.f16"] = np.array([0.5, -1.25, 65504], dtype=np.float16)

out = {k: np.ascontiguousarray(v) for k, v in out.items()}
save_file(out, "Tests/Fixtures/tensor_ops.safetensors", metadata={"generator": "scripts/make_fixtures.py"})

# bfloat16 is not a NumPy dtype: write that file by hand (header + raw little-endian bytes).
bf16 = (np.array([1.0, -2.5, 3.140625], dtype=np.float32).view(np.uint32) >> 16).astype("<u2")
header = json.dumps({"x": {"dtype": "BF16", "shape": [3], "data_offsets": [0, 6]}}).encode()
header += b" " * (-len(header) % 8)
with open("Tests/Fixtures/bf16.safetensors", "wb") as f:
    f.write(len(header).to_bytes(8, "little") + header + bf16.tobytes())
print("wrote Tests/Fixtures/tensor_ops.safetensors and bf16.safetensors")
