"""Fixtures for Tessera's video object segmentation, from davis2017-evaluation and DINO's own code.

1. DAVIS metrics: random blob masks (two objects, void pixels in the annotation) and perturbed
   predictions for a 9-frame video, scored as DAVISEvaluation's semi-supervised task does
   (objects split from the label maps, first and last frames dropped, db_eval_iou,
   db_eval_boundary, db_statistics, the J&F-Mean of evaluation_method.py); db_statistics on a
   longer sequence.
2. Label propagation: DINO's eval_video_segmentation.label_propagation on random features and soft
   labels of three context frames (a model stub returns the tokens; .cuda() is the identity).

Neither repository is part of Tessera: give the folder holding davis2017/ and the one holding
DINO's eval_video_segmentation.py, utils.py and vision_transformer.py.

    git -C /work/.mirror/davisvideochallenge+davis2017-evaluation/repo archive HEAD davis2017 | tar -x -C /tmp/davis
    /root/venv/bin/python scripts/make_video_segmentation_fixtures.py /tmp/davis /tmp/dino
"""
import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, sys.argv[1])
sys.path.insert(0, sys.argv[2])
from davis2017 import utils as davis_utils  # noqa: E402
from davis2017.evaluation import DAVISEvaluation  # noqa: E402
import eval_video_segmentation as dino_vos  # noqa: E402

rng = np.random.default_rng(5)
T, H, W = 9, 37, 53


def blob(cy, cx, ry, rx):
    y, x = np.mgrid[0:H, 0:W]
    return ((y - cy) / ry) ** 2 + ((x - cx) / rx) ** 2 <= 1


annotations, predictions = [], []
for t in range(T):
    a = np.zeros((H, W), np.uint8)
    a[blob(12 + t, 15 + 2 * t, 7, 9)] = 1
    a[blob(25, 40 - t, 6, 6 + t % 3)] = 2
    a[(rng.random((H, W)) < 0.01)] = 255  # void
    p = np.zeros((H, W), np.uint8)
    p[blob(12 + t + rng.integers(-2, 3), 15 + 2 * t + rng.integers(-2, 3), 7 + rng.integers(-1, 2), 9)] = 1
    if t != 4:  # object 2 lost in frame 4
        p[blob(25 + rng.integers(-3, 4), 40 - t, 6, 7)] = 2
    p[rng.random((H, W)) < 0.005] = 1  # speckle
    annotations.append(a)
    predictions.append(p)

masks = np.stack(annotations).astype(np.float64)
void = masks == 255
masks[void] = 0
objects = int(np.max(masks[0]))
gt = (np.arange(1, objects + 1)[:, None, None, None] == masks[None]) > 0
gt = gt[:, 1:-1]
res = np.stack(predictions[1:-1]).astype(np.float64)
n_res = int(np.max(res))
res = (np.arange(1, n_res + 1)[:, None, None, None] == res[None]) > 0
j, f = DAVISEvaluation._evaluate_semisupervised(gt, res, None, ("J", "F"))
stats = [{"j": list(map(float, davis_utils.db_statistics(j[k]))), "f": list(map(float, davis_utils.db_statistics(f[k])))}
         for k in range(objects)]
jm = np.mean([s["j"][0] for s in stats])
fm = np.mean([s["f"][0] for s in stats])
long = rng.random(23)

# Label propagation with DINO's own function.
torch.Tensor.cuda = lambda self, *args, **kwargs: self
dino_vos.args = argparse.Namespace(size_mask_neighborhood=2, topk=5, n_last_frames=7)
h, w, d, classes = 5, 7, 6, 3


class Stub:
    class patch_embed:
        patch_size = 1

    def __init__(self, tokens):
        self.tokens = tokens

    def get_intermediate_layers(self, x, n=1):
        return [self.tokens]


target_tokens = torch.from_numpy(rng.normal(size=(1, 1 + h * w, d)).astype(np.float32))
contexts = [torch.from_numpy(rng.normal(size=(d, h * w)).astype(np.float32)) for _ in range(3)]
segs = [torch.from_numpy(rng.random((1, classes, h, w)).astype(np.float32)) for _ in range(3)]
with torch.no_grad():
    seg_tar, _, _ = dino_vos.label_propagation(dino_vos.args, Stub(target_tokens), torch.zeros(3, h, w),
                                                contexts, segs)

fixture = {
    "annotations": [a.tolist() for a in annotations], "predictions": [p.tolist() for p in predictions],
    "j": j.tolist(), "f": f.tolist(), "statistics": stats, "j_and_f_mean": float((jm + fm) / 2),
    "long": long.tolist(), "long_statistics": list(map(float, davis_utils.db_statistics(long))),
    "propagation": {"height": h, "width": w, "neighborhood": 2, "topk": 5,
                    "target": target_tokens[0, 1:].tolist(), "contexts": [c.T.tolist() for c in contexts],
                    "labels": [s[0].tolist() for s in segs], "expected": seg_tar[0].tolist()},
}
out = Path(__file__).resolve().parent.parent / "Tests" / "Fixtures" / "video_segmentation.json"
with open(out, "w") as fp:
    json.dump(fixture, fp)
print(f"wrote {out}: J {[round(s['j'][0], 4) for s in stats]}, F {[round(s['f'][0], 4) for s in stats]}, "
      f"J&F {fixture['j_and_f_mean']:.4f}")
