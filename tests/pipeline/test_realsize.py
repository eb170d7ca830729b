#!/usr/bin/env python3
"""Real-size check: sdcl-mkmodel writes random-weight SD1.5-shaped
checkpoints (F16, both layouts; ~2 GB each) and `sdcl txt2img` makes a
256x256 image in 2 steps with each.  Random weights make no picture worth
looking at; this proves that every tensor of the real architecture is
found, shaped, uploaded (within PoCL's 2 GiB allocation cap) and run.
With --family sd21 the same for SD 2.1's shapes (~2.6 GB each), --v for
the 768-v model, --size for the image side.

usage: test_realsize.py SDCL SDCL_MKMODEL WORKDIR [--family sd21 [--v]] [--size N]
"""
import argparse
import os
import shutil
import struct
import subprocess
import sys
import time

ap = argparse.ArgumentParser()
ap.add_argument('sdcl')
ap.add_argument('mkmodel')
ap.add_argument('work')
ap.add_argument('--family', default='sd15', choices=('sd15', 'sd21'))
ap.add_argument('--v', action='store_true')
ap.add_argument('--size', type=int, default=256)
args = ap.parse_args()
sdcl, mkmodel, work = args.sdcl, args.mkmodel, args.work
size = str(args.size)
family_args = ['--family', args.family] + (['--v'] if args.v else [])
label = {'sd15': 'SD 1.x', 'sd21': 'SD 2.x'}[args.family]
stem = args.family + ('-v' if args.v else '') + '-random'
failures = []


def check(cond, what):
    print(('ok   ' if cond else 'FAIL ') + what, flush=True)
    if not cond:
        failures.append(what)


def run(*args):
    t0 = time.time()
    p = subprocess.run(list(args), capture_output=True, text=True)
    print('$ %s  (%.1f s, exit %d)' % (' '.join(args), time.time() - t0, p.returncode))
    if p.returncode:
        print(p.stdout[-2000:], p.stderr[-2000:])
    return p


os.makedirs(work, exist_ok=True)
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
    out = os.path.join(work, name.split('.')[0] + '.png')
    p = run(sdcl, 'txt2img', '--model', model, '--prompt', 'a photograph of an astronaut',
            '--steps', '2', '-W', size, '-H', size, '--seed', '1', '-o', out)
    check(p.returncode == 0, layout + ': txt2img %sx%s in 2 steps' % (size, size))
    if p.returncode == 0:
        with open(out, 'rb') as f:
            head = f.read(24)
        check(struct.unpack('>II', head[16:24]) == (args.size, args.size), layout + ': PNG is %sx%s' % (size, size))
    if os.path.isdir(model):
        shutil.rmtree(model)
    elif os.path.exists(model):
        os.remove(model)
        yaml = model[:-len('.safetensors')] + '.yaml'
        if os.path.exists(yaml):
            os.remove(yaml)

print('%d failure(s)' % len(failures))
sys.exit(1 if failures else 0)
