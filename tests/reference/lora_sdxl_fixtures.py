"""SDXL LoRA fixtures (gen_fixtures.py step `sdxl`, after tiny-sdxl is made):
one LoRA for tiny-sdxl on the UNet's attention and both text towers, as
kohya names it (lora_unet_*, lora_te1_* for CLIP-L, lora_te2_* for bigG;
rank 4, alpha 4) and as diffusers / PEFT does (unet., text_encoder.,
text_encoder_2.), the same tensors, and the image StableDiffusionXLPipeline
makes with load_lora_weights of the kohya file.

fixtures/lora/sdxl-kohya.safetensors, sdxl-peft.safetensors
fixtures/lora/sdxl-kohya-sgm.safetensors: the kohya tensors with the UNet's
  modules under SGM names (lora_unet_input_blocks_4_1_transformer_blocks_0_...,
  lora_unet_output_blocks_...), as kohya's scripts write SDXL LoRAs
golden/lora_sdxl_{none,kohya_1.0,kohya_sgm_1.0}.{json,safetensors}: image and
  initial noise; kohya_sgm_1.0 is diffusers' load_lora_weights of the SGM
  file (diffusers converts the SGM names to its own)
The C test also checks the PEFT spelling gives the kohya image, and applies
the SGM file to the single-file tiny-sdxl-sgm-f16.
"""
import os

import torch
from safetensors.torch import load_file, save_file

import goldens
import ldm_layout
import lora_fixtures as lf
import sdxl_fixtures
import tiny_sdxl

SEED_SDXL = 5004
RANK = 4
ALPHA = 4.0   # scale 1: the PEFT file (no alpha) holds the very same update


def _parts(c):
    gen = torch.Generator().manual_seed(SEED_SDXL)
    parts = {}
    usd = dict(c['unet'].state_dict())
    parts['unet'] = {m: lf._pair(gen, w, RANK, False) for m, w in lf._modules(usd, lf.PEFT_UNET)}
    for comp in ('text_encoder', 'text_encoder_2'):
        sd = {('' if k.startswith('text_model.') else 'text_model.') + k: v
              for k, v in c[comp].state_dict().items()}   # the published names (tiny_sd.py)
        parts[comp] = {m: lf._pair(gen, w, RANK, False) for m, w in lf._modules(sd, lf.TEXT_LINEAR)}
    return parts


_UNET_MODULES = {}   # kohya stem -> diffusers module, filled by _write


def _write(parts, lora_dir, unet_config):
    kohya, peft = {}, {}
    prefixes = {'unet': ('lora_unet_', 'unet.'), 'text_encoder': ('lora_te1_', 'text_encoder.'),
                'text_encoder_2': ('lora_te2_', 'text_encoder_2.')}
    for comp, (kp, pp) in prefixes.items():
        for m, (down, up) in sorted(parts[comp].items()):
            stem = kp + m.replace('.', '_')
            if comp == 'unet':
                _UNET_MODULES[stem] = m
            kohya[stem + '.lora_down.weight'] = down
            kohya[stem + '.lora_up.weight'] = up
            kohya[stem + '.alpha'] = torch.tensor(ALPHA)
            peft[pp + m + '.lora_A.weight'] = down
            peft[pp + m + '.lora_B.weight'] = up
    save_file(kohya, os.path.join(lora_dir, 'sdxl-kohya.safetensors'),
              metadata={'ss_network_module': 'networks.lora'})
    save_file(peft, os.path.join(lora_dir, 'sdxl-peft.safetensors'))
    save_file(_sgm_names(kohya, unet_config), os.path.join(lora_dir, 'sdxl-kohya-sgm.safetensors'),
              metadata={'ss_network_module': 'networks.lora'})


def _sgm_names(kohya, unet_config):
    """The kohya file with its UNet stems under SGM (LDM) module names."""
    out = {}
    for key, v in kohya.items():
        stem, leaf = key.split('.', 1)
        if stem.startswith('lora_unet_'):
            module = _UNET_MODULES[stem]
            sgm = ldm_layout.unet_name(module + '.weight', unet_config)[:-len('.weight')]
            stem = 'lora_unet_' + sgm.replace('.', '_')
        out[stem + '.' + leaf] = v
    assert len(out) == len(kohya)
    return out


