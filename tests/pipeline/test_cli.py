#!/usr/bin/env python3
"""The sdcl command-line tool as a user runs it: help, devices, txt2img on
the tiny model (PNG of the asked size, same bytes for the same seed, progress
on stderr) and the documented exit codes for bad input; img2img and inpaint
on the tiny models and the golden images (tests/reference/README.md), the
PNG reader's formats (16-bit, palette, alpha masks), and their errors;
`sdcl info` on the 9-channel models of every family in both layouts, and
what text to image and image to image with their single files say;
--tiling on the demo model (the image's wrapped edges continue).

usage: test_cli.py SDCL_BINARY   (SDCL_FIXTURES set by meson)
"""
import array
import json
import os
import struct
import subprocess
import sys
import tempfile
import zlib

sdcl = sys.argv[1]
fixtures = os.environ['SDCL_FIXTURES']
tiny = os.path.join(fixtures, 'models', 'tiny-sd')
failures = []


def run(*args):
    p = subprocess.run([sdcl, *args], capture_output=True, text=True, timeout=600)
    return p.returncode, p.stdout, p.stderr


def check(cond, what, detail=''):
    """detail (e.g. the tool's stderr) is printed only on failure."""
    print(('ok   ' if cond else 'FAIL ') + what + ('' if cond or not detail else ': ' + detail))
    if not cond:
        failures.append(what)


def png_size(path):
    with open(path, 'rb') as f:
        head = f.read(24)
    check(head[:8] == b'\x89PNG\r\n\x1a\n', 'PNG signature')
    return struct.unpack('>II', head[16:24])


# ---- minimal PNG reading/writing (the standard library has none) ----

def png_read(path):
    """8-bit, non-interlaced PNG -> (width, height, channels, bytes)."""
    with open(path, 'rb') as f:
        data = f.read()
    pos, idat, ihdr = 8, b'', None
    while pos < len(data):
        n, kind = struct.unpack('>I4s', data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b'IHDR':
            ihdr = struct.unpack('>IIBBBBB', body)
        elif kind == b'IDAT':
            idat += body
        pos += 12 + n
    w, h, depth, ctype, _, _, interlace = ihdr
    assert depth == 8 and interlace == 0 and ctype in (0, 2, 6), ihdr
    c = {0: 1, 2: 3, 6: 4}[ctype]
    raw, stride = zlib.decompress(idat), w * c
    out, prev = bytearray(), bytearray(stride)
    for y in range(h):
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - c] if i >= c else 0
            b, d = prev[i], prev[i - c] if i >= c else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - d
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - d)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else d)) & 255
        out += line
        prev = line
    return w, h, c, bytes(out)


def png_write(path, w, h, ctype, depth, samples, palette=None):
    """samples: one int per sample, rows top first, no filtering."""
    c = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[ctype]
    fmt = '>%dH' % (w * c) if depth == 16 else '%dB' % (w * c)
    rows = b''.join(b'\0' + struct.pack(fmt, *samples[y * w * c:(y + 1) * w * c])
                    for y in range(h))

    def chunk(kind, body):
        return struct.pack('>I', len(body)) + kind + body + struct.pack(
            '>I', zlib.crc32(kind + body) & 0xffffffff)
    png = b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', w, h, depth, ctype, 0, 0, 0))
    if palette:
        png += chunk(b'PLTE', bytes(v for rgb in palette for v in rgb))
    png += chunk(b'IDAT', zlib.compress(rows)) + chunk(b'IEND', b'')
    with open(path, 'wb') as f:
        f.write(png)


def golden_tensor(name, tensor):
    with open(os.path.join(fixtures, 'golden', name + '.safetensors'), 'rb') as f:
        data = f.read()
    n = struct.unpack('<Q', data[:8])[0]
    meta = json.loads(data[8:8 + n])[tensor]
    assert meta['dtype'] == 'F32'
    lo, hi = meta['data_offsets']
    return array.array('f', data[8 + n + lo:8 + n + hi])


rc, out, _ = run('--help')
check(rc == 0 and 'txt2img' in out and 'Exit codes' in out, 'sdcl --help')
rc, out, _ = run('txt2img', '--help')
check(rc == 0 and '--prompt' in out and '--sampler' in out, 'sdcl txt2img --help')
rc, out, err = run('devices')
check(rc == 0 and out.startswith('0: '), 'sdcl devices lists device 0: ' + out[:80] + err)

