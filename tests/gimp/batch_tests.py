#!/usr/bin/env python3
"""Batch tests of the sdcl GIMP plug-in in a real GIMP (2.10 or 3.0).

Installs the built plug-in into a fresh, temporary GIMP profile, runs one
gimp-console session whose Script-Fu drives every procedure on the fixture
image (tests/reference/fixtures/images/init-48x64.png) with the tiny model,
and judges the run by what the script reported and by the PNGs it exported:

  * each procedure adds one new layer, above the source, of the right size
    and offsets, named after prompt and seed, returning the seed;
  * the source layer's pixels are unchanged (8-bit, 16-bit linear, float);
  * inpainting: the new layer has a mask, and outside the selection the
    composite is unchanged while inside it changed;
  * inpainting without a selection and a bad model path fail with a clear
    message and leave the image as it was (layers and composite).

GIMP 2.10's exit status is always 0, so nothing here trusts it; GIMP 3.0's
is checked as well.  The Script-Fu dialects differ, so a small prelude per
version (gimp2.scm / gimp3.scm) defines the sd-* helpers the shared body
(body.scm) uses.
"""
import argparse
import os
import re
import shutil
import struct
import subprocess
import sys
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))


# ---- a minimal PNG reader (8/16-bit grey, grey+alpha, RGB, RGBA) -------------

def read_png(path):
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError(f"{path}: not a PNG")
    pos, idat, hdr = 8, b"", None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind = data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            hdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            break
    width, height, depth, ctype, _, _, interlace = hdr
    if interlace or depth not in (8, 16) or ctype not in (0, 2, 4, 6):
        raise ValueError(f"{path}: unsupported PNG (depth {depth}, type {ctype}, interlace {interlace})")
    channels = {0: 1, 2: 3, 4: 2, 6: 4}[ctype]
    bpp = channels * depth // 8
    stride = width * bpp
    raw = zlib.decompress(idat)
    rows, prev = [], bytearray(stride)
    for y in range(height):
        ftype = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if ftype == 1:
                line[i] = (line[i] + a) & 255
            elif ftype == 2:
                line[i] = (line[i] + b) & 255
            elif ftype == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif ftype == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    return width, height, bpp, rows


def pixel(img, x, y):
    _, _, bpp, rows = img
    return rows[y][x * bpp:(x + 1) * bpp]


# ---- the run ------------------------------------------------------------------

class Checks:
    def __init__(self):
        self.failed = 0
        self.count = 0

    def ok(self, cond, what):
        self.count += 1
        print(("ok %d - " if cond else "not ok %d - ") % self.count + what)
        if not cond:
            self.failed += 1
        return cond


def make_profile(args, work):
    """A fresh GIMP profile with only our plug-in (and its catalogs) added."""
    profile = os.path.join(work, "profile")
    shutil.rmtree(work, ignore_errors=True)
    plugdir = os.path.join(profile, "plug-ins", "sdcl-gimp")
    os.makedirs(plugdir)
    # A fresh copy (new mtime) so GIMP queries it; GIMP 3 needs the folder.
    shutil.copy(args.plugin, os.path.join(plugdir, "sdcl-gimp"))
    if args.po_build_dir and os.path.isdir(args.po_build_dir):
        for lang in os.listdir(args.po_build_dir):
            mo = os.path.join(args.po_build_dir, lang, "LC_MESSAGES", "sdcl.mo")
            if os.path.isfile(mo):
                dest = os.path.join(plugdir, "locale", lang, "LC_MESSAGES")
                os.makedirs(dest, exist_ok=True)
                shutil.copy(mo, dest)
    for sub in ("gradients", "brushes", "patterns", "palettes"):
        os.makedirs(os.path.join(profile, sub), exist_ok=True)
    return profile


