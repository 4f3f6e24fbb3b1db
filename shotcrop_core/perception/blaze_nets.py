"""PyTorch ports of three MediaPipe 0.10.21 networks, weights converted by tools/convert_mediapipe.py.

* `PoseDetector`          pose_detection.tflite                   (BlazePose person detector)
* `PoseLandmarkFull`      pose_landmark_full.tflite               (BlazePose GHUM full, 39 points)
* `FaceDetectorFullRange` face_detection_full_range_sparse.tflite (BlazeFace full range)

Each module reproduces its TFLite graph op for op (same padding, strides, activations, resize and
depth-to-space semantics), so outputs match the TFLite interpreter to float rounding. Inputs are
NCHW RGB float tensors; outputs keep TFLite's layouts (see each class). The backbones are
MobileNetV2-style (pose, ReLU6) and BlazeFace-style double blocks (face, ReLU); neither has PReLU.

torch is imported here only; callers import this module lazily.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

WEIGHTS_DIR = Path(__file__).with_name("weights")
#: load() names -> safetensors file in WEIGHTS_DIR.
WEIGHT_FILES = {
    "pose_detection": "pose_detection.safetensors",
    "pose_landmark_full": "pose_landmark_full.safetensors",
    "face_detection_full_range": "face_detection_full_range.safetensors",
}


def _act(x: Tensor, act: str | None) -> Tensor:
    # In place: x is always a fresh conv output, and allocating a copy costs ~10% of a run.
    if act == "relu":
        return F.relu_(x)
    if act == "relu6":
        return F.hardtanh_(x, 0.0, 6.0)
    return x


class Conv(nn.Conv2d):
    """Conv2d (or depthwise) + TFLite fused activation, with TFLite padding.

    pad="sym":   k//2 zeros on every side. Equals TFLite's explicit PAD + VALID conv that these
                 graphs use before stride-2 convs, and SAME at stride 1 (odd kernels).
    pad="same":  TFLite SAME from the input size; at stride 2 on even sizes that is asymmetric
                 (the extra zero goes right/bottom), unlike torch's symmetric padding.
    pad="valid": none.
    """

    def __init__(self, cin: int, cout: int, k: int = 1, stride: int = 1, *, dw: bool = False,
                 act: str | None = None, pad: str = "sym") -> None:
        sym = pad == "sym" or (pad == "same" and stride == 1)
        super().__init__(cin, cout, k, stride, padding=k // 2 if sym else 0, groups=cin if dw else 1)
        self.tf_same = pad == "same" and stride > 1
        self.act = act

    def forward(self, x: Tensor) -> Tensor:
        if self.tf_same:
            k, s = self.kernel_size[0], self.stride[0]
            ph = max((-(-x.shape[2] // s) - 1) * s + k - x.shape[2], 0)
            pw = max((-(-x.shape[3] // s) - 1) * s + k - x.shape[3], 0)
            x = F.pad(x, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2))
        return _act(super().forward(x), self.act)


def dw(c: int, k: int = 3, s: int = 1, act: str | None = None, pad: str = "sym") -> Conv:
    return Conv(c, c, k, s, dw=True, act=act, pad=pad)


def pw(cin: int, cout: int, act: str | None = None) -> Conv:
    return Conv(cin, cout, 1, act=act, pad="valid")


def up2(x: Tensor) -> Tensor:
    # TFLite RESIZE_BILINEAR(half_pixel_centers=True, align_corners=False) == torch's default.
    return F.interpolate(x, size=(x.shape[2] * 2, x.shape[3] * 2), mode="bilinear",
                         align_corners=False)


def depth_to_space(x: Tensor, b: int = 2) -> Tensor:
    # TF order: out[c, h*b+i, w*b+j] = in[(i*b+j)*C + c, h, w]  (torch's pixel_shuffle uses c*b*b+i*b+j).
    n, cb, h, w = x.shape
    c = cb // (b * b)
    return x.view(n, b, b, c, h, w).permute(0, 3, 4, 1, 5, 2).reshape(n, c, h * b, w * b)


def flat(x: Tensor, k: int) -> Tensor:
    # TFLite RESHAPE of an NHWC map: anchors ordered (y, x, anchor), k values each.
    return x.permute(0, 2, 3, 1).reshape(x.shape[0], -1, k)


class InvRes(nn.Module):
    """MobileNetV2 inverted residual: 1x1 expand (ReLU6) -> kxk depthwise (ReLU6) -> 1x1 project."""

    def __init__(self, cin: int, cexp: int, cout: int, k: int, s: int) -> None:
        super().__init__()
        self.expand = pw(cin, cexp, "relu6") if cexp != cin else None
        self.dw = dw(cexp, k, s, "relu6")
        self.project = pw(cexp, cout)
        self.residual = s == 1 and cin == cout

    def forward(self, x: Tensor) -> Tensor:
        y = self.project(self.dw(self.expand(x) if self.expand is not None else x))
        return x + y if self.residual else y


class Res(nn.Module):
    """relu6(x + pw(dw(x))); at stride 2 the shortcut is a 2x2 max-pool and dw pads TFLite-SAME."""

    def __init__(self, c: int, dw_act: str | None, s: int = 1) -> None:
        super().__init__()
        self.dw = dw(c, 3, s, dw_act, pad="same")
        self.pw = pw(c, c)
        self.pool = s == 2

    def forward(self, x: Tensor) -> Tensor:
        y = self.pw(self.dw(x))
        return F.hardtanh_((F.max_pool2d(x, 2) if self.pool else x) + y, 0.0, 6.0)


class FaceBlock(nn.Module):
    """BlazeFace double block: relu(x + pw(dw(relu(pw(dw(x))))))."""

    def __init__(self, c: int, mid: int) -> None:
        super().__init__()
        self.dw1, self.pw1 = dw(c), pw(c, mid, "relu")
        self.dw2, self.pw2 = dw(mid), pw(mid, c)

    def forward(self, x: Tensor) -> Tensor:
        return F.relu_(x + self.pw2(self.dw2(self.pw1(self.dw1(x)))))


def face_down(cin: int, mid: int, cout: int) -> nn.Sequential:
    """BlazeFace stride-2 transition (no shortcut in this graph): dw/2 -> pw relu -> dw -> pw relu."""
    return nn.Sequential(dw(cin, 3, 2), pw(cin, mid, "relu"), dw(mid), pw(mid, cout, "relu"))


class PoseDetector(nn.Module):
    """pose_detection.tflite. Input [N,3,224,224] RGB in [-1, 1] (letterboxed, zero border).

    Returns (regressors [N,2254,12], classificators [N,2254,1]), raw (no sigmoid), anchors ordered
    28x28x2 (stride 8), then 14x14x2 (stride 16), then 7x7x6 (stride 32); each (y, x, anchor).
    """

    def __init__(self) -> None:
        super().__init__()
        self.stem = Conv(3, 24, 3, 2, act="relu6")
        self.stage28 = nn.Sequential(
            InvRes(24, 24, 16, 3, 1), InvRes(16, 64, 24, 3, 2), InvRes(24, 144, 24, 3, 1),
            InvRes(24, 144, 40, 5, 2), InvRes(40, 240, 40, 5, 1))
        self.stage14 = nn.Sequential(
            InvRes(40, 240, 80, 3, 2), InvRes(80, 480, 80, 3, 1), InvRes(80, 480, 80, 3, 1),
            InvRes(80, 480, 112, 5, 1), InvRes(112, 672, 112, 5, 1), InvRes(112, 672, 112, 5, 1))
        self.stage7 = nn.Sequential(
            InvRes(112, 672, 192, 5, 2), *[InvRes(192, 1152, 192, 5, 1) for _ in range(3)],
            pw(192, 1152, "relu6"), dw(1152, 3, 1, "relu6"))
        self.lat28 = nn.Sequential(dw(40), pw(40, 96, "relu6"))
        self.lat14 = nn.Sequential(dw(112), pw(112, 192, "relu6"))
        self.top14 = pw(1152, 192, "relu6")
        self.fpn14 = nn.Sequential(Res(192, None), Res(192, None))
        self.top28 = pw(192, 96, "relu6")
        self.fpn28 = nn.Sequential(Res(96, None), Res(96, None))
        # heads on depth_to_space maps: 56x56x24, 28x28x48, 14x14x288 -> dw stride 2 -> 1x1
        heads = ((24, 2), (48, 2), (288, 6))  # (channels, anchors per cell)
        self.cls = nn.ModuleList(nn.Sequential(dw(c, 3, 2), pw(c, a)) for c, a in heads)
        self.reg = nn.ModuleList(nn.Sequential(dw(c, 3, 2), pw(c, a * 12)) for c, a in heads)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        f28 = self.stage28(self.stem(x))
        f14 = self.stage14(f28)
        f7 = self.stage7(f14)
        l28, l14 = self.lat28(f28), self.lat14(f14)
        p14 = self.fpn14(l14 + self.top14(up2(f7)))
        p28 = self.fpn28(l28 + self.top28(up2(p14)))
        feats = [depth_to_space(p28), depth_to_space(p14), depth_to_space(f7)]
        cls = torch.cat([flat(h(f), 1) for h, f in zip(self.cls, feats, strict=True)], 1)
        reg = torch.cat([flat(h(f), 12) for h, f in zip(self.reg, feats, strict=True)], 1)
        return reg, cls


class PoseLandmarkFull(nn.Module):
    """pose_landmark_full.tflite without its segmentation branch. Input [N,3,256,256] RGB in [0, 1].

    Returns (landmarks [N,195], pose_flag [N,1], heatmap [N,39,64,64] or None, world [N,117]):
    landmarks = 39 x (x, y, z, visibility, presence) in 256-px input space, visibility/presence
    as logits; pose_flag already sigmoided (TFLite LOGISTIC); heatmap NCHW (TFLite's is NHWC
    [N,64,64,39]), None when built with heatmap=False; world = 39 x (x, y, z) metres, hip-centred.
    """

    def __init__(self, heatmap: bool = True) -> None:
        super().__init__()
        self.with_heatmap = heatmap
        self.stem = Conv(3, 24, 3, 2, act="relu6")
        self.stage128 = InvRes(24, 24, 16, 3, 1)
        self.stage64 = nn.Sequential(InvRes(16, 64, 24, 3, 2), InvRes(24, 144, 24, 3, 1))
        self.stage32 = nn.Sequential(InvRes(24, 144, 32, 5, 2), InvRes(32, 192, 32, 5, 1))
        self.stage16 = nn.Sequential(
            InvRes(32, 192, 64, 3, 2), InvRes(64, 384, 64, 3, 1), InvRes(64, 384, 64, 3, 1),
            InvRes(64, 384, 88, 5, 1), InvRes(88, 528, 88, 5, 1), InvRes(88, 528, 88, 5, 1))
        self.stage8 = nn.Sequential(
            InvRes(88, 528, 144, 5, 2), *[InvRes(144, 864, 144, 5, 1) for _ in range(3)],
            pw(144, 864, "relu6"), dw(864, 3, 1, "relu6"))
        if heatmap:  # decoder to 64x64; TFLite's segmentation branch continues from it (dropped)
            self.skip64 = nn.Sequential(dw(24, act="relu6"), pw(24, 48, "relu6"))
            self.skip32 = nn.Sequential(dw(32, act="relu6"), pw(32, 48, "relu6"))
            self.skip16 = nn.Sequential(dw(88, act="relu6"), pw(88, 48, "relu6"))
            self.dec8 = nn.Sequential(dw(864, act="relu6"), pw(864, 48, "relu6"))
            self.heat = pw(48, 39)
        self.reg = nn.Sequential(
            dw(864, act="relu6"), pw(864, 288, "relu6"),
            Res(288, "relu6", 2), *[Res(288, "relu6") for _ in range(4)],
            Res(288, "relu6", 2), *[Res(288, "relu6") for _ in range(5)])
        self.landmarks = Conv(288, 195, 2, pad="valid")
        self.world = Conv(288, 117, 2, pad="valid")
        self.flag = Conv(288, 1, 2, pad="valid")

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor | None, Tensor]:
        f64 = self.stage64(self.stage128(self.stem(x)))
        f32 = self.stage32(f64)
        f16 = self.stage16(f32)
        f8 = self.stage8(f16)
        heat = None
        if self.with_heatmap:
            d = up2(self.dec8(f8)) + self.skip16(f16)
            d = up2(d) + self.skip32(f32)
            heat = self.heat(up2(d) + self.skip64(f64))
        r = self.reg(f8)
        n = x.shape[0]
        return (self.landmarks(r).reshape(n, 195), torch.sigmoid(self.flag(r)).reshape(n, 1),
                heat, self.world(r).reshape(n, 117))


class FaceDetectorFullRange(nn.Module):
    """face_detection_full_range_sparse.tflite. Input [N,3,192,192] RGB in [-1, 1] (letterboxed).

    Returns (regressors [N,2304,16], classificators [N,2304,1]), raw (no sigmoid); one anchor per
    cell of a 48x48 grid (stride 4), ordered (y, x).
    """

    def __init__(self) -> None:
        super().__init__()
        self.stem = Conv(3, 32, 3, 2, act="relu")
        self.s96 = nn.Sequential(FaceBlock(32, 8), FaceBlock(32, 8))
        self.s48 = nn.Sequential(face_down(32, 16, 64), FaceBlock(64, 16), FaceBlock(64, 16))
        self.s24 = nn.Sequential(face_down(64, 32, 128), FaceBlock(128, 32), FaceBlock(128, 32))
        self.s12 = nn.Sequential(face_down(128, 48, 192), FaceBlock(192, 48), FaceBlock(192, 48))
        self.s6 = nn.Sequential(face_down(192, 96, 384), *[FaceBlock(384, 96) for _ in range(3)])
        self.skip48, self.skip24, self.skip12 = pw(64, 48, "relu"), pw(128, 64, "relu"), pw(192, 96, "relu")
        self.top12, self.dec12 = pw(384, 96, "relu"), nn.Sequential(FaceBlock(96, 48), FaceBlock(96, 48))
        self.top24, self.dec24 = pw(96, 64, "relu"), nn.Sequential(FaceBlock(64, 32), FaceBlock(64, 32))
        self.top48, self.dec48 = pw(64, 48, "relu"), FaceBlock(48, 24)
        # heads: 1x1 at 48x48, depthwise stride 2 to 24x24, depth_to_space back to 48x48
        self.cls = nn.Sequential(pw(48, 4), dw(4, 3, 2))
        self.reg = nn.Sequential(pw(48, 64), dw(64, 3, 2))

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        f48 = self.s48(self.s96(self.stem(x)))
        k48 = self.skip48(f48)
        f24 = self.s24(f48)
        k24 = self.skip24(f24)
        f12 = self.s12(f24)
        k12 = self.skip12(f12)
        f = self.s6(f12)
        f = self.dec12(k12 + up2(self.top12(f)))
        f = self.dec24(k24 + up2(self.top24(f)))
        f = self.dec48(k48 + up2(self.top48(f)))
        cls = flat(depth_to_space(self.cls(f)), 1)
        reg = flat(depth_to_space(self.reg(f)), 16)
        return reg, cls


#: Input side (square, pixels) and value range of RGB inputs, per MediaPipe's ImageToTensor options.
INPUT_SIZE = {"pose_detection": 224, "pose_landmark_full": 256, "face_detection_full_range": 192}
INPUT_RANGE = {"pose_detection": (-1.0, 1.0), "pose_landmark_full": (0.0, 1.0),
               "face_detection_full_range": (-1.0, 1.0)}

NETS: dict[str, type[nn.Module]] = {
    "pose_detection": PoseDetector,
    "pose_landmark_full": PoseLandmarkFull,
    "face_detection_full_range": FaceDetectorFullRange,
}


def load(name: str, device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32,
         weights_dir: str | Path | None = None, **kw) -> nn.Module:
    """One of NETS (built with **kw, e.g. heatmap=False) with its shipped weights, in eval mode.

    Weights are read with safetensors (never pickle). The module is put in channels_last memory
    format: 1.2-1.4x faster on CPU for these depthwise nets; NCHW-contiguous inputs are fine.
    """
    from safetensors.torch import load_file

    if name not in NETS:
        raise KeyError(f"unknown network {name!r}: use one of {', '.join(NETS)}")
    net = NETS[name](**kw)
    state = load_file(str(Path(weights_dir or WEIGHTS_DIR) / WEIGHT_FILES[name]))
    wanted = net.state_dict().keys()  # a net built without optional heads uses a subset
    net.load_state_dict({k: state[k].float() for k in wanted}, strict=True)
    net = net.to(device=device, dtype=dtype, memory_format=torch.channels_last)
    return net.train(False).requires_grad_(False)


__all__ = ["INPUT_RANGE", "INPUT_SIZE", "NETS", "WEIGHTS_DIR", "FaceDetectorFullRange",
           "PoseDetector", "PoseLandmarkFull", "load"]
