#!/usr/bin/env python3
"""Regenerate sdcl's reference fixtures (tests/reference/fixtures/).

    tools/setup-reference.sh            # once: venv with requirements.txt
    tests/reference/.venv/bin/python tests/reference/gen_fixtures.py [--only STEP,...]
        [--samplers NAME,...]   (pipelines / edit: just these samplers' goldens)

Steps (default: all, in this order):
    models     tiny-sd/, tiny-sd-f16/, tiny-sd-ldm.safetensors, tiny-sd-ldm-f16.safetensors
    text       golden/text_encoder.{safetensors,json}
    unet       golden/unet.safetensors
    vae        golden/vae.safetensors
    pipelines  golden/pipeline_<sampler>.{safetensors,json}
    edit       images/{init,mask}-48x64.png, tiny-sd-inpaint/,
               golden/vae_encoder.*, golden/img2img_*.*, golden/inpaint{4,9}_*.*
               (edit_fixtures.py; needs models/tiny-sd)
    sd2        models/tiny-sd2*/, tiny-sd2*-ldm*, golden/sd2_* (sd2_fixtures.py;
               needs images/ from step edit)
    prompts    embeddings/, golden/prompt_*, golden/pipeline_prompt_long.*
               (prompt_fixtures.py: A1111 syntax, long prompts, textual
               inversion; needs models/tiny-sd, tiny-sd2)
    lora       lora/*.safetensors, golden/lora_* (lora_fixtures.py; needs
               models/tiny-sd and peft, see requirements.txt)
    sdxl       models/tiny-sdxl*/, tiny-sdxl{,-inpaint}-sgm-f16.safetensors, golden/sdxl_*
               (sdxl_fixtures.py; needs models/tiny-sd, tiny-sd2 and images/);
               then golden/sdxl_prompt.* + embeddings/tinyxl8.safetensors
               (sdxl_prompt_fixtures.py) and lora/sdxl-*.safetensors +
               golden/lora_sdxl_* (lora_sdxl_fixtures.py, needs peft)
    q8         golden/pipeline_euler_q8w.* (q8_fixtures.py: the pipeline on
               --precision q8's weights; needs models/tiny-sd)

Everything is float32 on the CPU with fixed seeds and one thread; running the
script twice gives bit-identical files (see README.md). The network goldens
and pipelines always load the tiny-sd folder back from disk first.
"""
import argparse
import hashlib
import os
import sys
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

FIXTURES = os.path.join(HERE, 'fixtures')
MODELS = os.path.join(FIXTURES, 'models')
GOLDEN = os.path.join(FIXTURES, 'golden')
IMAGES = os.path.join(FIXTURES, 'images')
STEPS = ('models', 'text', 'unet', 'vae', 'pipelines', 'tiling', 'edit', 'sd2', 'prompts',
         'lora', 'sdxl', 'q8')


def _setup_torch():
    import torch
    torch.set_num_threads(1)          # reductions in a fixed order
    torch.use_deterministic_algorithms(True)
    torch.set_grad_enabled(False)
    warnings.filterwarnings('ignore')
    from diffusers.utils import logging as dlog
    from transformers.utils import logging as tlog
    dlog.set_verbosity_error()
    tlog.set_verbosity_error()
    dlog.disable_progress_bar()
    tlog.disable_progress_bar()
    return torch


def write_models():
    import torch
    from safetensors.torch import save_file
    import ldm_layout
    import tiny_sd

    os.makedirs(MODELS, exist_ok=True)
    unet, vae, text = tiny_sd.build_models()
    f32 = os.path.join(MODELS, 'tiny-sd')
    tiny_sd.write_folder(f32, unet, vae, text, torch.float32, with_tokenizer=True)
    tiny_sd.write_folder(os.path.join(MODELS, 'tiny-sd-f16'), unet, vae, text,
                         torch.float16, with_tokenizer=False)

    # Reload from disk and check the folder holds exactly the built weights.
    unet2, vae2, text2 = tiny_sd.load_folder(f32)
    for a, b in ((unet, unet2), (vae, vae2), (text, text2)):
        sa, sb = tiny_sd.state_dict_of(a), tiny_sd.state_dict_of(b)
        assert sa.keys() == sb.keys()
        for k in sa:
            assert torch.equal(sa[k], sb[k]), k

    usd = dict(unet.state_dict())
    vsd = dict(vae.state_dict())
    tsd = tiny_sd.text_encoder_state_dict(text)
    ldm = ldm_layout.to_ldm(usd, vsd, tsd, dict(unet.config), dict(vae.config))
    # Own inverse parser: the mapping must be a bijection that loses nothing.
    u, v, t = ldm_layout.from_ldm(ldm, dict(unet.config), dict(vae.config))
    for mine, ref in ((u, usd), (v, vsd), (t, tsd)):
        assert mine.keys() == ref.keys(), set(mine) ^ set(ref)
        for k in ref:
            assert torch.equal(mine[k], ref[k]), k

    meta = {'format': 'pt'}
    path32 = os.path.join(MODELS, 'tiny-sd-ldm.safetensors')
    save_file({k: x.contiguous() for k, x in ldm.items()}, path32, metadata=meta)
    half = {}
    for k, x in ldm.items():
        dt = torch.bfloat16 if k.startswith(ldm_layout.VAE_PREFIX) else torch.float16
        half[k] = x.to(dt).contiguous()
    save_file(half, os.path.join(MODELS, 'tiny-sd-ldm-f16.safetensors'), metadata=meta)

    check_single_file(path32, f32, usd, vsd, tsd)