def linked_model(args, out):
    """The model in a folder of its own with a Lora/ folder beside it
    (symbolic links), where <lora:NAME> tags look by default."""
    models = os.path.join(os.path.dirname(out), "models")
    fixtures = os.path.dirname(os.path.dirname(os.path.abspath(args.model)))
    os.makedirs(os.path.join(models, "Lora"), exist_ok=True)
    link = os.path.join(models, "tiny-sd")
    if not os.path.lexists(link):
        os.symlink(os.path.abspath(args.model), link)
    lora = os.path.join(models, "Lora", "kohya.safetensors")
    if not os.path.lexists(lora):
        os.symlink(os.path.join(fixtures, "lora", "kohya.safetensors"), lora)
    return link


def script_for(args, out):
    def q(s):
        return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'
    with open(os.path.join(HERE, "gimp%d.scm" % args.api)) as f:
        prelude = f.read()
    with open(os.path.join(HERE, "body.scm")) as f:
        body = f.read()
    fixtures = os.path.dirname(os.path.dirname(os.path.abspath(args.model)))
    settings = (f"(define sd-model {q(args.model)})\n"
                f"(define sd-model-linked {q(linked_model(args, out))})\n"
                f"(define sd-lora {q(os.path.join(fixtures, 'lora', 'kohya.safetensors'))})\n"
                f"(define sd-lora2 {q(os.path.join(fixtures, 'lora', 'peft.safetensors'))})\n"
                f"(define sd-embedding "
                f"{q(os.path.join(fixtures, 'embeddings', 'tinyemb.safetensors'))})\n"
                f"(define sd-model-sdxl "
                f"{q(os.path.join(fixtures, 'models', 'tiny-sdxl-sgm-f16.safetensors'))})\n"
                f"(define sd-image {q(args.image)})\n"
                f"(define sd-out {q(out + os.sep)})\n")
    return "(begin\n" + prelude + settings + body + "\n)"


def run_gimp(args, profile, script, log_path):
    env = dict(os.environ)
    env["GIMP2_DIRECTORY" if args.api == 2 else "GIMP3_DIRECTORY"] = profile
    env["XDG_CONFIG_HOME"] = os.path.join(profile, "xdg-config")
    env["XDG_DATA_HOME"] = os.path.join(profile, "xdg-data")
    env["XDG_CACHE_HOME"] = os.path.join(profile, "xdg-cache")
    env.setdefault("SDCL_CACHE_DIR", os.path.join(profile, "sdcl-cache"))
    env.pop("DISPLAY", None)
    env["LC_ALL"] = "C.UTF-8"  # messages in English, whatever the host says
    env.pop("LANGUAGE", None)
    if args.api == 2:
        # -b runs each command; without (gimp-quit 0) gimp-console never exits.
        cmd = [args.gimp, "-i", "-d", "-f", "-b", script, "-b", "(gimp-quit 0)"]
    else:
        cmd = [args.gimp, "-i", "-d", "-f", "--quit",
               "--batch-interpreter=plug-in-script-fu-eval", "-b", script]
    with open(log_path, "w") as log:
        try:
            proc = subprocess.run(cmd, env=env, stdout=log, stderr=subprocess.STDOUT,
                                  timeout=args.timeout)
            rc = proc.returncode
        except subprocess.TimeoutExpired:
            rc = None
    # A runaway plug-in can write gigabytes of warnings: read a bounded part.
    cap = 8 << 20
    with open(log_path, "rb") as f:
        size = os.path.getsize(log_path)
        if size <= 2 * cap:
            text = f.read()
        else:
            head = f.read(cap)
            f.seek(size - cap)
            text = head + b"\n[... %d bytes of log skipped ...]\n" % (size - 2 * cap) + f.read()
    return rc, text.decode("utf-8", errors="replace")


