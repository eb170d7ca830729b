"""Writes the data of the semantic tests (tests/semantic) from shapes.py, the
single source of truth for the demo model's attributes:

  attributes.json     palette, backgrounds, shapes, positions (shapes.attributes_json)
  prompts.tsv         held-out full-attribute prompts and what each one asks for
  renders.png/.tsv    a sheet of clean renders and their attributes: the
                      analyzer's own test (test_analyze)
  img2img-*.png       inputs of the image-to-image test
  inpaint-init.png    input of the inpainting test

Everything is a pure function of the fixed seeds below, so rerunning this
script rewrites identical files (unless shapes.py changed).

Usage: python make_prompts.py [--out tests/semantic]
       python make_prompts.py --validate N DIR   (N extra renders for a
           one-off, larger check of the analyzer:
           test_analyze DIR/renders.png DIR/renders.tsv)
Needs numpy and PIL (the reference venv, /opt/sdcl-ref/bin/python).
"""
import argparse
import json
import os
import sys

import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import shapes  # noqa: E402

PROMPT_COUNT = 24
PROMPT_SEED = 8008
RENDER_SEED = 4242
SHEET_COLUMNS = 10
COLUMNS = ["prompt", "color", "shape", "size", "position", "background"]

# Inputs of the edit tests: (file, attributes, seed).  The inpainting input
# keeps the top-right quadrant free (the test masks and repaints it).
EDIT_INPUTS = [
    ("img2img-a.png", dict(color="red", shape="circle", size="large", position="top left", background="white"), 11),
    ("img2img-b.png", dict(color="yellow", shape="square", size="large", position="bottom right",
                           background="blue"), 12),
    ("inpaint-init.png", dict(color="blue", shape="circle", size="large", position="bottom left",
                              background="gray"), 13),
]


def attributes():
    """shapes.attributes_json() plus what the analyzer needs to judge size:
    the nominal half extents (SIZES) and each shape's area in units of the
    half extent squared, measured on shapes' own rasteriser at r = 20."""
    a = shapes.attributes_json()
    a["sizes"] = dict(shapes.SIZES)
    r = 20.0
    a["shape_area"] = {s: round(float(shapes._coverage(s, 32.0, 32.0, r, 0.0).sum()) / (r * r), 4)
                       for s in shapes.SHAPES}
    return a


def write_tsv(path, rows):
    with open(path, "w", encoding="utf-8") as f:
        f.write("\t".join(COLUMNS) + "\n")
        for r in rows:
            f.write("\t".join(r[c] for c in COLUMNS) + "\n")


def render_sheet(attrs, seed):
    """Renders every attribute dict (one generator, in order) into one sheet
    of 64x64 tiles, row-major, SHEET_COLUMNS per row."""
    rng = np.random.default_rng(seed)
    rows = -(-len(attrs) // SHEET_COLUMNS)
    s = shapes.SIZE
    sheet = np.zeros((rows * s, SHEET_COLUMNS * s, 3), np.uint8)
    for i, a in enumerate(attrs):
        y, x = divmod(i, SHEET_COLUMNS)
        sheet[y * s:(y + 1) * s, x * s:(x + 1) * s] = shapes.render(a, rng)
    return sheet


def balanced_attributes(repeats, seed):
    """Every shape x size x position `repeats` times, colour and background
    drawn at random (as the dataset does: never the same)."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(repeats):
        for shape in shapes.SHAPES:
            for size in shapes.SIZES:
                for pos in shapes.POSITIONS:
                    a = shapes.sample_attributes(rng)
                    a.update(shape=shape, size=size, position=pos)
                    out.append(a)
    return out


def write_renders(out, attrs, seed):
    Image.fromarray(render_sheet(attrs, seed)).save(os.path.join(out, "renders.png"), optimize=True)
    write_tsv(os.path.join(out, "renders.tsv"), [dict(a, prompt=shapes.caption(a, full=True)) for a in attrs])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(HERE, "..", "..", "tests", "semantic"))
    ap.add_argument("--validate", nargs=2, metavar=("N", "DIR"))
    args = ap.parse_args()

    if args.validate:
        n, out = int(args.validate[0]), args.validate[1]
        os.makedirs(out, exist_ok=True)
        per = len(shapes.SHAPES) * len(shapes.SIZES) * len(shapes.POSITIONS)
        write_renders(out, balanced_attributes(-(-n // per), 777), 778)
        return

    out = args.out
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "attributes.json"), "w", encoding="utf-8") as f:
        json.dump(attributes(), f, indent=1)
        f.write("\n")

    # Distinct held-out prompts in the order shapes.held_out_prompts draws
    # them, skipping any that would over-represent a shape, position or
    # colour (a plain draw of 24 gives, e.g., one star and no orange).
    caps = {"shape": PROMPT_COUNT // len(shapes.SHAPES),
            "position": -(-PROMPT_COUNT // len(shapes.POSITIONS)),
            "color": -(-PROMPT_COUNT // len(shapes.COLORS)) + 1}
    rows, seen = [], set()
    for prompt, a in shapes.held_out_prompts(100 * PROMPT_COUNT, PROMPT_SEED):
        if len(rows) == PROMPT_COUNT:
            break
        if prompt in seen or any(sum(r[k] == a[k] for r in rows) >= n for k, n in caps.items()):
            continue
        seen.add(prompt)
        rows.append(dict(a, prompt=prompt))
    assert len(rows) == PROMPT_COUNT
    write_tsv(os.path.join(out, "prompts.tsv"), rows)

    # 40 clean renders: every shape, size and position once (the committed
    # check of the analyzer; --validate makes a larger one).
    write_renders(out, balanced_attributes(1, RENDER_SEED), RENDER_SEED + 1)

    for name, a, seed in EDIT_INPUTS:
        img = shapes.render(a, np.random.default_rng(seed))
        Image.fromarray(img).save(os.path.join(out, name), optimize=True)


if __name__ == "__main__":
    main()