with tempfile.TemporaryDirectory() as tmp:
    a, b = os.path.join(tmp, 'a.png'), os.path.join(tmp, 'b.png')
    common = ['txt2img', '--model', tiny, '--prompt', 'a red circle', '--negative', 'blurry',
              '--steps', '2', '-W', '48', '-H', '32', '--seed', '5']
    rc, _, err = run(*common, '-o', a)
    check(rc == 0, 'txt2img exit 0: ' + err[-300:])
    check('step 2/2' in err, 'progress on stderr')
    if rc == 0:
        check(png_size(a) == (48, 32), 'PNG is 48x32')
        rc, _, _ = run(*common, '-o', b)
        check(rc == 0 and open(a, 'rb').read() == open(b, 'rb').read(), 'same seed, same bytes')

    rc, _, err = run('txt2img', '--model', os.path.join(tmp, 'missing.safetensors'),
                     '--prompt', 'x', '-o', a)
    check(rc == 3 and 'missing.safetensors' in err, 'missing model: exit 3 naming it (%d)' % rc)
    rc, _, err = run(*common, '--sampler', 'nonsense', '-o', a)
    check(rc == 2 and 'nonsense' in err, 'unknown sampler: exit 2')
    rc, _, err = run('txt2img', '--model', tiny, '--prompt', 'x', '-W', '50', '-H', '32',
                     '-o', a)
    check(rc == 2 and 'multiple of 8' in err, 'bad width: exit 2 (%d) %s' % (rc, err.strip()))
    rc, _, err = run('txt2img', '--model', tiny, '--prompt', 'x')
    check(rc == 2 and '--output' in err, 'no output file: exit 2')
    rc, _, err = run('frobnicate')
    check(rc == 2 and 'unknown command' in err, 'unknown command: exit 2')
    rc, _, err = run(*common, '-o', os.path.join(tmp, 'no', 'such', 'dir.png'))
    check(rc == 5 and 'cannot write' in err, 'unwritable output: exit 5')


# ---- img2img and inpaint ----
tiny9 = os.path.join(fixtures, 'models', 'tiny-sd-inpaint')
init = os.path.join(fixtures, 'images', 'init-48x64.png')
mask = os.path.join(fixtures, 'images', 'mask-48x64.png')
MX0, MX1, MY0, MY1 = 13, 35, 19, 45  # the mask's rectangle (half-open)
golden_args = ['--prompt', 'a red circle', '--negative', 'blurry', '--steps', '8',
               '--sampler', 'ddim', '--seed', '99', '--precision', 'f32']

rc, out, _ = run('img2img', '--help')
check(rc == 0 and '--strength' in out and '--init' in out and '--mask' not in out,
      'sdcl img2img --help')
rc, out, _ = run('inpaint', '--help')
check(rc == 0 and '--mask-blur' in out and '--only-masked' in out, 'sdcl inpaint --help')