def parse_results(log):
    """SDCL-RESULT <case> key=value ... lines from gimp-message output."""
    results = {}
    for m in re.finditer(r"SDCL-RESULT (\S+) (.*)", log):
        case, rest = m.group(1), m.group(2).strip()
        fields = results.setdefault(case, {})
        for kv in re.finditer(r"(\w[\w-]*)=(\"[^\"]*\"|\S+)", rest):
            fields[kv.group(1)] = kv.group(2).strip('"')
    return results


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--api", type=int, choices=(2, 3), required=True)
    ap.add_argument("--gimp", required=True, help="gimp-console-2.10 or gimp-console-3.0")
    ap.add_argument("--plugin", required=True, help="the built sdcl-gimp binary")
    ap.add_argument("--model", required=True)
    ap.add_argument("--cli", required=True, help="the built sdcl tool (reference images)")
    ap.add_argument("--image", required=True, help="the RGB test image (48x64)")
    ap.add_argument("--po-build-dir", help="where the build put <lang>/LC_MESSAGES/sdcl.mo")
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--timeout", type=int, default=900)
    args = ap.parse_args()

    work = os.path.abspath(args.workdir)
    profile = make_profile(args, work)
    out = os.path.join(work, "out")
    os.makedirs(out)
    script = script_for(args, out)
    with open(os.path.join(work, "script.scm"), "w") as f:
        f.write(script)
    rc, log = run_gimp(args, profile, script, os.path.join(work, "gimp.log"))
    c = Checks()
    print(f"# gimp-console log: {os.path.join(work, 'gimp.log')}")

    if not c.ok(rc is not None, "gimp-console finished within %d s" % args.timeout):
        print(log[-3000:])
        return 1
    if args.api == 3:
        c.ok(rc == 0, f"gimp-console-3.0 exit status 0 (got {rc})")
    r = parse_results(log)
    c.ok("done" in r, "the batch script ran to its end")

    def png(name):
        return read_png(os.path.join(out, name))

    def unchanged(case, what):
        try:
            before, after = png(case + "-src-before.png"), png(case + "-src-after.png")
        except (OSError, ValueError) as e:
            return c.ok(False, f"{case}: {what}: {e}")
        return c.ok(before == after, f"{case}: {what} (source layer pixels unchanged)")

    def layer_checks(case, w, h, x, y):
        f = r.get(case, {})
        c.ok(f.get("status") == "ok", f"{case}: the procedure succeeded ({f.get('status', 'no report')})")
        c.ok(f.get("layers") == "2", f"{case}: exactly one new layer (layers={f.get('layers')})")
        c.ok((f.get("w"), f.get("h")) == (str(w), str(h)),
             f"{case}: new layer is {w}x{h} (got {f.get('w')}x{f.get('h')})")
        c.ok((f.get("x"), f.get("y")) == (str(x), str(y)),
             f"{case}: new layer at ({x},{y}) (got ({f.get('x')},{f.get('y')}))")
        c.ok(f.get("newpos") is not None and f.get("srcpos") is not None and
             int(f["newpos"]) + 1 == int(f["srcpos"]),
             f"{case}: new layer directly above the source (positions {f.get('newpos')}, {f.get('srcpos')})")
        return f

    # txt2img: fixed seed, source layer offset by the canvas resize.
    f = layer_checks("t2i", 64, 64, 8, 16)
    c.ok(f.get("seed") == "42", f"t2i: returns the seed 42 (got {f.get('seed')})")
    c.ok(r.get("t2i-name", {}).get("name", "").endswith("(seed 42)") and
         "red circle" in r.get("t2i-name", {}).get("name", ""),
         f"t2i: layer named from prompt and seed ({r.get('t2i-name', {}).get('name')!r})")
    unchanged("t2i", "8-bit RGB")

    def cli_image(name, cli_args):
        ref = os.path.join(work, "cli-%s.png" % name)
        p = subprocess.run([args.cli, "txt2img", "--model", args.model, "--prompt", "a red circle",
                            "--negative", "blurry", "--sampler", "euler", "--steps", "4",
                            "--cfg", "7.5", "--seed", "1234", "-W", "48", "-H", "64", *cli_args,
                            "-o", ref], capture_output=True, text=True, timeout=600)
        return p, ref

    def same_as_cli(case, cli_args, why):
        """The layer is the sdcl tool's image for the same settings."""
        layer_checks(case, 48, 64, 0, 0)
        p, ref = cli_image(case, cli_args)
        try:
            got, want = png(case + ".png"), read_png(ref)
            worst = max(abs(pixel(got, x, y)[k] - pixel(want, x, y)[k])
                        for y in range(64) for x in range(48) for k in range(3))
            c.ok(p.returncode == 0 and got[:2] == want[:2] == (48, 64) and worst <= 1,
                 f"{case}: the layer is sdcl {' '.join(cli_args)}'s image (max diff {worst} "
                 f"levels; {why})")
            return want
        except (OSError, ValueError) as e:
            c.ok(False, f"{case}: {e} {p.stderr[-500:]}")

    # txt2img with tiling: the layer is `sdcl txt2img --tiling`'s image
    # (which tests/pipeline checks against diffusers with circular padding;
    # tiling changes this image by up to 0.57, so an ignored argument fails).
    same_as_cli("t2i-tiling", ["--tiling"], "tiling changes it by up to 0.57")
    # The schedule and the prediction override (issues 24 and 18): each
    # layer is the CLI's image with that option, and differs from the
    # default one (so an argument that never reaches the engine fails).
    p, default_ref = cli_image("default", [])
    for case, opt in (("t2i-schedule", ["--schedule", "exponential"]),
                      ("t2i-prediction", ["--prediction", "v"])):
        want = same_as_cli(case, opt, "the option's image")
        try:
            c.ok(want is not None and want != read_png(default_ref),
                 f"{case}: {' '.join(opt)} changes the image (so the argument is tested)")
        except (OSError, ValueError) as e:
            c.ok(False, f"{case}: default CLI image: {e} {p.stderr[-300:]}")

    # The turbo argument (appended last): the SDXL single file run as
    # SDXL-Turbo is `sdcl txt2img --turbo`'s image (which tests/edit checks
    # against diffusers' SDXL-Turbo), and without the argument another one
    # (SDXL base's schedule), so an argument that never reaches the engine
    # fails.
    fixtures = os.path.dirname(os.path.dirname(os.path.abspath(args.model)))
    sdxl = os.path.join(fixtures, "models", "tiny-sdxl-sgm-f16.safetensors")
    turbo_ref = os.path.join(work, "cli-t2i-turbo.png")
    p = subprocess.run([args.cli, "txt2img", "--model", sdxl, "--turbo", "--prompt", "a red circle",
                        "--sampler", "euler", "--steps", "1", "--cfg", "0", "--seed", "1234",
                        "-W", "48", "-H", "64", "-o", turbo_ref],
                       capture_output=True, text=True, timeout=600)
    try:
        want = read_png(turbo_ref)
        for case, same in (("t2i-turbo", True), ("t2i-noturbo", False)):
            layer_checks(case, 48, 64, 0, 0)
            got = png(case + ".png")
            worst = max(abs(pixel(got, x, y)[k] - pixel(want, x, y)[k])
                        for y in range(64) for x in range(48) for k in range(3))
            c.ok(p.returncode == 0 and (worst <= 1 if same else worst > 8),
                 f"{case}: {'the same as' if same else 'differs from'} sdcl txt2img --turbo's "
                 f"image (max diff {worst} levels)")
    except (OSError, ValueError) as e:
        c.ok(False, f"t2i-turbo: {e} {p.stderr[-500:]}")

    # LoRAs, prompt syntax and embeddings (issue 20): each layer is the
    # CLI's image for the same options, and each option changes the image
    # (so an argument that never reaches the engine fails).
    fixtures = os.path.dirname(os.path.dirname(os.path.abspath(args.model)))
    kohya = os.path.join(fixtures, "lora", "kohya.safetensors")
    peft = os.path.join(fixtures, "lora", "peft.safetensors")
    emb = os.path.join(fixtures, "embeddings", "tinyemb.safetensors")
    cat = ["--prompt", "a (red:1.5) circle"]
    tinyemb = ["--prompt", "a tinyemb circle"]
    lp_cases = (("t2i-lora", ["--lora", kohya + ":0.8"], default_ref, "no LoRA"),
                ("t2i-lora-list", ["--lora", kohya + ":0.8", "--lora", peft + ":0.5"],
                 os.path.join(work, "cli-t2i-lora.png"), "the first LoRA alone"),
                ("t2i-lora-tag", ["--lora", kohya + ":0.8"], default_ref, "no LoRA"),
                ("t2i-plain", cat + ["--prompt-syntax", "plain"], None, None),
                ("t2i-a1111", cat + ["--prompt-syntax", "a1111"],
                 os.path.join(work, "cli-t2i-plain.png"), "the plain syntax's"),
                ("t2i-embedding", tinyemb + ["--embedding", emb], None, None))
    for case, opt, other, other_what in lp_cases:
        want = same_as_cli(case, opt, "the option's image")
        if other is None:
            continue
        try:
            c.ok(want is not None and want != read_png(other),
                 f"{case}: differs from {other_what} image (so the option is tested)")
        except (OSError, ValueError) as e:
            c.ok(False, f"{case}: {e}")
    p, ref = cli_image("tinyemb-word", tinyemb)
    try:
        c.ok(read_png(ref) != png("t2i-embedding.png"),
             "t2i-embedding: the embedding changes the image (the same prompt without it differs)")
    except (OSError, ValueError) as e:
        c.ok(False, f"t2i-embedding: {e} {p.stderr[-300:]}")
    f = r.get("badlora", {})
    c.ok(f.get("failed") == "1" and f.get("layers") == "1",
         f"badlora: a missing LoRA file fails and adds no layer ({f})")
    c.ok("/nonexistent/x.safetensors" in log and "does not exist" in log,
         "badlora: the message names the missing file")

    # batch-count 3: three layers from consecutive seeds, every one returned,
    # the second the very image a run with seed 43 makes (the CLI's).
    f = r.get("t2i-batch", {})
    c.ok(f.get("layers") == "4" and f.get("returned") == "3",
         f"t2i-batch: three layers added and returned (layers={f.get('layers')}, "
         f"returned={f.get('returned')})")
    c.ok(f.get("seed") == "42" and f.get("first") == "1",
         f"t2i-batch: the first layer and seed 42 come first (seed={f.get('seed')})")
    names = [r.get("t2i-batch-%d" % i, {}).get("name", "") for i in range(3)]
    c.ok(all(n.endswith("(seed %d)" % (42 + i)) for i, n in enumerate(names)),
         f"t2i-batch: consecutive seeds 42, 43, 44 ({names})")
    p, ref = cli_image("seed43", ["--seed", "43", "--steps", "2", "--negative", ""])
    try:
        got, want = png("t2i-batch-1.png"), read_png(ref)
        worst = max(abs(pixel(got, x, y)[k] - pixel(want, x, y)[k])
                    for y in range(64) for x in range(48) for k in range(3))
        c.ok(got[:2] == want[:2] and worst <= 1,
             f"t2i-batch: the seed-43 layer is the CLI's seed-43 image (max diff {worst})")
    except (OSError, ValueError) as e:
        c.ok(False, f"t2i-batch: {e} {p.stderr[-300:]}")

    # img2img on a 16-bit linear image with a selection: the selection's box.
    f = layer_checks("i2i", 24, 32, 8, 8)
    c.ok(f.get("seed") not in (None, "-1") and int(f.get("seed", "-1")) >= 0,
         f"i2i: seed -1 picks and returns a real seed (got {f.get('seed')})")
    c.ok(str(f.get("seed")) in r.get("i2i-name", {}).get("name", ""),
         f"i2i: the random seed is in the layer name ({r.get('i2i-name', {}).get('name')!r})")
    unchanged("i2i", "16-bit linear RGB")

    # img2img on a float greyscale image without a selection: the whole layer.
    f = layer_checks("i2i-gray", 48, 64, 0, 0)
    c.ok(f.get("gray") == "1", "i2i-gray: the new layer is greyscale like the image")
    unchanged("i2i-gray", "float greyscale")

    # inpaint: the selection is a rectangle inside the (offset) layer.
    f = layer_checks("inpaint", 48, 64, 8, 16)
    c.ok(f.get("mask") == "1", "inpaint: the new layer has a layer mask from the selection")
    unchanged("inpaint", "8-bit RGB")
    try:
        before, after = png("inpaint-comp-before.png"), png("inpaint-comp-after.png")
        sx, sy, sw, sh = (int(f.get(k, "0")) for k in ("sx", "sy", "sw", "sh"))
        outside_same = inside_changed = True
        n_changed = 0
        for y in range(before[1]):
            for x in range(before[0]):
                inside = sx <= x < sx + sw and sy <= y < sy + sh
                same = pixel(before, x, y) == pixel(after, x, y)
                if not inside and not same:
                    outside_same = False
                if inside and not same:
                    n_changed += 1
        inside_changed = n_changed > 0
        c.ok(sw > 0 and before[:2] == after[:2], "inpaint: composites exported at the same size")
        c.ok(outside_same, "inpaint: composite outside the selection is bit-identical")
        c.ok(inside_changed, f"inpaint: composite inside the selection changed ({n_changed} pixels)")
    except (OSError, ValueError) as e:
        c.ok(False, f"inpaint: composites: {e}")

    # Outpaint (issue 21): the known pixels of the composite are bit-identical
    # (where they moved to on a grown canvas), the filled ones opaque.
    def outpaint_checks(case, w, h, dx, dy, known):
        f = layer_checks(case, w, h, 0, 0)
        c.ok(f.get("mask") == "1", f"{case}: the new layer is masked to the filled area")
        c.ok((f.get("cw"), f.get("ch")) == (str(w), str(h)),
             f"{case}: canvas {w}x{h} (got {f.get('cw')}x{f.get('ch')})")
        unchanged(case, "8-bit RGB")
        try:
            before, after = png(case + "-comp-before.png"), png(case + "-comp-after.png")
        except (OSError, ValueError) as e:
            return c.ok(False, f"{case}: composites: {e}")
        kept = filled = True
        n_known = 0
        for y in range(after[1]):
            for x in range(after[0]):
                a = pixel(after, x, y)
                bx, by = x - dx, y - dy
                if 0 <= bx < before[0] and 0 <= by < before[1] and known(bx, by):
                    n_known += 1
                    kept &= a[:3] == pixel(before, bx, by)[:3]
                else:
                    filled &= after[2] < 4 or a[3] == 255
        c.ok(n_known > 0 and kept, f"{case}: the {n_known} known pixels are bit-identical")
        c.ok(filled, f"{case}: every pixel to fill is filled (opaque)")

    outpaint_checks("outpaint", 64, 72, 16, 0, lambda x, y: True)
    f = r.get("outpaint", {})
    c.ok((f.get("sx"), f.get("sy")) == ("16", "0"),
         f"outpaint: the source layer moved with the canvas to (16,0) (got ({f.get('sx')},{f.get('sy')}))")
    outpaint_checks("outpaint-alpha", 48, 64, 0, 0, lambda x, y: x < 30)

    # Failures leave the image as it was.
    for case, message in (("noselection", "needs a selection"), ("badmodel", "does not exist"),
                          ("badschedule", "sampler does not take the Align Your Steps schedule"),
                          ("nothingtofill", "nothing to fill")):
        f = r.get(case, {})
        c.ok(f.get("failed") == "1", f"{case}: the procedure reported an error")
        c.ok(f.get("layers") == "1", f"{case}: no layer added (layers={f.get('layers')})")
        c.ok(message in log, f"{case}: the error says '{message}'")
        try:
            c.ok(png(case + "-comp-before.png") == png(case + "-comp-after.png"),
                 f"{case}: composite unchanged")
        except (OSError, ValueError) as e:
            c.ok(False, f"{case}: composite: {e}")

    print(f"1..{c.count}")
    if c.failed:
        print(f"# {c.failed} of {c.count} checks failed; tail of the GIMP log:")
        print("\n".join("# " + line for line in log.splitlines()[-40:]))
    return 1 if c.failed else 0


if __name__ == "__main__":
    sys.exit(main())
