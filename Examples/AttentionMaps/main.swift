// The class token's self-attention of a ViT's last block, per head, over a photograph, saved as a
// PNG grid (DINO's Figure 1): heat maps in the first row, 60%-mass masks in the second. Give a
// checkpoint (DINO ViT-S/16 from `tessera zoo fetch dino_vits16`) for meaningful maps; without one
// a random ViT shows the mechanics.
//
//   swift run -c release attention-maps IMAGE [WEIGHTS] [--tiny]
import Foundation
import Tessera

let arguments = Array(CommandLine.arguments.dropFirst()).filter { !$0.hasPrefix("--") }
let tiny = CommandLine.arguments.contains("--tiny")
guard let imagePath = arguments.first else {
    print("usage: attention-maps IMAGE [WEIGHTS] [--tiny]")
    exit(2)
}
let size = tiny ? 64 : 224
var config = ViTConfig.preset(.small, patch: 16, imageSize: size)
if tiny { config.depth = 1 }
let vit = VisionTransformer(config)
if arguments.count > 1 {
    try vit.loadStateDict(TorchCheckpoint.modelWeights(URL(fileURLWithPath: arguments[1])), strict: false)
}
vit.eval()
let image = try ImageFile.read(URL(fileURLWithPath: imagePath))
let view = Compose([Resize(size), CenterCrop(size)])(image, seed: 0)
let attention = AttentionMaps.classAttention(vit, images: Normalize()(view, seed: 0).unsqueezed(0))  // [1, heads, g, g]
let output = FileManager.default.temporaryDirectory.appendingPathComponent("attention.png")
try ImageFile.writePNG(AttentionMaps.figure(image: view, attention: attention.select(axis: 0, index: 0)), to: output)
print("wrote \(output.path): \(attention.shape[1]) heads "
      + "over a \(attention.shape[2])×\(attention.shape[3]) patch grid")
