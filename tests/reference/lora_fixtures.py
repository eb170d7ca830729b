"""LoRA fixtures (gen_fixtures.py --only lora): small LoRA files for tiny-sd
in the formats sdcl reads (F16 tensors), and StableDiffusionPipeline images made with
diffusers' own load_lora_weights / set_adapters.

fixtures/lora/ (LoRA files):
  kohya.safetensors       kohya / A1111 names (lora_unet_*, lora_te_*), rank 4,
                          alpha 2: every attention and feed-forward linear, the
                          transformers' proj_in/proj_out (1x1 convolutions in
                          SD 1.x), the resnets' convolutions and time
                          projections, the down/upsamplers (LoCon: 3x3 down,
                          1x1 up), the text encoder's attention and MLP
  kohya-ldm.safetensors   the same tensors under LDM names
                          (lora_unet_input_blocks_1_1_...), as kohya files made
                          for single-file checkpoints spell them
  peft.safetensors        diffusers / PEFT names (unet.<module>.lora_A.weight,
                          text_encoder.<module>.lora_B.weight), rank 8, no alpha
  peft-old.safetensors    the same tensors under diffusers' older attention-
                          processor names (attn1.processor.to_q_lora.down.weight)
  sd2-peft.safetensors    PEFT names for tiny-sd2 (attention and its linear
                          proj_in/proj_out), rank 4
golden/lora_<case>.safetensors / .json: image and initial noise of
  none (no LoRA: the baseline), kohya_1.0, kohya_0.8, peft_1.0, peft_0.8, and kohya 0.8 + peft 0.5 at once.

lora_sdxl_fixtures.py (gen_fixtures.py step `sdxl`, which makes tiny-sdxl) adds
sdxl-kohya / sdxl-peft / sdxl-kohya-sgm and golden/lora_sdxl_*.

peft-old and kohya-ldm have no diffusers run of their own: the C test
checks that they give the very images of peft and kohya.  Every case is
checked here to move the image well away from the one without LoRA, so a
LoRA that sdcl ignored could not pass.
"""
import json
import os
import re

import numpy as np
import torch
from safetensors.torch import load_file, save_file

import goldens
import ldm_layout
import tiny_sd

PROMPT = 'a red circle'
NEGATIVE = 'blurry'
STEPS = 4
GUIDANCE = 7.5
HEIGHT = 64
WIDTH = 48
SEED = 4321
SEED_KOHYA = 5001
SEED_PEFT = 5002

UNET_LINEAR = re.compile(r'(attn[12]\.(to_q|to_k|to_v|to_out\.0)|ff\.net\.0\.proj|ff\.net\.2'
                         r'|proj_in|proj_out|time_emb_proj)$')
UNET_CONV = re.compile(r'(resnets\.\d+\.(conv1|conv2|conv_shortcut)|samplers\.0\.conv)$')
TEXT_LINEAR = re.compile(r'(self_attn\.(q_proj|k_proj|v_proj|out_proj)|mlp\.fc1|mlp\.fc2)$')
PEFT_UNET = re.compile(r'attn[12]\.(to_q|to_k|to_v|to_out\.0)$')
SD2_UNET = re.compile(r'(attn[12]\.(to_q|to_k|to_v|to_out\.0)|proj_in|proj_out)$')
SEED_SD2 = 5003
PEFT_TEXT = re.compile(r'self_attn\.(q_proj|k_proj|v_proj|out_proj)$')


def _modules(sd, pattern):
    """(module, weight) for every weight whose module matches."""
    out = []
    for k, w in sd.items():
        if k.endswith('.weight') and w.dim() in (2, 4) and pattern.search(k[:-len('.weight')]):
            out.append((k[:-len('.weight')], w))
    return out


def _pair(gen, w, rank, conv_kernel):
    """down [rank, in(, k, k)], up [out, rank(, 1, 1)] scaled to move the layer
    by a fair fraction of its own size."""
    out_f, in_f = w.shape[0], w.shape[1]
    k = w.shape[2] if w.dim() == 4 else 1
    fan_in = in_f * k * k
    down = torch.randn(rank, fan_in, generator=gen) / fan_in ** 0.5
    up = torch.randn(out_f, rank, generator=gen) * (w.std().item() * 1.5 / rank ** 0.5)
    if w.dim() == 4:
        down = down.reshape(rank, in_f, k, k)
        up = up.reshape(out_f, rank, 1, 1)
    # stored in F16 (half the bytes); diffusers and sdcl both compute in fp32
    # with the same rounded values
    return down.half().contiguous(), up.half().contiguous()


