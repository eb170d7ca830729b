#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-3.0-or-later
"""Side-by-side timing of sdcl and its peers on one random-weight SD 1.5-, 2.1- or SDXL-shaped checkpoint.

Runs, in one invocation and alternating round by round (so that the noise of a shared machine
hits every engine alike):

  sdcl       sdcl-bench on the OpenCL device (PoCL on a CPU-only machine) for the phases,
             then `sdcl txt2img` with the CLI's defaults for memory and wall time;
  sdcpp      stable-diffusion.cpp through PyPI's stable-diffusion-cpp-python, CPU, F16 weights;
  diffusers  diffusers on PyTorch CPU, float32 (PyTorch has no fast CPU half path).

Each engine does the work of one txt2img of --steps steps at --size in its own process: text
encoder, --steps CFG steps (the UNet on the batch-2 [negative, positive] latents), VAE decode.
Per engine: the median CFG step, the VAE decode, the process's wall time and its peak resident
memory (ru_maxrss from wait4).  sdcl's phases come from sdcl-bench (a separate process, all
networks resident; its wall and RSS are kept as bench_*), its wall and RSS from the txt2img.
diffusers times its phases directly (all three networks loaded, as a pipeline holds them).
stable-diffusion.cpp runs a txt2img and its own log lines ("sampling completed, taking X s",
"decode_first_stage completed, taking X s") give the phases.  Medians over the rounds are
printed with each peer's ratio to sdcl.

Usage (the checkpoints come from sdcl-mkmodel with the same seed, so they hold the same
weights):

  build/tools/sdcl-mkmodel --layout single-file --dtype f16 /tmp/sd15.safetensors
  build/tools/sdcl-mkmodel --layout diffusers --dtype f16 /tmp/sd15-diffusers
  python3 tools/compare-peers.py --build build --single /tmp/sd15.safetensors \\
      --diffusers /tmp/sd15-diffusers --size 512 --rounds 2 \\
      --torch-python /opt/sdcl-ref/bin/python --sdcpp-python /tmp/sdcpp-venv/bin/python

(SD 2.1's shapes: sdcl-mkmodel --family sd21 for both files; SDXL base's: --family sdxl,
~7 GB per layout in F16, an SGM single file that sd.cpp loads too, and a folder with
text_encoder_2/ for which the diffusers row runs both text encoders and passes the pooled
vector and size ids; nothing else changes.)

An engine whose interpreter or package is missing is reported as skipped, with the reason.
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

PROMPT = 'a photograph of an astronaut riding a horse'

DIFFUSERS_SCRIPT = r"""
import json, os, statistics, sys, time
t_start = time.monotonic()
import torch
torch.set_num_threads(int(sys.argv[3]))
from diffusers import AutoencoderKL, UNet2DConditionModel
from transformers import CLIPTextModel, CLIPTextModelWithProjection
folder, size = sys.argv[1], int(sys.argv[2])
# SDXL (text_encoder_2/): both towers' penultimate states side by side, bigG's
# pooled vector and the six size ids through the UNet's text_time embedding,
# as StableDiffusionXLPipeline computes them.
sdxl = os.path.isdir(os.path.join(folder, 'text_encoder_2'))
load = dict(local_files_only=True)
with torch.inference_mode():
    te = CLIPTextModel.from_pretrained(folder, subfolder='text_encoder', **load).float().eval()
    te2 = (CLIPTextModelWithProjection.from_pretrained(folder, subfolder='text_encoder_2', **load)
           .float().eval() if sdxl else None)
    unet = UNet2DConditionModel.from_pretrained(folder, subfolder='unet', **load).float().eval()
    vae = AutoencoderKL.from_pretrained(folder, subfolder='vae', **load).float().eval()
    t_loaded = time.monotonic()
    ids = torch.randint(0, 49407, (2, 77))
    t0 = time.monotonic()
    if sdxl:
        h1 = te(ids, output_hidden_states=True).hidden_states[-2]
        out2 = te2(ids, output_hidden_states=True)
        ctx = torch.cat([h1, out2.hidden_states[-2]], dim=-1)
        added = {'text_embeds': out2.text_embeds,
                 'time_ids': torch.tensor([[size, size, 0, 0, size, size]] * 2, dtype=torch.float32)}
    else:
        ctx, added = te(ids)[0], None
    t_text = time.monotonic() - t0
    g = torch.Generator().manual_seed(0)
    x = torch.randn((2, 4, size // 8, size // 8), generator=g)
    cfg_steps = []
    for step in range(int(sys.argv[4])):
        t = torch.tensor([999.0 - step, 999.0 - step])
        t0 = time.monotonic()
        unet(x, t, encoder_hidden_states=ctx, added_cond_kwargs=added)
        cfg_steps.append(time.monotonic() - t0)
    # The first call builds PyTorch's oneDNN primitives: the median of the
    # later steps, as sdcl-bench times its CFG step after a warm-up.  (Until
    # 7 Dec 2026 the first step counted, and with 2 steps the slower of the
    # two was reported.)  The process's wall time still includes every step.
    warm = cfg_steps[1:] or cfg_steps
    t_cfg = statistics.median(warm)
    z = torch.randn((1, 4, size // 8, size // 8), generator=g)
    t0 = time.monotonic(); vae.decode(z); t_vae = time.monotonic() - t0
print(json.dumps({'load_s': t_loaded - t_start, 'text_s': t_text, 'cfg_step_s': t_cfg,
                  'vae_decode_s': t_vae}))
"""

SDCPP_SCRIPT = r"""
import json, sys, time
t_start = time.monotonic()
from stable_diffusion_cpp import StableDiffusion
model, size, steps, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
sd = StableDiffusion(model_path=model, n_threads=threads, diffusion_flash_attn=True, verbose=True)
t_loaded = time.monotonic()
sd.generate_image(prompt=sys.argv[5], negative_prompt='',
                  width=size, height=size, sample_steps=steps, cfg_scale=7.5, seed=1)
print(json.dumps({'load_s': t_loaded - t_start, 'total_s': time.monotonic() - t_start}))
"""


def run_measured(argv, env=None):
    """Runs argv; returns (stdout, stderr, wall seconds, peak RSS bytes, exit status)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.monotonic()
        proc = subprocess.Popen(argv, stdout=out, stderr=err, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.monotonic() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return (out.read().decode(errors='replace'), err.read().decode(errors='replace'), wall,
                usage.ru_maxrss * 1024, proc.returncode)


def last_json(text):
    """The whole output as one JSON object (sdcl-bench --json), else its last JSON line."""
    try:
        return json.loads(text)
    except ValueError:
        pass
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if line.startswith('{'):
            return json.loads(line)
    return None


def run_sdcl(a):
    argv = [os.path.join(a.build, 'tools', 'sdcl-bench'), '--model', a.single, '--width',
            str(a.size), '--height', str(a.size), '--json', '--no-startup']
    out, err, wall, rss, rc = run_measured(argv)
    if rc != 0:
        return {'error': err.strip().splitlines()[-1] if err.strip() else f'exit {rc}'}
    j = last_json(out)
    phases = {p['name']: p['seconds'] for p in j['phases']}
    res = {'cfg_step_s': phases.get('CFG step (UNet batch 2)'),
           'vae_decode_s': phases.get('VAE decode'),
           'text_s': phases.get('text encoder (77 tokens)',
                                 phases.get('text encoders (2 x 77 tokens)')),   # SDXL: both towers
           'load_s': j['load_s'], 'bench_wall_s': wall, 'bench_peak_rss_gb': rss / 1e9}
    # Memory and wall time of a real txt2img with the CLI's defaults (lean
    # residency), the same job sd.cpp's row runs.
    with tempfile.TemporaryDirectory() as tmp:
        out, err, wall, rss, rc = run_measured(
            [os.path.join(a.build, 'tools', 'sdcl'), 'txt2img', '--model', a.single,
             '--width', str(a.size), '--height', str(a.size), '--steps', str(a.steps),
             '--cfg', '7.5', '--seed', '1', '--prompt', PROMPT,
             '-o', os.path.join(tmp, 'out.png')])
    if rc != 0:
        return {'error': err.strip().splitlines()[-1] if err.strip() else f'txt2img exit {rc}'}
    res.update(wall_s=wall, peak_rss_gb=rss / 1e9)
    return res


def run_diffusers(a):
    if not a.torch_python or not os.path.exists(a.torch_python):
        return {'error': 'no PyTorch interpreter (--torch-python)'}
    if not a.diffusers:
        return {'error': 'no diffusers-layout checkpoint (--diffusers)'}
    out, err, wall, rss, rc = run_measured(
        [a.torch_python, '-c', DIFFUSERS_SCRIPT, a.diffusers, str(a.size), str(a.threads),
         str(a.steps)])
    if rc != 0:
        return {'error': err.strip().splitlines()[-1] if err.strip() else f'exit {rc}'}
    j = last_json(out)
    j.update(wall_s=wall, peak_rss_gb=rss / 1e9)
    return j


def run_sdcpp(a):
    if not a.sdcpp_python or not os.path.exists(a.sdcpp_python):
        return {'error': 'no stable-diffusion-cpp-python interpreter (--sdcpp-python)'}
    out, err, wall, rss, rc = run_measured(
        [a.sdcpp_python, '-c', SDCPP_SCRIPT, a.single, str(a.size), str(a.steps),
         str(a.threads), PROMPT])
    if rc != 0:
        return {'error': err.strip().splitlines()[-1] if err.strip() else f'exit {rc}'}
    j = last_json(out) or {}
    log = out + err
    sampling = re.findall(r'sampling completed, taking ([0-9.]+)\s*s', log)
    decode = re.findall(r'decode_first_stage completed, taking ([0-9.]+)\s*s', log)
    j.update(wall_s=wall, peak_rss_gb=rss / 1e9)
    if sampling:
        j['cfg_step_s'] = float(sampling[-1]) / a.steps
    if decode:
        j['vae_decode_s'] = float(decode[-1])
    return j


ENGINES = {'sdcl': run_sdcl, 'sdcpp': run_sdcpp, 'diffusers': run_diffusers}


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--build', default='build', help='sdcl build directory')
    p.add_argument('--single', required=True, help='single-file checkpoint (sdcl, sd.cpp)')
    p.add_argument('--diffusers', help='the same weights in the diffusers layout (PyTorch)')
    p.add_argument('--size', type=int, default=512, help='image side in pixels')
    p.add_argument('--steps', type=int, default=2, help='sd.cpp txt2img steps')
    p.add_argument('--rounds', type=int, default=2)
    p.add_argument('--threads', type=int, default=os.cpu_count())
    p.add_argument('--torch-python', default='/opt/sdcl-ref/bin/python')
    p.add_argument('--sdcpp-python')
    p.add_argument('--engines', default='sdcl,sdcpp,diffusers')
    p.add_argument('--json', help='write all results to this file')
    a = p.parse_args()

    engines = a.engines.split(',')
    results = {e: [] for e in engines}
    for r in range(a.rounds):
        order = engines if r % 2 == 0 else list(reversed(engines))
        for e in order:
            res = ENGINES[e](a)
            results[e].append(res)
            print(f'round {r + 1} {e}: {json.dumps(res)}', file=sys.stderr, flush=True)

    keys = [('cfg_step_s', 'CFG step (s)'), ('vae_decode_s', 'VAE decode (s)'),
            ('peak_rss_gb', 'peak RSS (GB)'), ('wall_s', f'{a.steps}-step wall (s)')]

    def median(e, k):
        vals = [x[k] for x in results[e] if x.get(k) is not None and 'error' not in x]
        return statistics.median(vals) if vals else None

    print(f'{a.size}x{a.size}, {a.rounds} round(s), medians; ratio = peer / sdcl')
    print(f"{'engine':<10}" + ''.join(f'{title:>22}' for _, title in keys))
    for e in engines:
        errors = [x['error'] for x in results[e] if 'error' in x]
        if errors and len(errors) == len(results[e]):
            print(f'{e:<10}  skipped: {errors[0]}')
            continue
        cells = []
        for k, _ in keys:
            v, base = median(e, k), median('sdcl', k) if 'sdcl' in results else None
            if v is None:
                cells.append(f"{'-':>22}")
            elif e != 'sdcl' and base:
                cells.append(f'{v:>12.2f} ({v / base:5.2f}x)')
            else:
                cells.append(f'{v:>22.2f}')
        print(f'{e:<10}' + ''.join(cells))
    if a.json:
        with open(a.json, 'w') as f:
            json.dump({'args': vars(a), 'results': results}, f, indent=2)


if __name__ == '__main__':
    main()
