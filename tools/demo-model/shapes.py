"""Procedural dataset for the sdcl demo model: one coloured shape on a plain
background, 64x64 RGB, with an English caption.

Every image is a pure function of (seed, index), so the dataset, the held-out
split and the semantic test prompts are reproducible without storing images.
The attribute tables here are the single source of truth: the C semantic test
(tests/semantic) reads the same names and colours from attributes.json, which
tools/demo-model/make_prompts.py writes from them.
"""
import json
import math
import sys

import numpy as np

SIZE = 64
SUPERSAMPLE = 4

COLORS = {  # name -> sRGB
    "red": (220, 30, 30),
    "green": (30, 170, 50),
    "blue": (30, 60, 220),
    "yellow": (240, 220, 30),
    "purple": (140, 40, 180),
    "orange": (245, 130, 20),
    "white": (245, 245, 245),
    "black": (15, 15, 15),
}
BACKGROUNDS = ["white", "black", "gray", "blue", "green", "yellow", "red"]
BG_RGB = dict(COLORS, gray=(128, 128, 128))
SHAPES = ["circle", "square", "triangle", "star"]
SIZES = {"small": 8.0, "large": 14.0}  # circumradius-like half extent, pixels
POSITIONS = {  # name -> centre (x, y) in pixels
    "top left": (18, 18),
    "top right": (46, 18),
    "bottom left": (18, 46),
    "bottom right": (46, 46),
    "center": (32, 32),
}


def held_out(color, shape, position, background):
    """About 12% of full attribute combinations never appear in training:
    the semantic tests prompt with those."""
    key = f"{color}|{shape}|{position}|{background}"
    h = 0
    for ch in key.encode():
        h = (h * 131 + ch) % 1000003
    return h % 8 == 0


def _coverage(shape, cx, cy, r, rot):
    """Anti-aliased coverage mask (SIZE x SIZE, float32 in [0,1])."""
    # Only the shape's bounding box is supersampled: the rest is background.
    half = int(math.ceil(r * 1.2)) + 2
    x0, y0 = max(0, int(cx) - half), max(0, int(cy) - half)
    x1, y1 = min(SIZE, int(cx) + half + 1), min(SIZE, int(cy) + half + 1)
    cxs = (np.arange(x0 * SUPERSAMPLE, x1 * SUPERSAMPLE, dtype=np.float32) + 0.5) / SUPERSAMPLE
    cys = (np.arange(y0 * SUPERSAMPLE, y1 * SUPERSAMPLE, dtype=np.float32) + 0.5) / SUPERSAMPLE
    x, y = np.meshgrid(cxs, cys)
    dx, dy = x - cx, y - cy
    if shape == "circle":
        inside = dx * dx + dy * dy <= r * r
    elif shape == "square":
        ca, sa = math.cos(rot), math.sin(rot)
        u, v = dx * ca + dy * sa, -dx * sa + dy * ca
        h = r * 0.85
        inside = (np.abs(u) <= h) & (np.abs(v) <= h)
    elif shape == "triangle":
        inside = _polygon(dx, dy, _regular(3, r * 1.1, -math.pi / 2 + rot, 0.0, cy_shift=r * 0.15))
    else:  # star
        inside = _star(dx, dy, r * 1.15, rot)
    cov = np.zeros((SIZE, SIZE), np.float32)
    cov[y0:y1, x0:x1] = inside.astype(np.float32).reshape(y1 - y0, SUPERSAMPLE, x1 - x0, SUPERSAMPLE).mean(axis=(1, 3))
    return cov


def _regular(k, r, phase, _unused, cy_shift=0.0):
    return [(r * math.cos(phase + 2 * math.pi * i / k), r * math.sin(phase + 2 * math.pi * i / k) + cy_shift)
            for i in range(k)]


def _polygon(x, y, pts):
    """Inside test for a convex polygon given counter-clockwise or clockwise."""
    inside = np.ones_like(x, dtype=bool)
    sign = None
    for i in range(len(pts)):
        (x0, y0), (x1, y1) = pts[i], pts[(i + 1) % len(pts)]
        cross = (x1 - x0) * (y - y0) - (y1 - y0) * (x - x0)
        if sign is None:
            cx = sum(p[0] for p in pts) / len(pts)
            cy = sum(p[1] for p in pts) / len(pts)
            sign = 1.0 if (x1 - x0) * (cy - y0) - (y1 - y0) * (cx - x0) > 0 else -1.0
        inside &= cross * sign >= 0
    return inside