def check_single_file(path, folder, usd, vsd, tsd):
    """diffusers' own single-file loader must read our LDM file back into
    tensors identical to the diffusers folder's."""
    import torch
    from diffusers import StableDiffusionPipeline
    import tiny_sd
    pipe = StableDiffusionPipeline.from_single_file(
        path, config=folder, local_files_only=True, safety_checker=None,
        requires_safety_checker=False, torch_dtype=torch.float32)
    for name, mine, ref in (('unet', dict(pipe.unet.state_dict()), usd),
                            ('vae', dict(pipe.vae.state_dict()), vsd),
                            ('text_encoder', tiny_sd.text_encoder_state_dict(pipe.text_encoder), tsd)):
        assert mine.keys() == ref.keys(), (name, set(mine) ^ set(ref))
        for k in ref:
            assert torch.equal(mine[k], ref[k]), (name, k)
    print('single-file round trip: diffusers from_single_file reproduces all %d tensors'
          % (len(usd) + len(vsd) + len(tsd)))


def write_net_goldens(steps):
    import goldens
    import tiny_sd
    os.makedirs(GOLDEN, exist_ok=True)
    folder = os.path.join(MODELS, 'tiny-sd')
    unet, vae, text = tiny_sd.load_folder(folder)
    if 'text' in steps:
        goldens.text_encoder_golden(folder, text, GOLDEN)
    if 'unet' in steps:
        goldens.unet_golden(unet, GOLDEN)
    if 'vae' in steps:
        goldens.vae_golden(vae, GOLDEN)


def write_pipelines(only=None):
    import pipelines
    os.makedirs(GOLDEN, exist_ok=True)
    pipelines.write_all(os.path.join(MODELS, 'tiny-sd'), GOLDEN, only)
    if only is not None:
        return
    pipelines.write_reduced_precision(os.path.join(MODELS, 'tiny-sd'),
                                      os.path.join(MODELS, 'tiny-sd-ldm-f16.safetensors'), GOLDEN)


def write_edit(only=None):
    import edit_fixtures
    edit_fixtures.write_all(FIXTURES, only)


def write_sd2():
    import sd2_fixtures
    sd2_fixtures.write_all(FIXTURES)


def write_lora():
    import lora_fixtures
    lora_fixtures.write_all(FIXTURES)


def summary():
    print('\n%-60s %10s  %s' % ('file', 'bytes', 'sha256[:16]'))
    for root in (MODELS, GOLDEN, IMAGES, os.path.join(FIXTURES, 'lora')):
        for dirpath, _, files in sorted(os.walk(root)):
            for fn in sorted(files):
                p = os.path.join(dirpath, fn)
                h = hashlib.sha256(open(p, 'rb').read()).hexdigest()[:16]
                print('%-60s %10d  %s' % (os.path.relpath(p, FIXTURES), os.path.getsize(p), h))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--only', default=','.join(STEPS),
                    help='comma-separated subset of: ' + ', '.join(STEPS))
    ap.add_argument('--samplers', default=None,
                    help='with pipelines / edit: only these samplers\' goldens (comma-separated), '
                         'e.g. after adding a sampler')
    args = ap.parse_args()
    steps = [s for s in args.only.split(',') if s]
    only = [s for s in args.samplers.split(',') if s] if args.samplers else None
    bad = set(steps) - set(STEPS)
    if bad:
        ap.error('unknown step(s): ' + ', '.join(sorted(bad)))
    _setup_torch()
    if 'models' in steps:
        write_models()
    if set(steps) & {'text', 'unet', 'vae'}:
        write_net_goldens(steps)
    if 'pipelines' in steps:
        write_pipelines(only)
    if 'tiling' in steps:
        import pipelines
        pipelines.write_tiling(os.path.join(MODELS, 'tiny-sd'), GOLDEN)
    if 'edit' in steps:
        write_edit(only)
    if 'sd2' in steps:
        write_sd2()
    if 'prompts' in steps:
        import prompt_fixtures
        prompt_fixtures.write_all(FIXTURES)
    if 'lora' in steps:
        write_lora()
    if 'sdxl' in steps:
        import sdxl_fixtures
        sdxl_fixtures.write_all(FIXTURES)
        import sdxl_prompt_fixtures
        import lora_sdxl_fixtures
        sdxl_prompt_fixtures.write_all(FIXTURES)
        lora_sdxl_fixtures.write_all(FIXTURES)
    if 'q8' in steps:
        import q8_fixtures
        q8_fixtures.write_all(os.path.join(MODELS, 'tiny-sd'), GOLDEN)
    summary()


if __name__ == '__main__':
    main()
