"""Fixtures for Tessera's copy-detection protocol, from DINO's own eval_copy_detection.py and utils.PCA.

Random descriptors stand in for a model's: a whitening set, a database of originals plus
distractors, and queries that are noisy copies of originals (one block with 1:1 copies, one
"strong" block whose positives share a four-character name prefix). The script runs DINO's
pipeline on them — mean subtraction, utils.PCA(whit=0.5) trained on the uncentred second-moment
matrix, L2 normalisation, cosine top-20, score_ap_from_ranks_1 — and also GeM pooling of random
tokens as eval_copy_detection's extract_features does. DINO's repository is not part of Tessera:
give the folder holding its utils.py, eval_copy_detection.py, vision_transformer.py, eval_knn.py.

    mkdir -p /tmp/dino && for f in utils.py eval_copy_detection.py vision_transformer.py eval_knn.py; do
        git -C /work/.mirror/facebookresearch+dino/repo show HEAD:$f > /tmp/dino/$f; done
    /root/venv/bin/python scripts/make_copy_detection_fixtures.py /tmp/dino
"""
import contextlib
import io
import json
import sys
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, sys.argv[1])
import eval_copy_detection as dino_cd  # noqa: E402
import utils as dino_utils  # noqa: E402

rng = np.random.default_rng(23)
d, n_whiten, n_orig, n_distract = 12, 40, 10, 15
whitening = rng.normal(size=(n_whiten, d)).astype(np.float32) + 0.5
# A rank-deficient direction: the last coordinate copies the first (its eigenvalue is floored).
whitening[:, -1] = whitening[:, 0]
originals = rng.normal(size=(n_orig, d)).astype(np.float32) + 0.5
originals[:, -1] = originals[:, 0]
distractors = rng.normal(size=(n_distract, d)).astype(np.float32) + 0.5
copies = originals + rng.normal(scale=0.6, size=originals.shape).astype(np.float32)
original_names = [f"{g:04d}00.jpg" for g in range(n_orig)]
strong_names = [f"{g:04d}{k:02d}.jpg" for g in range(0, n_orig, 2) for k in (1, 2)]
strong = np.stack([originals[int(name[:4])] + rng.normal(scale=1.2, size=d) for name in strong_names]).astype(np.float32)
# Copies keep the rank-deficient direction (only the floored eigenvalue's noise would be amplified).
copies[:, -1] = copies[:, 0]
strong[:, -1] = strong[:, 0]
# Two originals share the prefix of strong queries for group 0002 (as Copydays' groups do).
original_names[3] = "000201.jpg"

with contextlib.redirect_stdout(io.StringIO()):
    feats = torch.from_numpy(whitening)
    database = torch.from_numpy(np.concatenate([originals, distractors]))
    queries = torch.from_numpy(np.concatenate([copies, strong]))
    mean_feature = torch.mean(feats, dim=0)
    database = database - mean_feature
    queries = queries - mean_feature
    pca = dino_utils.PCA(dim=database.shape[-1], whit=0.5)
    cov = torch.mm(feats.T, feats) / feats.shape[0]
    pca.train_pca(cov.cpu().numpy())
    database_w = pca.apply(database)
    queries_w = pca.apply(queries)
database_n = nn.functional.normalize(database_w, dim=1, p=2)
queries_n = nn.functional.normalize(queries_w, dim=1, p=2)
similarity = torch.mm(queries_n, database_n.T)
distances, indices = similarity.topk(20, largest=True, sorted=True)

aps = []
for q, row in enumerate(indices.tolist()):
    if q < n_orig:
        positives = [q]
    else:
        qname = strong_names[q - n_orig]
        positives = [j for j, bname in enumerate(original_names) if bname[:4] == qname[:4]]
    ranks = [rank for rank, bno in enumerate(row) if bno in positives]
    aps.append(dino_cd.score_ap_from_ranks_1(ranks, len(positives)))

# GeM of tokens as extract_features: clamp 1e-6, ^4, average over the grid, ^(1/4), after the class token.
tokens = torch.from_numpy(rng.normal(size=(2, 1 + 6, 5)).astype(np.float32))
b, h, w, dd = 2, 2, 3, 5
gem = tokens[:, 1:, :].reshape(b, h, w, dd).clamp(min=1e-6).permute(0, 3, 1, 2)
gem = nn.functional.avg_pool2d(gem.pow(4), (h, w)).pow(1. / 4).reshape(b, -1)
descriptor = torch.cat((tokens[:, 0, :], gem), dim=1)

ap_cases = [([0], 1), ([0, 1, 2], 3), ([2, 5], 2), ([1, 4, 9], 5), ([], 3), ([0, 3], 4)]
fixture = {
    "whitening": whitening.tolist(), "originals": originals.tolist(), "distractors": distractors.tolist(),
    "copies": copies.tolist(), "strong": strong.tolist(),
    "original_names": original_names, "strong_names": strong_names,
    "projection": pca.dvt.tolist(), "mean": mean_feature.tolist(),
    "queries_whitened": queries_w.tolist(),
    "topk_indices": indices.tolist(), "topk_similarities": distances.tolist(), "aps": aps,
    "tokens": tokens.tolist(), "descriptor": descriptor.tolist(),
    "ap_cases": [{"ranks": r, "positives": n, "ap": dino_cd.score_ap_from_ranks_1(r, n)} for r, n in ap_cases],
}
out = Path(__file__).resolve().parent.parent / "Tests" / "Fixtures" / "copy_detection.json"
with open(out, "w") as f:
    json.dump(fixture, f)
print(f"wrote {out}: mAP copies {np.mean(aps[:n_orig]):.4f}, strong {np.mean(aps[n_orig:]):.4f}")
