"""Fixtures for Tessera's retrieval metrics, from revisitop's own compute_map.

Random rankings and ground truths (easy / hard / junk lists, a query without hard positives, one
without junk); revisitop's python/evaluate.py (not part of Tessera: give its path) scores them under
the Easy, Medium and Hard protocols as DINO's eval_image_retrieval builds them. Writes
Tests/Fixtures/retrieval_map.json (rankings, ground truth, expected scores) and
Tests/Fixtures/gnd_fixture.pkl (the same ground truth as a revisitop-style pickle).

    git -C /work/.mirror/filipradenovic+revisitop/repo show HEAD:python/evaluate.py > /tmp/revisitop_evaluate.py
    python3 scripts/make_retrieval_fixtures.py /tmp/revisitop_evaluate.py
"""
import importlib.util
import json
import pickle
import sys
from pathlib import Path

import numpy as np

if not hasattr(np, "in1d"):  # NumPy 2 removed in1d, which revisitop calls; isin is the same for 1-D input
    np.in1d = np.isin
spec = importlib.util.spec_from_file_location("revisitop_evaluate", sys.argv[1])
revisitop = importlib.util.module_from_spec(spec)
spec.loader.exec_module(revisitop)

rng = np.random.default_rng(17)
n_db, n_q = 40, 7
imlist = [f"db_{i:03d}" for i in range(n_db)]
qimlist = [f"q_{i:02d}" for i in range(n_q)]
gnd = []
for q in range(n_q):
    chosen = rng.permutation(n_db)
    # Query 2 has no hard positives (skipped by the Hard protocol), query 4 no junk.
    n_easy, n_hard = rng.integers(1, 6), 0 if q == 2 else rng.integers(1, 6)
    n_junk = 0 if q == 4 else rng.integers(1, 5)
    easy = sorted(int(i) for i in chosen[:n_easy])
    hard = sorted(int(i) for i in chosen[n_easy:n_easy + n_hard])
    junk = sorted(int(i) for i in chosen[n_easy + n_hard:n_easy + n_hard + n_junk])
    gnd.append({"bbx": [float(v) for v in rng.uniform(0, 100, 4)], "easy": easy, "hard": hard, "junk": junk})
ranks = np.stack([rng.permutation(n_db) for _ in range(n_q)], axis=1)  # db_size × queries, as compute_map takes

kappas = [1, 5, 10]
splits = {
    "easy": lambda g: (g["easy"], g["junk"] + g["hard"]),
    "medium": lambda g: (g["easy"] + g["hard"], g["junk"]),
    "hard": lambda g: (g["hard"], g["junk"] + g["easy"]),
}
expected = {}
for name, split in splits.items():
    gnd_t = [{"ok": np.array(split(g)[0]), "junk": np.array(split(g)[1])} for g in gnd]
    mean_ap, aps, pr, prs = revisitop.compute_map(ranks, gnd_t, kappas)
    expected[name] = {
        "map": float(mean_ap), "mpr": [float(v) for v in pr],
        "aps": [None if np.isnan(v) else float(v) for v in aps],
        "prs": [None if np.isnan(row[0]) else [float(v) for v in row] for row in prs],
    }

fixtures = Path(__file__).resolve().parent.parent / "Tests" / "Fixtures"
truth = {"imlist": imlist, "qimlist": qimlist, "gnd": gnd}
with open(fixtures / "retrieval_map.json", "w") as f:
    json.dump({"truth": truth, "ranking": ranks.T.tolist(), "kappas": kappas, "expected": expected}, f, indent=1)
with open(fixtures / "gnd_fixture.pkl", "wb") as f:
    pickle.dump(truth, f, protocol=4)
print({k: round(v["map"], 4) for k, v in expected.items()})
