#!/usr/bin/env python3
"""Writes the PIL/torchvision reference values the Vision tests compare against, and the derived
test images (grey, palette, RGBA, 16-bit PNGs; a greyscale JPEG; damaged files are made by the tests).

Run from the repository root:  python3 scripts/make_vision_fixtures.py
Needs torch, torchvision, pillow, numpy, safetensors. CI does not run this.
"""
import numpy as np
import torch
import torchvision.transforms.functional as F
from PIL import Image
from safetensors.torch import save_file
from torchvision.transforms import InterpolationMode

D = "Tests/Fixtures/images"
out = {}

# Decoding: PIL's RGB values for a patch of each photograph and each channel's mean.
for name in ["chelsea.png", "coffee.png", "rocket.jpg", "china.jpg", "flower.jpg"]:
    a = np.asarray(Image.open(f"{D}/{name}").convert("RGB"))
    key = name.replace(".", "_")
    out[f"decode.{key}.shape"] = torch.tensor(a.shape, dtype=torch.int64)
    out[f"decode.{key}.patch"] = torch.from_numpy(a[40:72, 50:82].copy()).to(torch.int32)
    out[f"decode.{key}.mean"] = torch.from_numpy(a.reshape(-1, 3).mean(0))

# Derived PNG variants of a crop of chelsea (same licence as the source).
crop = Image.open(f"{D}/chelsea.png").convert("RGB").crop((100, 60, 164, 108))  # 64 × 48
crop.convert("L").save(f"{D}/chelsea_grey.png")
crop.quantize(colors=32).save(f"{D}/chelsea_palette.png")
rgba = crop.copy()
rgba.putalpha(Image.linear_gradient("L").resize(crop.size))
rgba.save(f"{D}/chelsea_rgba.png")
Image.fromarray((np.asarray(crop.convert("L")).astype(np.uint16) * 257)).save(f"{D}/chelsea_grey16.png")
crop.convert("L").save(f"{D}/chelsea_grey.jpg", quality=90)
for v in ["grey.png", "palette.png", "rgba.png", "grey16.png", "grey.jpg"]:
    out[f"variant.{v.replace('.', '_')}"] = torch.from_numpy(
        np.asarray(Image.open(f"{D}/chelsea_{v}").convert("RGB")).copy()).to(torch.int32)
out["variant.rgb"] = torch.from_numpy(np.asarray(crop).copy()).to(torch.int32)

# Geometry and colour on a float image [3, 48, 64] in 0…1 (torchvision tensor transforms).
x = F.to_tensor(crop)
out["image"] = x
for name, size, mode in [("bilinear_down", [23, 31], InterpolationMode.BILINEAR),
                         ("bicubic_down", [17, 40], InterpolationMode.BICUBIC),
                         ("bilinear_up", [97, 121], InterpolationMode.BILINEAR),
                         ("bicubic_up", [61, 150], InterpolationMode.BICUBIC)]:
    out[f"resize.{name}"] = F.resize(x, size, interpolation=mode, antialias=True)
out["resize.shorter_40"] = F.resize(x, 40, antialias=True)
out["center_crop_30x20"] = F.center_crop(x, [30, 20])
out["color.brightness_1_3"] = F.adjust_brightness(x, 1.3)
out["color.contrast_0_7"] = F.adjust_contrast(x, 0.7)
out["color.saturation_1_4"] = F.adjust_saturation(x, 1.4)
out["color.hue_0_08"] = F.adjust_hue(x, 0.08)
out["color.hue_m0_2"] = F.adjust_hue(x, -0.2)
out["color.grayscale"] = F.rgb_to_grayscale(x, num_output_channels=3)
out["color.solarize"] = F.solarize(x, 128 / 255)
out["blur.k7_s1_1"] = F.gaussian_blur(x, [7, 7], [1.1, 1.1])
out["normalize"] = F.normalize(x, [0.485, 0.456, 0.406], [0.229, 0.224, 0.225])

save_file({k: v.contiguous() for k, v in out.items()}, "Tests/Fixtures/vision.safetensors")
print(f"wrote {len(out)} tensors")