_, _, _, init_px = png_read(init)
with tempfile.TemporaryDirectory() as tmp:
    a, b = os.path.join(tmp, 'a.png'), os.path.join(tmp, 'b.png')

    # diffusers' img2img (DDIM, strength 0.75, 8 steps, seed 99), within
    # the 8-bit rounding plus the engine's 2e-3 tolerance.
    rc, _, err = run('img2img', '--model', tiny, '--init', init, '--strength', '0.75',
                     *golden_args, '-o', a)
    check(rc == 0 and 'step 6/6' in err, 'img2img 0.75 runs 6 of 8 steps', err[-300:])
    if rc == 0:
        w, h, c, px = png_read(a)
        want = golden_tensor('img2img_ddim_0.75', 'image')
        worst = max(abs(px[i] / 255 - want[i]) for i in range(len(want)))
        check((w, h, c) == (48, 64, 3) and worst <= 0.5 / 255 + 2e-3,
              'img2img matches diffusers (max |diff| %.4f)' % worst)

    rc, _, err = run('img2img', '--model', tiny, '--init', init, '--strength', '0', '-o', a)
    check(rc == 0 and png_read(a)[3] == init_px, 'img2img strength 0 returns the input')

    # 16-bit RGB (k * 257 = k / 255 exactly) reads as the 8-bit file does.
    init16 = os.path.join(tmp, 'init16.png')
    png_write(init16, 48, 64, 2, 16, [v * 257 for v in init_px])
    run('img2img', '--model', tiny, '--init', init, '--strength', '0.5', '--steps', '2',
        '--seed', '1', '-o', a)
    rc, _, err = run('img2img', '--model', tiny, '--init', init16, '--strength', '0.5',
                     '--steps', '2', '--seed', '1', '-o', b)
    check(rc == 0 and png_read(a)[3] == png_read(b)[3], '16-bit init reads as 8-bit', err[-200:])

    # Inpainting with the 9-channel model: pixels the blurred mask cannot
    # reach (sigma 2 -> 6 px) are the input's, the rectangle is repainted.
    rc, _, err = run('inpaint', '--model', tiny9, '--init', init, '--mask', mask,
                     '--mask-blur', '2', *golden_args, '-o', a)
    check(rc == 0, 'inpaint (9-channel) exit 0', err[-300:])
    if rc == 0:
        _, _, _, px = png_read(a)
        outside = inside = 0
        for y in range(64):
            for x in range(48):
                same = px[(y * 48 + x) * 3:(y * 48 + x + 1) * 3] == init_px[(y * 48 + x) * 3:(y * 48 + x + 1) * 3]
                if MX0 - 6 <= x < MX1 + 6 and MY0 - 6 <= y < MY1 + 6:
                    inside += not same
                else:
                    outside += not same
        check(outside == 0 and inside > 200,
              'inpaint keeps the outside (%d changed) and repaints the mask (%d)' % (outside, inside))

    # The same mask as a palette PNG and as the alpha of an RGBA PNG (with
    # noise in RGB) gives the same picture as the grey file.
    _, _, _, mask_px = png_read(mask)
    pal, rgba = os.path.join(tmp, 'pal.png'), os.path.join(tmp, 'rgba.png')
    png_write(pal, 48, 64, 3, 8, [1 if v else 0 for v in mask_px], [(0, 0, 0), (255, 255, 255)])
    png_write(rgba, 48, 64, 6, 8, [s for i, v in enumerate(mask_px) for s in (i % 251, 7, 99, v)])
    base = ['inpaint', '--model', tiny, '--init', init, '--steps', '2', '--seed', '3']
    run(*base, '--mask', mask, '-o', a)
    ref = png_read(a)[3]
    for kind, path in (('palette', pal), ('RGBA alpha', rgba)):
        rc, _, err = run(*base, '--mask', path, '-o', b)
        check(rc == 0 and png_read(b)[3] == ref, kind + ' mask reads as the grey one', err[-200:])

    rc, _, err = run(*base, '--mask', mask, '--only-masked', '--padding', '4', '-o', b)
    check(rc == 0 and png_read(b)[:3] == (48, 64, 3), 'inpaint --only-masked', err[-200:])

    short = os.path.join(tmp, 'short.png')
    png_write(short, 48, 63, 0, 8, [0] * (48 * 63))
    rc, _, err = run(*base, '--mask', short, '-o', b)
    check(rc == 2 and '48x63' in err and '48x64' in err, 'mask size mismatch: exit 2 naming both sizes')
    rc, _, err = run(*base, '--mask', os.path.join(fixtures, 'golden', 'vae_encoder.json'), '-o', b)
    check(rc == 2 and 'not a PNG' in err, 'non-PNG mask: exit 2')
    rc, _, err = run(*base, '-o', b)
    check(rc == 2 and '--mask' in err, 'inpaint without --mask: exit 2')
    rc, _, err = run('img2img', '--model', tiny9, '--init', init, '-o', b)
    check(rc == 2 and 'inpainting model' in err, 'img2img with a 9-channel model: exit 2')


# ---- sdcl info: family, layout and inpainting or not ----

# (model under models/, family, layout, UNet input channels): the 9-channel
# models in both layouts (the single files' width comes from conv_in's
# shape), and the plain single files, which must not say inpainting.
INFO_MODELS = (
    ('tiny-sd-inpaint', 'SD 1.x', 'diffusers', 9),
    ('tiny-sd2-inpaint', 'SD 2.x', 'diffusers', 9),
    ('tiny-sd2-inpaint-ldm-f16.safetensors', 'SD 2.x', 'single-file', 9),
    ('tiny-sd2-ldm.safetensors', 'SD 2.x', 'single-file', 4),
    ('tiny-sdxl-inpaint', 'SDXL', 'diffusers', 9),
    ('tiny-sdxl-inpaint-sgm-f16.safetensors', 'SDXL', 'single-file', 9),
    ('tiny-sdxl-sgm-f16.safetensors', 'SDXL', 'single-file', 4),
)
for name, family, layout, channels in INFO_MODELS:
    rc, out, err = run('info', '--model', os.path.join(fixtures, 'models', name))
    want = ['family:       %s (%s layout)' % (family, layout),
            'unet inputs:  %d channels%s\n' % (channels, ' (inpainting)' if channels == 9 else '')]
    check(rc == 0 and all(w in out for w in want),
          'sdcl info %s: %s' % (name, '; '.join(w.strip() for w in want)), out + err)