def _star(x, y, r, rot):
    """Five-pointed star: union of the inner pentagon and five point triangles."""
    inner = r * 0.42
    phase = -math.pi / 2 + rot
    outer_pts = [(r * math.cos(phase + 2 * math.pi * i / 5), r * math.sin(phase + 2 * math.pi * i / 5)) for i in range(5)]
    inner_pts = [(inner * math.cos(phase + math.pi / 5 + 2 * math.pi * i / 5),
                  inner * math.sin(phase + math.pi / 5 + 2 * math.pi * i / 5)) for i in range(5)]
    inside = _polygon(x, y, inner_pts)
    for i in range(5):
        tri = [inner_pts[i - 1], outer_pts[i], inner_pts[i]]
        inside |= _polygon(x, y, tri)
    return inside


def sample_attributes(rng):
    color = list(COLORS)[rng.integers(len(COLORS))]
    bg = color
    while bg == color:
        bg = BACKGROUNDS[rng.integers(len(BACKGROUNDS))]
    return {
        "color": color,
        "shape": SHAPES[rng.integers(len(SHAPES))],
        "size": list(SIZES)[rng.integers(len(SIZES))],
        "position": list(POSITIONS)[rng.integers(len(POSITIONS))],
        "background": bg,
    }


def caption(a, rng=None, full=False):
    """'a small red circle in the top left on a blue background', with parts
    dropped at random during training so short prompts work too."""
    keep = (lambda p: True) if full else (lambda p: rng.random() < p)
    words = ["a"]
    if keep(0.5):
        words.append(a["size"])
    if keep(0.9):
        words.append(a["color"])
    words.append(a["shape"] if keep(0.9) else "shape")
    if keep(0.6):
        words += ["in the", a["position"]]
    if keep(0.5):
        words += ["on a", a["background"], "background"]
    return " ".join(words)


def render(a, rng):
    cx, cy = POSITIONS[a["position"]]
    cx += rng.uniform(-2.5, 2.5)
    cy += rng.uniform(-2.5, 2.5)
    r = SIZES[a["size"]] * rng.uniform(0.9, 1.1)
    rot = rng.uniform(-0.15, 0.15)
    cov = _coverage(a["shape"], cx, cy, r, rot)[..., None]
    fg = np.array(COLORS[a["color"]], np.float32)
    bg = np.array(BG_RGB[a["background"]], np.float32)
    img = bg * (1 - cov) + fg * cov
    img += rng.normal(0, 2.0, img.shape).astype(np.float32)  # a little texture
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def make_dataset(n, seed):
    """n training examples (never a held-out combination): images uint8
    [n,64,64,3], captions list, attribute dicts."""
    rng = np.random.default_rng(seed)
    images = np.empty((n, SIZE, SIZE, 3), np.uint8)
    caps, attrs = [], []
    i = 0
    while i < n:
        a = sample_attributes(rng)
        if held_out(a["color"], a["shape"], a["position"], a["background"]):
            continue
        images[i] = render(a, rng)
        caps.append(caption(a, rng))
        attrs.append(a)
        i += 1
    return images, caps, attrs


def held_out_prompts(count, seed):
    """Full-caption prompts whose attribute combination training never saw."""
    rng = np.random.default_rng(seed)
    out = []
    while len(out) < count:
        a = sample_attributes(rng)
        if held_out(a["color"], a["shape"], a["position"], a["background"]):
            out.append((caption(a, full=True), a))
    return out


def attributes_json():
    return {
        "size": SIZE,
        "colors": {k: list(v) for k, v in COLORS.items()},
        "backgrounds": {k: list(BG_RGB[k]) for k in BACKGROUNDS},
        "shapes": SHAPES,
        "positions": {k: list(v) for k, v in POSITIONS.items()},
    }


if __name__ == "__main__":
    if "--write-attributes" in sys.argv:
        print(json.dumps(attributes_json(), indent=1))
    elif "--preview" in sys.argv:
        from PIL import Image
        imgs, caps, _ = make_dataset(16, 1)
        sheet = np.concatenate([np.concatenate(list(imgs[r * 4:(r + 1) * 4]), axis=1) for r in range(4)], axis=0)
        Image.fromarray(sheet).resize((512, 512), Image.NEAREST).save(sys.argv[-1])
        print("\n".join(caps))