def kohya_tensors(usd, tsd, rank=4, alpha=2.0):
    """{diffusers module: (down, up)} per component, and the kohya file's dict."""
    gen = torch.Generator().manual_seed(SEED_KOHYA)
    parts = {'unet': {}, 'text': {}}
    for m, w in _modules(usd, UNET_LINEAR) + _modules(usd, UNET_CONV):
        parts['unet'][m] = _pair(gen, w, rank, True)
    for m, w in _modules(tsd, TEXT_LINEAR):
        parts['text'][m] = _pair(gen, w, rank, False)
    return parts


def write_kohya(parts, path, alpha, unet_name):
    sd = {}
    for comp, prefix in (('unet', 'lora_unet_'), ('text', 'lora_te_')):
        for m, (down, up) in sorted(parts[comp].items()):
            name = unet_name(m) if comp == 'unet' else m
            stem = prefix + name.replace('.', '_')
            sd[stem + '.lora_down.weight'] = down
            sd[stem + '.lora_up.weight'] = up
            sd[stem + '.alpha'] = torch.tensor(alpha)
    save_file(sd, path, metadata={'ss_network_module': 'networks.lora'})


def peft_tensors(usd, tsd, rank=8, seed=SEED_PEFT, unet_pattern=PEFT_UNET):
    gen = torch.Generator().manual_seed(seed)
    parts = {'unet': {}, 'text': {}}
    for m, w in _modules(usd, unet_pattern):
        parts['unet'][m] = _pair(gen, w, rank, False)
    for m, w in _modules(tsd, PEFT_TEXT):
        parts['text'][m] = _pair(gen, w, rank, False)
    return parts


def write_peft(parts, path):
    sd = {}
    for comp, prefix in (('unet', 'unet.'), ('text', 'text_encoder.')):
        for m, (down, up) in sorted(parts[comp].items()):
            sd[prefix + m + '.lora_A.weight'] = down
            sd[prefix + m + '.lora_B.weight'] = up
    save_file(sd, path)


def write_peft_old(parts, path):
    """diffusers' pre-PEFT names: attn1.processor.to_q_lora.down.weight, and
    q_proj.lora_linear_layer.down.weight in the text encoder."""
    sd = {}
    for m, (down, up) in sorted(parts['unet'].items()):
        head, leaf = re.match(r'(.*attn[12])\.(to_q|to_k|to_v|to_out)', m).groups()
        stem = 'unet.%s.processor.%s_lora' % (head, leaf)
        sd[stem + '.down.weight'] = down
        sd[stem + '.up.weight'] = up
    for m, (down, up) in sorted(parts['text'].items()):
        sd['text_encoder.%s.lora_linear_layer.down.weight' % m] = down
        sd['text_encoder.%s.lora_linear_layer.up.weight' % m] = up
    save_file(sd, path)


def _pipe(folder):
    import diffusers
    from diffusers import StableDiffusionPipeline
    pipe = StableDiffusionPipeline.from_pretrained(folder, safety_checker=None,
                                                   requires_safety_checker=False,
                                                   local_files_only=True,
                                                   torch_dtype=torch.float32)
    pipe.scheduler = diffusers.EulerDiscreteScheduler.from_config(tiny_sd.scheduler_config())
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _image(pipe, noise):
    out = pipe(PROMPT, negative_prompt=NEGATIVE, num_inference_steps=STEPS,
               guidance_scale=GUIDANCE, height=HEIGHT, width=WIDTH, latents=noise.clone(),
               output_type='np')
    return torch.from_numpy(np.ascontiguousarray(out.images[0]))


def _count_lora_layers(pipe, adapter):
    """Layers of the UNet and the text encoder that hold `adapter`."""
    n = 0
    for model in (pipe.unet, pipe.text_encoder):
        n += sum(1 for name, _ in model.named_modules() if name.endswith('lora_A.' + adapter))
    return n