# What a user sees running a 9-channel single file for text to image and
# image to image: exit 2 naming the cause and what to use instead.
with tempfile.TemporaryDirectory() as tmp:
    o = os.path.join(tmp, 'o.png')
    for name, family in (('tiny-sd2-inpaint-ldm-f16.safetensors', 'SD 2.x'),
                         ('tiny-sdxl-inpaint-sgm-f16.safetensors', 'SDXL')):
        model = os.path.join(fixtures, 'models', name)
        rc, _, err = run('txt2img', '--model', model, '-p', 'x', '--steps', '1', '-o', o)
        check(rc == 2 and 'inpainting model (the UNet takes 9 input channels)' in err
              and 'use a regular %s model' % family in err and not os.path.exists(o),
              'txt2img with %s: exit 2 naming the inpainting model' % name, err)
        rc, _, err = run('img2img', '--model', model, '--init', init, '--steps', '1', '-o', o)
        check(rc == 2 and 'it needs a mask' in err and not os.path.exists(o),
              'img2img with %s: exit 2, it needs a mask' % name, err)


# ---- seamless textures (--tiling) ----

def wrap_jump_ratios(path):
    """How far the image jumps across its wrapped edges (last column to the
    first, last row to the first), relative to the median jump between
    neighbouring columns (rows) inside it: about 1 for an image that tiles,
    several times that where a tiled copy would show a seam."""
    w, h, c, px = png_read(path)

    def col_jump(x0, x1):
        return sum(abs(px[(y * w + x0) * c + k] - px[(y * w + x1) * c + k])
                   for y in range(h) for k in range(3)) / (3 * h)

    def row_jump(y0, y1):
        return sum(abs(px[(y0 * w + x) * c + k] - px[(y1 * w + x) * c + k])
                   for x in range(w) for k in range(3)) / (3 * w)

    def median(v):
        return sorted(v)[len(v) // 2]

    return (col_jump(w - 1, 0) / median([col_jump(x, x + 1) for x in range(w - 1)]),
            row_jump(h - 1, 0) / median([row_jump(y, y + 1) for y in range(h - 1)]))


# The demo model (trained, 64x64) makes smooth pictures, where a seam shows;
# the tiny fixture's random weights make noise, where none would.
demo = os.path.join(os.environ['SDCL_DATA_DIR'], 'models', 'sdcl-demo')
with tempfile.TemporaryDirectory() as tmp:
    tiled, plain = os.path.join(tmp, 'tiled.png'), os.path.join(tmp, 'plain.png')
    base = ['txt2img', '--model', demo, '--prompt', 'a red circle', '--steps', '20',
            '--seed', '1']
    rc, _, err = run(*base, '--tiling', '-o', tiled)
    check(rc == 0, '--tiling exit 0', err[-300:])
    rc2, _, err = run(*base, '-o', plain)
    check(rc2 == 0, 'without --tiling exit 0', err[-300:])
    if rc == 0 and rc2 == 0:
        t, p = wrap_jump_ratios(tiled), wrap_jump_ratios(plain)
        check(max(t) < 2, '--tiling: the wrapped edges continue (jump / median %.2f, %.2f)' % t)
        check(min(p) > 2, 'without --tiling the same measure finds seams (%.2f, %.2f)' % p)
        check(b'torch noise, tiling' in open(tiled, 'rb').read()
              and b'tiling' not in open(plain, 'rb').read(), 'PNG parameters record tiling')
    rc, _, err = run(*base, '--tiling', '--vae-tile', '64', '-o', tiled)
    check(rc == 2 and 'tiling' in err and 'tiled VAE' in err,
          '--tiling with --vae-tile > 0: exit 2 naming both', err)

print('%d failure(s)' % len(failures))
sys.exit(1 if failures else 0)
