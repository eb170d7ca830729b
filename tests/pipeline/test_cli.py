#!/usr/bin/env python3
"""The sdcl command-line tool as a user runs it: help, devices, txt2img on
the tiny model (PNG of the asked size, same bytes for the same seed, progress
on stderr) and the documented exit codes for bad input.

usage: test_cli.py SDCL_BINARY   (SDCL_FIXTURES set by meson)
"""
import os
import struct
import subprocess
import sys
import tempfile

sdcl = sys.argv[1]
fixtures = os.environ['SDCL_FIXTURES']
tiny = os.path.join(fixtures, 'models', 'tiny-sd')
failures = []


def run(*args):
    p = subprocess.run([sdcl, *args], capture_output=True, text=True, timeout=600)
    return p.returncode, p.stdout, p.stderr


def check(cond, what):
    print(('ok   ' if cond else 'FAIL ') + what)
    if not cond:
        failures.append(what)


def png_size(path):
    with open(path, 'rb') as f:
        head = f.read(24)
    check(head[:8] == b'\x89PNG\r\n\x1a\n', 'PNG signature')
    return struct.unpack('>II', head[16:24])


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

print('%d failure(s)' % len(failures))
sys.exit(1 if failures else 0)
