#!/usr/bin/env python3
"""torchvision's loader with DINO's multi-crop augmentation (2 × 224 + 8 × 96) over JPEG files,
for the Vision loader benchmark. Prints images/s.

    python3 scripts/bench_loader.py FOLDER [--workers N]
    swift run -c release tessera-bench loader FOLDER

FOLDER holds JPEGs in class subfolders (ImageFolder layout). DataAugmentationDINO is written here
from the DINO paper's recipe (the same transforms and probabilities as its main_dino.py).
"""
import sys
import time

import torch
from PIL import ImageFilter, ImageOps
import random
from torchvision import datasets, transforms


class GaussianBlur:
    def __init__(self, p=0.5, radius_min=0.1, radius_max=2.0):
        self.p, self.lo, self.hi = p, radius_min, radius_max

    def __call__(self, img):
        if random.random() > self.p:
            return img
        return img.filter(ImageFilter.GaussianBlur(radius=random.uniform(self.lo, self.hi)))


class Solarization:
    def __init__(self, p):
        self.p = p

    def __call__(self, img):
        return ImageOps.solarize(img) if random.random() < self.p else img


class DataAugmentationDINO:
    def __init__(self, global_scale=(0.4, 1.0), local_scale=(0.05, 0.4), local_crops=8):
        flip_jitter = transforms.Compose([
            transforms.RandomHorizontalFlip(p=0.5),
            transforms.RandomApply([transforms.ColorJitter(0.4, 0.4, 0.2, 0.1)], p=0.8),
            transforms.RandomGrayscale(p=0.2)])
        normalize = transforms.Compose([transforms.ToTensor(),
                                        transforms.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))])
        bicubic = transforms.InterpolationMode.BICUBIC
        self.g1 = transforms.Compose([transforms.RandomResizedCrop(224, scale=global_scale, interpolation=bicubic),
                                      flip_jitter, GaussianBlur(1.0), normalize])
        self.g2 = transforms.Compose([transforms.RandomResizedCrop(224, scale=global_scale, interpolation=bicubic),
                                      flip_jitter, GaussianBlur(0.1), Solarization(0.2), normalize])
        self.local = transforms.Compose([transforms.RandomResizedCrop(96, scale=local_scale, interpolation=bicubic),
                                         flip_jitter, GaussianBlur(p=0.5), normalize])
        self.n = local_crops

    def __call__(self, image):
        return [self.g1(image), self.g2(image)] + [self.local(image) for _ in range(self.n)]


if __name__ == "__main__":
    folder = sys.argv[1]
    workers = int(sys.argv[sys.argv.index("--workers") + 1]) if "--workers" in sys.argv else 2
    torch.set_num_threads(1)
    data = datasets.ImageFolder(folder, transform=DataAugmentationDINO())
    loader = torch.utils.data.DataLoader(data, batch_size=16, shuffle=True, num_workers=workers, drop_last=True)
    for epoch in range(3):
        start, n = time.perf_counter(), 0
        for views, _ in loader:
            n += views[0].shape[0]
        elapsed = time.perf_counter() - start
    print(f"torchvision DINO multi-crop, {workers} workers: {n / elapsed:.1f} images/s "
          f"({n / elapsed / workers:.1f} per worker)")
