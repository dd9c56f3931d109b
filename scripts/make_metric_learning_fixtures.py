"""Fixtures for Tessera's metric-learning losses and metrics (IRT), from PyTorch references.

Random embeddings of 24 samples in 6 classes of uneven sizes (one a singleton) give:
- pytorch-metric-learning's ContrastiveLoss(pos_margin=1, neg_margin=0.5) with CosineSimilarity
  (IRT's loss) and its gradient with respect to the embeddings;
- DINOv2's KoLeoLoss (copied below from facebookresearch/dinov2, dinov2/loss/koleo_loss.py, which is
  not on PyPI) and its gradient;
- AccuracyCalculator's precision_at_1 and mean_average_precision_at_r (query excluded from its own
  neighbours), and Recall@{1,2,4,8} by its definition.

    /root/venv/bin/pip install pytorch-metric-learning faiss-cpu
    /root/venv/bin/python scripts/make_metric_learning_fixtures.py
"""
import json
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from pytorch_metric_learning.distances import CosineSimilarity
from pytorch_metric_learning.losses import ContrastiveLoss
from pytorch_metric_learning.utils.accuracy_calculator import AccuracyCalculator


class KoLeoLoss(nn.Module):
    """DINOv2's Kozachenko-Leonenko entropic loss regulariser (Sablayrolles et al., 2018)."""

    def __init__(self):
        super().__init__()
        self.pdist = nn.PairwiseDistance(2, eps=1e-8)

    def pairwise_NNs_inner(self, x):
        dots = torch.mm(x, x.t())
        n = x.shape[0]
        dots.view(-1)[:: (n + 1)].fill_(-1)  # trick to fill diagonal with -1
        _, I = torch.max(dots, dim=1)
        return I

    def forward(self, student_output, eps=1e-8):
        student_output = F.normalize(student_output, eps=eps, p=2, dim=-1)
        I = self.pairwise_NNs_inner(student_output)
        distances = self.pdist(student_output, student_output[I])
        return -torch.log(distances + eps).mean()


rng = np.random.default_rng(31)
labels = np.array([0] * 6 + [1] * 5 + [2] * 4 + [3] * 4 + [4] * 4 + [5] * 1)
centres = rng.normal(size=(6, 8))
x = torch.tensor(centres[labels] * 0.8 + rng.normal(size=(24, 8)), dtype=torch.float64, requires_grad=True)
t = torch.from_numpy(labels)

contrastive = ContrastiveLoss(pos_margin=1, neg_margin=0.5, distance=CosineSimilarity())(x, t)
(grad_contrastive,) = torch.autograd.grad(contrastive, x)
koleo = KoLeoLoss()(x)
(grad_koleo,) = torch.autograd.grad(koleo, x)

# Normalised, so that faiss' L2 neighbours (AccuracyCalculator's) are the cosine ones.
e = F.normalize(x.detach(), dim=1)
calc = AccuracyCalculator(include=("precision_at_1", "mean_average_precision_at_r"), k="max_bin_count")
acc = calc.get_accuracy(e, t, e, t, ref_includes_query=True)
xn = F.normalize(e, dim=1)
sim = xn @ xn.T - 3 * torch.eye(24, dtype=torch.float64)
order = sim.argsort(dim=1, descending=True)
# Queries whose class has no other sample are left out, as AccuracyCalculator leaves them out.
with_positives = [q for q in range(24) if (labels == labels[q]).sum() > 1]
recall = [float(np.mean([(labels[order[q, :k].numpy()] == labels[q]).any() for q in with_positives]))
          for k in (1, 2, 4, 8)]
assert abs(recall[0] - acc["precision_at_1"]) < 1e-12

fixture = {
    "embeddings": x.detach().tolist(), "labels": labels.tolist(),
    "contrastive": contrastive.item(), "contrastive_grad": grad_contrastive.tolist(),
    "koleo": koleo.item(), "koleo_grad": grad_koleo.tolist(),
    "precision_at_1": float(acc["precision_at_1"]), "map_at_r": float(acc["mean_average_precision_at_r"]),
    "recall": recall,
}
out = Path(__file__).resolve().parent.parent / "Tests" / "Fixtures" / "metric_learning.json"
out.write_text(json.dumps(fixture))
print(f"wrote {out}: contrastive {contrastive.item():.5f}, KoLeo {koleo.item():.5f}, R@1 {recall[0]:.3f} "
      f"(P@1 {acc['precision_at_1']:.3f}), mAP@R {acc['mean_average_precision_at_r']:.4f}")