def _count(pipe, adapter):
    return sum(1 for model in (pipe.unet, pipe.text_encoder, pipe.text_encoder_2)
               for name, _ in model.named_modules() if name.endswith('lora_A.' + adapter))


def write_all(fixtures):
    models = os.path.join(fixtures, 'models')
    lora_dir = os.path.join(fixtures, 'lora')
    golden = os.path.join(fixtures, 'golden')
    c, sched = tiny_sdxl.load(models, 'tiny-sdxl')
    parts = _parts(c)
    _write(parts, lora_dir, dict(c['unet'].config))
    n = sum(len(p) for p in parts.values())
    assert all(parts[k] for k in parts), 'every component must hold LoRA layers'
    pipe = sdxl_fixtures._pipe('txt2img', c, sched, 'euler')
    f = 2 ** (len(c['vae'].config.block_out_channels) - 1)
    noise = torch.randn((1, 4, lf.HEIGHT // f, lf.WIDTH // f),
                        generator=torch.Generator().manual_seed(lf.SEED))

    def image():
        out = pipe(lf.PROMPT, negative_prompt=lf.NEGATIVE, num_inference_steps=lf.STEPS,
                   guidance_scale=lf.GUIDANCE, height=lf.HEIGHT, width=lf.WIDTH,
                   latents=noise.clone(), output_type='np')
        return torch.from_numpy(out.images[0].copy())

    base = image()
    sd = load_file(os.path.join(lora_dir, 'sdxl-kohya.safetensors'))
    pipe.load_lora_weights({k: v.float() for k, v in sd.items()}, adapter_name='sdxl-kohya')
    assert _count(pipe, 'sdxl-kohya') == n, (_count(pipe, 'sdxl-kohya'), n)
    with_lora = image()
    moved = (with_lora - base).abs().max().item()
    assert moved > 0.05, 'the SDXL LoRA barely changes the image (%g)' % moved
    # The SGM spelling through diffusers' own name conversion: every layer
    # found, and the image of the diffusers-named file.
    pipe.unload_lora_weights()
    sd = load_file(os.path.join(lora_dir, 'sdxl-kohya-sgm.safetensors'))
    pipe.load_lora_weights({k: v.float() for k, v in sd.items()}, adapter_name='sdxl-kohya-sgm')
    assert _count(pipe, 'sdxl-kohya-sgm') == n, (_count(pipe, 'sdxl-kohya-sgm'), n)
    with_sgm = image()
    off = (with_sgm - with_lora).abs().max().item()
    assert off < 1e-5, 'diffusers reads the SGM names differently (%g)' % off
    for name, img, loras in (('none', base, []), ('kohya_1.0', with_lora, [('sdxl-kohya', 1.0)]),
                             ('kohya_sgm_1.0', with_sgm, [('sdxl-kohya-sgm', 1.0)])):
        goldens.save(os.path.join(golden, 'lora_sdxl_%s.safetensors' % name),
                     {'image': img, 'init_noise': noise[0]})
        goldens.write_json(os.path.join(golden, 'lora_sdxl_%s.json' % name), {
            'model': 'tiny-sdxl (F32)', 'prompt': lf.PROMPT, 'negative_prompt': lf.NEGATIVE,
            'steps': lf.STEPS, 'guidance_scale': lf.GUIDANCE, 'width': lf.WIDTH,
            'height': lf.HEIGHT, 'sampler': 'euler', 'force_zeros_for_empty_prompt': True,
            'loras': [{'file': f_ + '.safetensors', 'weight': w} for f_, w in loras],
            'lora_layers': n, 'max_abs_change_from_no_lora': moved if loras else 0.0,
            'made_with': 'StableDiffusionXLPipeline.load_lora_weights (kohya te1/te2 names%s)'
                         % (', SGM UNet names converted by diffusers' if 'sgm' in name else ''),
        })
    print('lora sdxl: %d layers, the kohya file moves the image by up to %.3f' % (n, moved))
