#!/usr/bin/env python3
"""The sdcl GEGL operations as a user runs them: the real `gegl` tool with
GEGL_PATH on PNG files and the tiny model.

Checks: the operations load (and hide without OpenCL); each one writes an
image of the right size; the same seed gives the same pixels; txt2img gives
the pixels of the sdcl CLI; alpha passes through; inpaint leaves every pixel
outside the mask unchanged; a missing model or a bad size is a warning with
the engine's message and a harmless output, never a crash; an XML graph
png-load -> sdcl:img2img -> png-save runs.

`gegl` exits 0 even on errors, so every check looks at the output file and
at stderr.  PNGs are decoded here (zlib only) and compared by pixel value.

usage: test_gegl_cli.py GEGL GEGL_PLUGINSDIR MODULE_DIR SDCL_CLI
       (SDCL_FIXTURES, SDCL_CACHE_DIR, POCL_CACHE_DIR set by meson)
"""
import os
import struct
import subprocess
import sys
import tempfile
import zlib

GEGL, GEGL_OPS_DIR, MODULE_DIR, SDCL_CLI = sys.argv[1:5]
HERE = os.path.dirname(os.path.abspath(__file__))
TINY = os.path.join(os.environ['SDCL_FIXTURES'], 'models', 'tiny-sd')
failures = []
TMP = None  # the run's temporary folder, set by main()


def check(cond, what, detail=''):
    print(('ok   ' if cond else 'FAIL ') + what)
    if not cond:
        failures.append(what)
        if detail:
            print('     ' + detail.strip().replace('\n', '\n     '))
    return cond


# ---- PNG, by hand ----------------------------------------------------------

class Image:
    """Pixels as RGBA tuples scaled to 16 bits, whatever the file held."""

    def __init__(self, width, height, pixels):
        self.width, self.height, self.pixels = width, height, pixels

    def at(self, x, y):
        return self.pixels[y * self.width + x]


def _paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else (b if pb <= pc else c)


