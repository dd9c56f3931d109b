"""Writes Tests/Fixtures/generative_metrics.safetensors: Fréchet distances by pytorch-fid's
calculate_frechet_distance (scipy.linalg.sqrtm; its logic re-implemented below) and Inception Scores by
the original inception_score.py's formula (scipy.stats.entropy over splits), on random features.

Run: /root/venv/bin/python scripts/make_generative_metrics_fixtures.py
"""
import numpy as np
import torch
from safetensors.numpy import save_file
from scipy import linalg
from scipy.stats import entropy


def frechet_distance(a, b, eps=1e-6):
    mu1, mu2 = a.mean(0), b.mean(0)
    sigma1, sigma2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean, _ = linalg.sqrtm(sigma1.dot(sigma2), disp=False)
    if not np.isfinite(covmean).all():
        offset = np.eye(sigma1.shape[0]) * eps
        covmean = linalg.sqrtm((sigma1 + offset).dot(sigma2 + offset))
    covmean = covmean.real
    diff = mu1 - mu2
    return diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean)


def inception_score(preds, splits):
    n = preds.shape[0]
    scores = []
    for k in range(splits):
        part = preds[k * (n // splits):(k + 1) * (n // splits), :]
        py = np.mean(part, axis=0)
        scores.append(np.exp(np.mean([entropy(pyx, py) for pyx in part])))
    return np.mean(scores), np.std(scores)


rng = np.random.default_rng(0)
out = {}
# Two full-rank cases (one with a shifted, stretched second set) and one with n < d (singular covariances).
for name, (n, m, d, shift) in {"same": (60, 50, 8, 0.0), "shifted": (80, 70, 12, 0.7), "singular": (10, 9, 16, 0.3)}.items():
    a = rng.normal(size=(n, d))
    b = rng.normal(size=(m, d)) @ (np.eye(d) + 0.3 * rng.normal(size=(d, d))) + shift
    out[f"fid.{name}.a"], out[f"fid.{name}.b"] = a, b
    out[f"fid.{name}.value"] = np.array([frechet_distance(a, b)])
logits = rng.normal(size=(40, 10)) * 2
probs = torch.softmax(torch.from_numpy(logits), dim=1).numpy()
out["is.probabilities"] = probs
for splits in (1, 4):
    out[f"is.splits{splits}"] = np.array(inception_score(probs, splits))
save_file(out, "Tests/Fixtures/generative_metrics.safetensors",
          metadata={"generator": "scripts/make_generative_metrics_fixtures.py"})
print({k: v.tolist() for k, v in out.items() if v.size <= 2})