def _run_cases(pipe, lora_dir, golden, prefix, cases, expected, noise, model='tiny-sd (F32)'):
    """The image of every case; golden/lora_<prefix><case>.*"""
    base = None
    for name, adapters in cases:
        for file, _ in adapters:
            # the file's F16 values widened to F32: diffusers then runs the
            # adapter in fp32 like the base model (PEFT would compute an
            # F16 adapter in F16), as sdcl does
            sd = load_file(os.path.join(lora_dir, file + '.safetensors'))
            pipe.load_lora_weights({k: v.float() for k, v in sd.items()}, adapter_name=file)
        # every layer of the files must have become a LoRA layer in diffusers
        for file, _ in adapters:
            assert _count_lora_layers(pipe, file) == expected[file], (name, file)
        if adapters:
            pipe.set_adapters([f for f, _ in adapters], adapter_weights=[w for _, w in adapters])
        image = _image(pipe, noise)
        if adapters:
            pipe.unload_lora_weights()
        if base is None:
            base = image
        moved = (image - base).abs().max().item()
        assert moved > 0.05 or not adapters, '%s barely changes the image (%g)' % (name, moved)
        goldens.save(os.path.join(golden, 'lora_%s%s.safetensors' % (prefix, name)),
                     {'image': image, 'init_noise': noise[0]})
        goldens.write_json(os.path.join(golden, 'lora_%s%s.json' % (prefix, name)), {
            'model': model, 'prompt': PROMPT, 'negative_prompt': NEGATIVE,
            'steps': STEPS, 'guidance_scale': GUIDANCE, 'width': WIDTH, 'height': HEIGHT,
            'sampler': 'euler',
            'loras': [{'file': f + '.safetensors', 'weight': w} for f, w in adapters],
            'max_abs_change_from_no_lora': moved,
            'made_with': 'StableDiffusionPipeline.load_lora_weights + set_adapters',
        })
        print('lora %-24s moves the image by up to %.3f' % (prefix + name, moved))
    # the pipeline with every adapter unloaded is the base model again
    after = (_image(pipe, noise) - base).abs().max().item()
    print('lora %-24s after unload_lora_weights: %g from the first no-LoRA image' % (prefix, after))
    assert after < 1e-5, after


def write_sd2(fixtures, noise):
    """tiny-sd2 (linear projections, GELU text encoder): a PEFT file on
    attention and projections, at weight 1."""
    folder = os.path.join(fixtures, 'models', 'tiny-sd2')
    lora_dir = os.path.join(fixtures, 'lora')
    pipe = _pipe(folder)
    usd = dict(pipe.unet.state_dict())
    tsd = tiny_sd.text_encoder_state_dict(pipe.text_encoder)
    parts = peft_tensors(usd, tsd, rank=4, seed=SEED_SD2, unet_pattern=SD2_UNET)
    write_peft(parts, os.path.join(lora_dir, 'sd2-peft.safetensors'))
    n = len(parts['unet']) + len(parts['text'])
    _run_cases(pipe, lora_dir, os.path.join(fixtures, 'golden'), 'sd2_',
               [('none', []), ('peft_1.0', [('sd2-peft', 1.0)])], {'sd2-peft': n}, noise,
               model='tiny-sd2 (F32)')


def write_all(fixtures):
    folder = os.path.join(fixtures, 'models', 'tiny-sd')
    lora_dir = os.path.join(fixtures, 'lora')
    golden = os.path.join(fixtures, 'golden')
    os.makedirs(lora_dir, exist_ok=True)
    unet, vae, text = tiny_sd.load_folder(folder)
    usd = dict(unet.state_dict())
    tsd = tiny_sd.text_encoder_state_dict(text)
    ucfg = dict(unet.config)

    kohya = kohya_tensors(usd, tsd)
    write_kohya(kohya, os.path.join(lora_dir, 'kohya.safetensors'), 2.0, lambda m: m)
    write_kohya(kohya, os.path.join(lora_dir, 'kohya-ldm.safetensors'), 2.0,
                lambda m: ldm_layout.unet_name(m + '.weight', ucfg)[:-len('.weight')])
    peft = peft_tensors(usd, tsd)
    write_peft(peft, os.path.join(lora_dir, 'peft.safetensors'))
    write_peft_old(peft, os.path.join(lora_dir, 'peft-old.safetensors'))
    n_kohya = len(kohya['unet']) + len(kohya['text'])
    n_peft = len(peft['unet']) + len(peft['text'])

    noise = torch.randn((1, 4, HEIGHT // 8, WIDTH // 8), generator=torch.Generator().manual_seed(SEED))
    pipe = _pipe(folder)
    cases = [
        ('none', []),
        ('kohya_1.0', [('kohya', 1.0)]),
        ('kohya_0.8', [('kohya', 0.8)]),
        ('peft_1.0', [('peft', 1.0)]),
        ('peft_0.8', [('peft', 0.8)]),
        ('kohya_0.8_peft_0.5', [('kohya', 0.8), ('peft', 0.5)]),
    ]
    _run_cases(pipe, lora_dir, golden, '', cases, {'kohya': n_kohya, 'peft': n_peft}, noise)
    write_sd2(fixtures, noise)
