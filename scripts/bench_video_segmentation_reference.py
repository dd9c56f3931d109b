"""PyTorch side of scripts/bench_video_segmentation.sh: DINO's eval_video_segmentation algorithm
(label_propagation with its full (h·w)² affinity and neighbourhood mask, the queue of 7 frames,
bilinear upsampling, norm_mask, argmax) with timm's ViT-S/16 on CPU, on a DAVIS-layout folder.
Prints frames/s of segmentation (as `tessera eval video-segmentation` counts it: every frame after
the first, model and propagation, not file reading).

    /root/venv/bin/python scripts/bench_video_segmentation_reference.py DAVIS_FOLDER [threads]
"""
import sys
import time
from pathlib import Path

import numpy as np
import timm
import torch
import torch.nn.functional as F
from PIL import Image

root = Path(sys.argv[1])
torch.set_num_threads(int(sys.argv[2]) if len(sys.argv) > 2 else 2)
video = (root / "ImageSets/2017/val.txt").read_text().split()[0]
frames = sorted((root / "JPEGImages/480p" / video).iterdir())
first_mask = np.array(Image.open(root / "Annotations/480p" / video / (frames[0].stem + ".png")))
model = timm.create_model("vit_small_patch16_224", pretrained=False, num_classes=0, dynamic_img_size=True).eval()
patch, n_last, radius, topk = 16, 7, 12, 5
mean = torch.tensor([0.485, 0.456, 0.406])[:, None, None]
std = torch.tensor([0.228, 0.224, 0.225])[:, None, None]


def read(path):
    img = Image.open(path).convert("RGB")
    w, h = img.size
    th, tw = (480, int((480 * w / h) // 64 * 64)) if w >= h else (int((480 * h / w) // 64 * 64), 480)
    x = torch.from_numpy(np.asarray(img.resize((tw, th), Image.BILINEAR), np.float32) / 255).permute(2, 0, 1)
    return (x - mean) / std


def features(x):
    out = model.forward_features(x[None])[0, 1:]  # after the final norm, without the class token
    return out, x.shape[1] // patch, x.shape[2] // patch


def neighbourhood(h, w):
    ii, jj = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    ii, jj = ii.reshape(-1), jj.reshape(-1)
    return (((ii[:, None] - ii[None]).abs() <= radius) & ((jj[:, None] - jj[None]).abs() <= radius)).float()


with torch.no_grad():
    f1, h, w = features(read(frames[0]))
    seg = torch.from_numpy(np.array(Image.fromarray(first_mask).resize((w, h), Image.NEAREST))).long()
    first = F.one_hot(seg, int(seg.max()) + 1).permute(2, 0, 1).float()
    mask = neighbourhood(h, w)
    queue = []
    start = time.time()
    for path in frames[1:]:
        ft, _, _ = features(read(path))
        feats = torch.stack([f1] + [q[0] for q in queue])  # n × hw × d
        segs = torch.stack([first] + [q[1] for q in queue])  # n × C × h × w
        tn, sn = F.normalize(ft, dim=1), F.normalize(feats, dim=2)
        aff = torch.exp(torch.einsum("td,nsd->nts", tn, sn) / 0.1) * mask[None]
        aff = aff.transpose(2, 1).reshape(-1, h * w)  # (n·hw sources) × hw targets
        tk, _ = torch.topk(aff, dim=0, k=topk)
        aff[aff < tk.min(dim=0).values] = 0
        aff = aff / aff.sum(dim=0, keepdim=True)
        c = segs.shape[1]
        soft = (segs.reshape(len(segs), c, -1).transpose(2, 1).reshape(-1, c).T @ aff).reshape(c, h, w)
        if len(queue) == n_last:
            queue.pop(0)
        queue.append((ft, soft))
        up = F.interpolate(soft[None], scale_factor=patch, mode="bilinear", align_corners=False)[0]
        labels = up.argmax(0)
    elapsed = time.time() - start
print(f"PyTorch {torch.__version__}, timm {timm.__version__}: {(len(frames) - 1) / elapsed:.2f} frames/s")
