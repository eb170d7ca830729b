#!/usr/bin/env python3
"""Real-size check: sdcl-mkmodel writes random-weight SD1.5-shaped
checkpoints (F16, both layouts; ~2 GB each) and `sdcl txt2img` makes a
256x256 image in 2 steps with each.  Random weights make no picture worth
looking at; this proves that every tensor of the real architecture is
found, shaped, uploaded (within PoCL's 2 GiB allocation cap) and run.
With --family sd21 the same for SD 2.1's shapes (~2.6 GB each), --v for
the 768-v model, --size for the image side; --family sdxl for SDXL base
1.0's (~7 GB each: both text encoders, the text_time add embedding, the
SGM single-file names).

--residency lean,stream runs each listed residency mode per layout and
reports every run's peak RSS (on a CPU device that is also its device
memory); with --stream-below-lean the stream run's peak must be lower than
the lean run's (stream keeps the UNet's deepest levels off the device
between their uses).

usage: test_realsize.py SDCL SDCL_MKMODEL WORKDIR [--family sd21 [--v] | sdxl] [--size N]
                        [--steps N] [--residency MODE,...] [--stream-below-lean]
"""
import argparse
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import zlib

ap = argparse.ArgumentParser()
ap.add_argument('sdcl')
ap.add_argument('mkmodel')
ap.add_argument('work')
ap.add_argument('--family', default='sd15', choices=('sd15', 'sd21', 'sdxl'))
ap.add_argument('--v', action='store_true')
ap.add_argument('--size', type=int, default=256)
ap.add_argument('--steps', type=int, default=2)
ap.add_argument('--residency', default='', help='comma-separated modes; default: the CLI\'s')
ap.add_argument('--stream-below-lean', action='store_true')
args = ap.parse_args()
sdcl, mkmodel, work = args.sdcl, args.mkmodel, args.work
size = str(args.size)
family_args = ['--family', args.family] + (['--v'] if args.v else [])
label = {'sd15': 'SD 1.x', 'sd21': 'SD 2.x', 'sdxl': 'SDXL'}[args.family]
stem = args.family + ('-v' if args.v else '') + '-random'
failures = []


def check(cond, what):
    print(('ok   ' if cond else 'FAIL ') + what, flush=True)
    if not cond:
        failures.append(what)


def run(*args):
    """The finished process, with its own peak RSS in MiB as .peak_mib
    (os.wait4 gives the child's own rusage; ru_maxrss is in KiB on Linux)."""
    t0 = time.time()
    with tempfile.TemporaryFile('w+') as out, tempfile.TemporaryFile('w+') as err:
        proc = subprocess.Popen(list(args), stdout=out, stderr=err, text=True)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        p = subprocess.CompletedProcess(list(args), proc.returncode, out.read(), err.read())
    p.peak_mib = usage.ru_maxrss / 1024
    print('$ %s  (%.1f s, exit %d, peak RSS %.0f MiB)' % (' '.join(args), time.time() - t0,
                                                          p.returncode, p.peak_mib), flush=True)
    if p.returncode:
        print(p.stdout[-2000:], p.stderr[-2000:])
    return p


def png_pixels(path):
    """(width, height, channels, rows of bytes) of an 8-bit non-interlaced
    PNG such as sdcl writes (the test runs without Pillow)."""
    with open(path, 'rb') as f:
        data = f.read()
    pos, idat, ihdr = 8, b'', None
    while pos < len(data):
        n, kind = struct.unpack('>I4s', data[pos:pos + 8])
        if kind == b'IHDR':
            ihdr = struct.unpack('>IIBBBBB', data[pos + 8:pos + 21])
        elif kind == b'IDAT':
            idat += data[pos + 8:pos + 8 + n]
        pos += 12 + n
    w, h, depth, colour = ihdr[:4]
    assert depth == 8 and ihdr[6] == 0, 'sdcl writes 8-bit non-interlaced PNGs'
    ch = {0: 1, 2: 3, 4: 2, 6: 4}[colour]
    raw, stride, rows, prev = zlib.decompress(idat), w * ch, [], bytearray(w * ch)
    for y in range(h):
        ft, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):   # undo the row filter (PNG spec: None, Sub, Up, Average, Paeth)
            a = line[i - ch] if i >= ch else 0
            b, c = prev[i], prev[i - ch] if i >= ch else 0
            if ft == 1:
                line[i] = (line[i] + a) & 255
            elif ft == 2:
                line[i] = (line[i] + b) & 255
            elif ft == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif ft == 4:
                pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    return w, h, ch, rows


def check_png(path, size, what):
    """Right size, and pixels that are not one flat colour (a NaN or an
    overflow anywhere in the chain decodes to a constant image)."""
    w, h, ch, rows = png_pixels(path)
    check((w, h) == (size, size), what + ': PNG is %dx%d (got %dx%d)' % (size, size, w, h))
    values = set()
    for row in rows[::max(1, h // 16)]:
        values.update(row[::ch])
    check(len(values) > 8, what + ': the image varies (%d distinct red values in 16 rows)' % len(values))


os.makedirs(work, exist_ok=True)
modes = [m for m in args.residency.split(',') if m] or ['']
for layout, name in (('single-file', stem + '.safetensors'), ('diffusers', stem)):
    model = os.path.join(work, name)
    if os.path.isdir(model):
        shutil.rmtree(model)
    elif os.path.exists(model):
        os.remove(model)
    p = run(mkmodel, '--layout', layout, '--dtype', 'f16', '--seed', '1', *family_args, model)
    check(p.returncode == 0, 'sdcl-mkmodel --layout ' + layout)
    if p.returncode:
        continue
    p = run(sdcl, 'info', '--model', model)
    check(p.returncode == 0 and label in p.stdout, layout + ': sdcl info says ' + label)
    if args.v:
        check('v_prediction' in p.stdout or 'prediction:   v' in p.stdout, layout + ': sdcl info says v')
    print(p.stdout)
    peaks = {}
    for mode in modes:
        tag = name.split('.')[0] + ('-' + mode if mode else '')
        out = os.path.join(work, tag + '.png')
        what = '%s: txt2img %sx%s in %d step(s)%s' % (layout, size, size, args.steps,
                                                     ' --residency ' + mode if mode else '')
        p = run(sdcl, 'txt2img', '--model', model, '--prompt', 'a photograph of an astronaut',
                '--steps', str(args.steps), '-W', size, '-H', size, '--seed', '1', '-o', out,
                *(['--residency', mode] if mode else []))
        check(p.returncode == 0, what)
        if p.returncode == 0:
            check_png(out, args.size, what)
            peaks[mode] = p.peak_mib
    if args.stream_below_lean and 'lean' in peaks and 'stream' in peaks:
        check(peaks['stream'] < peaks['lean'], '%s: stream peak RSS %.0f MiB < lean %.0f MiB'
              % (layout, peaks['stream'], peaks['lean']))
    if os.path.isdir(model):
        shutil.rmtree(model)
    elif os.path.exists(model):
        os.remove(model)
        yaml = model[:-len('.safetensors')] + '.yaml'
        if os.path.exists(yaml):
            os.remove(yaml)

print('%d failure(s)' % len(failures))
sys.exit(1 if failures else 0)
