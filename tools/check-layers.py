#!/usr/bin/env python3
"""Checks that engine/ and opencl/ include one way down their layers.

Every `#include "..."` of every .c/.h/.cc file under engine/ and opencl/ is
resolved the way the compiler resolves it (the including file's folder
first, then the include folders of engine/meson.build, in INCLUDE_DIRS'
order).  A file may include headers of its own layer or of a layer below
it in LAYERS; anything else fails, and so does a cycle between folders
(which the order alone already excludes, but a folder missing from LAYERS
would hide), and so does an include that resolves to no file.  Headers the
build generates (GENERATED) are not the project's layers and are skipped.

Usage: check-layers.py [SOURCE_ROOT]   (exit status 1 on a violation)
"""
import os
import re
import sys

# The layers, lowest first: a folder (relative to the source root) or a
# single file.  docs/ARCHITECTURE.md shows the same table.
LAYERS = [
    ("common", "common"),             # file helpers shared with the tools
    ("sdcl.h", "engine/sdcl.h"),      # the public declarations (status codes, params)
    ("base", "engine/base"),          # error helpers, strict JSON, data folders
    ("opencl", "opencl"),             # the device layer
    ("io", "engine/io"),              # safetensors, weight sets, config types
    ("nets", "engine/nets"),          # layers, UNet, VAE, block trees, LDM names
    ("text", "engine/text"),          # tokenizer, CLIP text encoder
    ("sampling", "engine/sampling"),  # schedules, sampler table and steps, noise
    ("loader", "engine/loader"),      # opening a model, configs
    ("api", "engine/api"),            # what the public objects hold, the context
    ("families", "engine/families"),  # SD 1.x, SD 2.x, SDXL
    ("pipeline", "engine/pipeline"),  # a run, img2img, inpainting, images
    ("engine", "engine"),             # the model object, the demo model
]

# engine/meson.build's include_directories, in order (engine_inc).
INCLUDE_DIRS = ["engine", "engine/base", "engine/io", "engine/nets", "engine/text",
                "engine/sampling", "engine/loader", "engine/api", "engine/families",
                "engine/pipeline", "opencl", "common"]

GENERATED = {"config.h", "kernels_embedded.h"}
SCANNED = ["engine", "opencl"]
SKIPPED_DIRS = {"opencl/kernels"}     # OpenCL C, built separately
SOURCE_EXT = (".c", ".h", ".cc")
INCLUDE_RE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def layer_of(rel):
    """Index into LAYERS of a source-root-relative path: the file itself, or
    the folder it is directly in (a new subfolder belongs to no layer)."""
    for i, (_, where) in enumerate(LAYERS):
        if rel == where:
            return i
    for i, (_, where) in enumerate(LAYERS):
        if os.path.dirname(rel) == where:
            return i
    return None


def resolve(root, including, name):
    """Where the compiler finds `name` included from `including`, or None."""
    for d in [os.path.dirname(including)] + INCLUDE_DIRS:
        path = os.path.normpath(os.path.join(d, name))
        if os.path.isfile(os.path.join(root, path)):
            return path
    return None


def sources(root):
    for top in SCANNED:
        for dirpath, dirnames, filenames in os.walk(os.path.join(root, top)):
            rel_dir = os.path.relpath(dirpath, root)
            dirnames[:] = [d for d in dirnames if os.path.join(rel_dir, d) not in SKIPPED_DIRS]
            for f in sorted(filenames):
                if f.endswith(SOURCE_EXT):
                    yield os.path.join(rel_dir, f)


def check(root):
    problems = []
    edges = {}
    for src in sources(root):
        mine = layer_of(src)
        if mine is None:
            problems.append(f"{src}: its folder is not in the layer table (tools/check-layers.py)")
            continue
        with open(os.path.join(root, src), encoding="utf-8") as f:
            text = f.read()
        for name in INCLUDE_RE.findall(text):
            if name in GENERATED:
                continue
            target = resolve(root, src, name)
            if target is None:
                problems.append(f'{src}: includes "{name}", which is no file of the tree')
                continue
            theirs = layer_of(target)
            if theirs is None:
                problems.append(f'{src}: includes "{name}" ({target}), which is in no layer')
                continue
            if theirs != mine:
                edges.setdefault(mine, set()).add(theirs)
            if theirs > mine:
                problems.append(f'{src}: includes "{name}" ({target}): layer '
                                f'{LAYERS[mine][0]} may not include {LAYERS[theirs][0]}, '
                                f'which is above it')
    problems += cycles(edges)
    return problems


def cycles(edges):
    """Cycles in the folder graph, each named once."""
    found, state = [], {}

    def visit(n, path):
        state[n] = 1
        for m in sorted(edges.get(n, ())):
            if state.get(m) == 1:
                loop = path[path.index(m):] + [m]
                found.append("include cycle between folders: "
                             + " -> ".join(LAYERS[i][0] for i in loop))
            elif m not in state:
                visit(m, path + [m])
        state[n] = 2

    for n in sorted(edges):
        if n not in state:
            visit(n, [n])
    return found


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..")
    problems = check(root)
    for p in problems:
        print(p)
    if problems:
        print(f"{len(problems)} layering problem(s); the allowed order (lowest first): "
              + ", ".join(name for name, _ in LAYERS))
        return 1
    n = sum(1 for _ in sources(root))
    print(f"{n} files of engine/ and opencl/ include only their own or lower layers")
    return 0


if __name__ == "__main__":
    sys.exit(main())
