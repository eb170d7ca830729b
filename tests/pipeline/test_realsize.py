#!/usr/bin/env python3
"""Real-size check: sdcl-mkmodel writes random-weight SD1.5-shaped
checkpoints (F16, both layouts; ~2 GB each) and `sdcl txt2img` makes a
256x256 image in 2 steps with each.  Random weights make no picture worth
looking at; this proves that every tensor of the real architecture is
found, shaped, uploaded (within PoCL's 2 GiB allocation cap) and run.

usage: test_realsize.py SDCL SDCL_MKMODEL WORKDIR
"""
import os
import shutil
import struct
import subprocess
import sys
import time

sdcl, mkmodel, work = sys.argv[1:4]
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
for layout, name in (('single-file', 'sd15-random.safetensors'), ('diffusers', 'sd15-random')):
    model = os.path.join(work, name)
    if os.path.isdir(model):
        shutil.rmtree(model)
    elif os.path.exists(model):
        os.remove(model)
    p = run(mkmodel, '--layout', layout, '--dtype', 'f16', '--seed', '1', model)
    check(p.returncode == 0, 'sdcl-mkmodel --layout ' + layout)
    if p.returncode:
        continue
    p = run(sdcl, 'info', '--model', model)
    check(p.returncode == 0 and 'SD 1.x' in p.stdout, layout + ': sdcl info says SD 1.x')
    print(p.stdout)
    out = os.path.join(work, name.split('.')[0] + '.png')
    p = run(sdcl, 'txt2img', '--model', model, '--prompt', 'a photograph of an astronaut',
            '--steps', '2', '-W', '256', '-H', '256', '--seed', '1', '-o', out)
    check(p.returncode == 0, layout + ': txt2img 256x256 in 2 steps')
    if p.returncode == 0:
        with open(out, 'rb') as f:
            head = f.read(24)
        check(struct.unpack('>II', head[16:24]) == (256, 256), layout + ': PNG is 256x256')
    if os.path.isdir(model):
        shutil.rmtree(model)
    elif os.path.exists(model):
        os.remove(model)

print('%d failure(s)' % len(failures))
sys.exit(1 if failures else 0)