def read_png(path):
    with open(path, 'rb') as f:
        data = f.read()
    if data[:8] != b'\x89PNG\r\n\x1a\n':
        raise ValueError('%s: not a PNG' % path)
    pos, idat, ihdr = 8, b'', None
    while pos < len(data):
        length, kind = struct.unpack('>I4s', data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if kind == b'IHDR':
            ihdr = struct.unpack('>IIBBBBB', body)
        elif kind == b'IDAT':
            idat += body
        elif kind == b'IEND':
            break
    width, height, depth, color, _, _, interlace = ihdr
    channels = {0: 1, 2: 3, 4: 2, 6: 4}.get(color)
    if channels is None or depth not in (8, 16) or interlace:
        raise ValueError('%s: PNG colour type %d, depth %d, interlace %d not handled'
                         % (path, color, depth, interlace))
    bpp = channels * depth // 8
    stride = width * bpp
    raw = zlib.decompress(idat)
    rows, prev = [], bytearray(stride)
    for y in range(height):
        kind = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            line[i] = (line[i] + (0, a, b, (a + b) // 2, _paeth(a, b, c))[kind]) & 0xff
        rows.append(line)
        prev = line
    scale = 257 if depth == 8 else 1
    pixels = []
    for line in rows:
        if depth == 8:
            samples = [v * scale for v in line]
        else:
            samples = list(struct.unpack('>%dH' % (width * channels), bytes(line)))
        for x in range(width):
            s = samples[x * channels:(x + 1) * channels]
            if channels == 1:
                s = [s[0]] * 3 + [65535]
            elif channels == 2:
                s = [s[0]] * 3 + [s[1]]
            elif channels == 3:
                s = s + [65535]
            pixels.append(tuple(s))
    return Image(width, height, pixels)


def write_png(path, width, height, pixel):
    """8-bit RGBA from pixel(x, y) -> (r, g, b, a)."""
    raw = b''.join(b'\0' + bytes(v for x in range(width) for v in pixel(x, y))
                   for y in range(height))

    def chunk(kind, body):
        return (struct.pack('>I', len(body)) + kind + body
                + struct.pack('>I', zlib.crc32(kind + body) & 0xffffffff))

    with open(path, 'wb') as f:
        f.write(b'\x89PNG\r\n\x1a\n'
                + chunk(b'IHDR', struct.pack('>IIBBBBB', width, height, 8, 6, 0, 0, 0))
                + chunk(b'IDAT', zlib.compress(raw)) + chunk(b'IEND', b''))


# ---- running gegl ----------------------------------------------------------

def gegl(*args, module_dir=MODULE_DIR, extra_env=None, cwd=None):
    env = dict(os.environ)
    # GEGL_PATH replaces GEGL's own search path: keep its operations
    # (png-load, png-save, ...) first.
    env['GEGL_PATH'] = GEGL_OPS_DIR + (':' + module_dir if module_dir else '')
    # GEGL 0.4.42 takes GEGL_SWAP as a folder (no "RAM" keyword yet) and
    # makes it at start-up: keep it in the test's own temporary folder.
    env['GEGL_SWAP'] = os.path.join(TMP, 'swap')
    env.update(extra_env or {})
    # errors='replace': `gegl --info` prints a garbage "operation-class"
    # value for every operation (a bug of GEGL 0.4.42's CLI).
    p = subprocess.run([GEGL, *args], capture_output=True, text=True, errors='replace',
                       timeout=600, env=env, cwd=cwd)
    if p.returncode < 0:
        check(False, 'gegl %s did not crash' % ' '.join(args),
              'killed by signal %d\n%s' % (-p.returncode, p.stderr[-2000:]))
    return p


def warnings_of(stderr):
    """sdcl's own warnings (GEGL's CLI adds noise of its own on exit)."""
    return [line for line in stderr.splitlines() if 'sdcl-gegl-WARNING' in line
            or line.startswith('sdcl:')]


def sdcl_messages(stderr):
    return '\n'.join(line for line in stderr.splitlines() if 'sdcl' in line)


def generate(tmp, name, *ops, inputs=()):
    """Runs `gegl [inputs] -o tmp/name -- ops`; returns (Image or None, stderr)."""
    out = os.path.join(tmp, name)
    p = gegl(*inputs, '-o', out, '--', *ops)
    if not os.path.exists(out):
        return None, p.stderr
    return read_png(out), p.stderr


COMMON = ['model=' + TINY, 'prompt=a red circle', 'negative-prompt=blurry', 'steps=2']


def differing(a, b, tolerance=0):
    return sum(1 for p, q in zip(a.pixels, b.pixels)
               if any(abs(u - v) > tolerance for u, v in zip(p, q)))


# ---- the checks ------------------------------------------------------------

def test_loading(tmp):
    p = gegl('--exists', 'sdcl:txt2img', 'sdcl:img2img', 'sdcl:inpaint')
    check(p.returncode == 0, 'gegl --exists finds sdcl:txt2img, img2img, inpaint',
          p.stderr[-2000:])
    p = gegl('--exists', 'sdcl:txt2img', module_dir=None)
    check(p.returncode != 0, 'without the module folder on GEGL_PATH the ops are absent')

    # No OpenCL platform at all (an empty ICD folder): is_available() hides
    # the operations instead of offering ones that can only fail.
    empty = os.path.join(tmp, 'no-icds')
    os.makedirs(empty, exist_ok=True)
    p = gegl('--exists', 'sdcl:txt2img', extra_env={'OCL_ICD_VENDORS': empty})
    check(p.returncode != 0, 'with no OpenCL device the ops are hidden', p.stderr[-1000:])

    p = gegl('--info', 'sdcl:img2img')
    for prop in ('model', 'prompt', 'negative-prompt', 'sampler', 'karras', 'steps',
                 'guidance', 'seed', 'tiling', 'device', 'precision', 'strength',
                 'schedule', 'prediction', 'turbo'):
        if not check(prop in p.stdout.split(), 'sdcl:img2img has property ' + prop,
                     p.stdout[-1500:]):
            break


def test_txt2img(tmp):
    ops = ['sdcl:txt2img', *COMMON, 'width=64', 'height=48', 'seed=42']
    a, err = generate(tmp, 'a.png', *ops)
    if not check(a is not None, 'txt2img writes a PNG', sdcl_messages(err)):
        return
    check((a.width, a.height) == (64, 48), 'txt2img image is 64x48 (%dx%d)' % (a.width, a.height))
    check(not warnings_of(err), 'txt2img runs without warnings', sdcl_messages(err))
    check(all(p[3] == 65535 for p in a.pixels), 'txt2img image is opaque')
    check(len(set(a.pixels)) > 100, 'txt2img image is not flat (%d colours)' % len(set(a.pixels)))

    b, _ = generate(tmp, 'b.png', *ops)
    check(b is not None and b.pixels == a.pixels, 'txt2img: same seed, same pixels')
    c, _ = generate(tmp, 'c.png', *ops[:-1], 'seed=43')
    check(c is not None and differing(a, c) > 0, 'txt2img: another seed, another image')

    # The operation must hand the engine what the CLI hands it: the same
    # defaults (sampler, Karras, guidance), each property mapped to its
    # engine parameter, the same colour handling.
    same_as_cli(tmp, a, 'defaults', [])
    b, _ = generate(tmp, 'euler.png', *ops, 'sampler=euler', 'karras=false', 'guidance=3')
    check(b is not None and differing(a, b) > 0, 'txt2img: other settings, another image')
    same_as_cli(tmp, b, 'sampler=euler karras=false guidance=3',
                ['--sampler', 'euler', '--no-karras', '--cfg', '3'])
    t, _ = generate(tmp, 'tiling.png', *ops, 'tiling=true')
    check(t is not None and differing(a, t) > 0, 'txt2img: tiling=true, another image')
    same_as_cli(tmp, t, 'tiling=true', ['--tiling'])
    # The schedule and the prediction override (issues 24 and 18), by the
    # CLI's names: each changes the image, as the CLI's option does.
    for prop, cli in (('schedule=exponential', ['--schedule', 'exponential']),
                      ('prediction=v', ['--prediction', 'v'])):
        o, _ = generate(tmp, prop.replace('=', '-') + '.png', *ops, prop)
        check(o is not None and differing(a, o) > 0, 'txt2img: %s, another image' % prop)
        same_as_cli(tmp, o, prop, cli)


def same_as_cli(tmp, img, what, cli_args):
    """The CLI writes 8 bits, png-save 16: allow one 8-bit step."""
    ref_png = os.path.join(tmp, 'cli.png')
    p = subprocess.run([SDCL_CLI, 'txt2img', '--model', TINY, '--prompt', 'a red circle',
                        '--negative', 'blurry', '--steps', '2', '-W', '64', '-H', '48',
                        '--seed', '42', *cli_args, '-o', ref_png],
                       capture_output=True, text=True, timeout=600)
    if not check(p.returncode == 0, 'sdcl CLI makes the reference image (%s)' % what,
                 p.stderr[-1000:]):
        return
    if not check(img is not None, 'txt2img made an image (%s)' % what):
        return
    n = differing(img, read_png(ref_png), tolerance=257)
    check(n == 0, 'txt2img pixels equal the sdcl CLI\'s (%s)' % what,
          '%d of %d pixels differ by more than one 8-bit step' % (n, len(img.pixels)))


def test_txt2img_errors(tmp):
    missing = os.path.join(tmp, 'no-such-model')
    img, err = generate(tmp, 'missing.png', 'sdcl:txt2img', 'model=' + missing,
                        'prompt=a red circle', 'width=64', 'height=48', 'steps=2')
    msgs = warnings_of(err)
    check(any('sdcl:txt2img' in m and missing in m for m in msgs),
          'missing model: a warning naming the operation and the path', sdcl_messages(err))
    check(img is not None and (img.width, img.height) == (64, 48)
          and all(p[3] == 0 for p in img.pixels),
          'missing model: a transparent 64x48 image')

    # No prompt: no work, so not even the missing model is looked at.
    img, err = generate(tmp, 'noprompt.png', 'sdcl:txt2img', 'model=' + missing,
                        'width=64', 'height=48', 'steps=2')
    check(not warnings_of(err) and img is not None and (img.width, img.height) == (64, 48)
          and all(p[3] == 0 for p in img.pixels),
          'no prompt: a transparent 64x48 image and no warning', sdcl_messages(err))

    # No model set: the demo model that ships in data/models draws it.
    img, err = generate(tmp, 'nomodel.png', 'sdcl:txt2img', 'prompt=a red circle',
                        'width=64', 'height=48', 'steps=4')
    check(not warnings_of(err), 'no model set: no warning (the demo model is used)',
          sdcl_messages(err))
    check(img is not None and (img.width, img.height) == (64, 48)
          and all(p[3] > 0 for p in img.pixels),
          'no model set: an opaque 64x48 image from the demo model')

    img, err = generate(tmp, 'badsize.png', 'sdcl:txt2img', *COMMON, 'width=60', 'height=48')
    check(any('multiple of 8' in m for m in warnings_of(err)),
          'width 60: the engine\'s "multiple of 8" message', sdcl_messages(err))
    check(img is not None and all(p[3] == 0 for p in img.pixels),
          'width 60: a transparent image')


def input_pixel(x, y):
    # A gradient with varying alpha, so a lost or swapped channel shows.
    return (x * 4 % 256, y * 5 % 256, (x * y) % 256, 255 if x < 32 else 64 + 2 * y)


def test_img2img(tmp):
    src = os.path.join(tmp, 'in.png')
    write_png(src, 64, 48, input_pixel)
    orig = read_png(src)
    ops = ['sdcl:img2img', *COMMON, 'strength=0.6', 'seed=7']

    img, err = generate(tmp, 'i2i-missing.png', 'sdcl:img2img', 'model=' + tmp + '/nothing',
                        'prompt=a red circle', inputs=[src])
    check(any('sdcl:img2img' in m for m in warnings_of(err)),
          'img2img, missing model: a warning', sdcl_messages(err))
    check(img is not None and img.pixels == orig.pixels,
          'img2img, missing model: the input comes out unchanged')
    img, err = generate(tmp, 'i2i-noprompt.png', 'sdcl:img2img', 'model=' + tmp + '/nothing',
                        inputs=[src])
    check(img is not None and img.pixels == orig.pixels and not warnings_of(err),
          'img2img, no prompt: the input unchanged, no work and no warning', sdcl_messages(err))

    a, err = generate(tmp, 'i2i-a.png', *ops, inputs=[src])
    if not check(a is not None and not warnings_of(err), 'img2img runs', sdcl_messages(err)):
        return
    check((a.width, a.height) == (64, 48), 'img2img keeps the size (%dx%d)' % (a.width, a.height))
    check([p[3] for p in a.pixels] == [p[3] for p in orig.pixels],
          'img2img passes alpha through unchanged')
    check(differing(a, orig, tolerance=257) > 0, 'img2img changes the image')
    b, _ = generate(tmp, 'i2i-b.png', *ops, inputs=[src])
    check(b is not None and b.pixels == a.pixels, 'img2img: same seed, same pixels')


def test_inpaint(tmp):
    src, mask = os.path.join(tmp, 'in.png'), os.path.join(tmp, 'mask.png')
    empty = os.path.join(tmp, 'empty-mask.png')
    write_png(src, 64, 48, input_pixel)
    inside = lambda x, y: 16 <= x < 40 and 8 <= y < 32  # noqa: E731
    write_png(mask, 64, 48, lambda x, y: (255, 255, 255, 255) if inside(x, y) else (0, 0, 0, 255))
    write_png(empty, 64, 48, lambda x, y: (0, 0, 0, 0))
    orig = read_png(src)

    # An empty mask never reaches the engine: the image is kept as it was.
    img, err = generate(tmp, 'ip-empty.png', 'sdcl:inpaint', *COMMON, 'seed=3',
                        'aux=[', 'gegl:png-load', 'path=' + empty, ']', inputs=[src])
    check(img is not None and img.pixels == orig.pixels and not warnings_of(err),
          'inpaint, empty mask: image unchanged, no warning', sdcl_messages(err))

    aux = ['aux=[', 'gegl:png-load', 'path=' + mask, ']']
    ops = ['sdcl:inpaint', *COMMON, 'seed=3', 'mask-blur=0', *aux]
    img, err = generate(tmp, 'ip-missing.png', 'sdcl:inpaint', 'model=' + tmp + '/nothing',
                        'prompt=a red circle', *aux, inputs=[src])
    check(any('sdcl:inpaint' in m for m in warnings_of(err)),
          'inpaint, missing model: a warning', sdcl_messages(err))
    check(img is not None and img.pixels == orig.pixels,
          'inpaint, missing model: the input comes out unchanged')

    a, err = generate(tmp, 'ip-a.png', *ops, inputs=[src])
    if not check(a is not None and not warnings_of(err), 'inpaint runs', sdcl_messages(err)):
        return
    check((a.width, a.height) == (64, 48), 'inpaint keeps the size')
    outside = [(x, y) for y in range(48) for x in range(64) if not inside(x, y)]
    changed = [(x, y) for x, y in outside if a.at(x, y) != orig.at(x, y)]
    check(not changed, 'inpaint: every pixel outside the mask is unchanged',
          '%d changed, first at %s: %s -> %s' % (
              len(changed), changed[0], orig.at(*changed[0]), a.at(*changed[0]))
          if changed else '')
    check(any(a.at(x, y) != orig.at(x, y) for y in range(48) for x in range(64) if inside(x, y)),
          'inpaint: the masked part changes')
    b, _ = generate(tmp, 'ip-b.png', *ops, inputs=[src])
    check(b is not None and b.pixels == a.pixels, 'inpaint: same seed, same pixels')


def test_outpaint(tmp):
    """sdcl:inpaint fill-transparent=true: the transparent right part is
    the area to fill (no aux needed); the opaque pixels come back as they
    were and the result is opaque."""
    src = os.path.join(tmp, 'op-in.png')
    write_png(src, 64, 48, lambda x, y: input_pixel(x, y)[:3] + ((255,) if x < 40 else (0,)))
    orig = read_png(src)
    img, err = generate(tmp, 'op.png', 'sdcl:inpaint', *COMMON, 'seed=5', 'fill-transparent=true',
                        inputs=[src])
    if not check(img is not None and not warnings_of(err), 'outpaint (fill-transparent) runs',
                 sdcl_messages(err)):
        return
    known = [(x, y) for y in range(48) for x in range(40)]
    check(all(img.at(x, y) == orig.at(x, y) for x, y in known),
          'outpaint: the opaque pixels are bit-identical')
    check(all(p[3] == 65535 for p in img.pixels), 'outpaint: the result is opaque')
    check(len(set(img.at(x, y)[:3] for y in range(48) for x in range(40, 64))) > 10,
          'outpaint: the transparent part is filled with an image, not a flat colour')
    same, err = generate(tmp, 'op-off.png', 'sdcl:inpaint', *COMMON, 'seed=5', inputs=[src])
    check(same is not None and same.pixels == orig.pixels,
          'without fill-transparent and aux nothing is inpainted', sdcl_messages(err))


def test_xml_graph(tmp):
    out = os.path.join(tmp, 'xml.png')
    p = gegl(os.path.join(HERE, 'img2img.xml'), '-o', out, cwd=HERE)
    if not check(os.path.exists(out) and not warnings_of(p.stderr),
                 'XML graph png-load -> sdcl:img2img -> png-save runs', sdcl_messages(p.stderr)):
        return
    img = read_png(out)
    src = read_png(os.path.join(HERE, '..', 'reference', 'fixtures', 'images',
                                'init-48x64.png'))
    check((img.width, img.height) == (48, 64), 'XML graph output is 48x64')
    check(differing(img, src, tolerance=257) > 0, 'XML graph output differs from its input')


def main():
    global TMP
    with tempfile.TemporaryDirectory() as tmp:
        TMP = tmp
        for test in (test_loading, test_txt2img, test_txt2img_errors, test_img2img,
                     test_inpaint, test_outpaint, test_xml_graph):
            print('# ' + test.__name__)
            test(tmp)
    print('%d failed' % len(failures))
    for f in failures:
        print('FAILED: ' + f)
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())
