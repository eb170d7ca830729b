"""SDXL prompt golden (gen_fixtures.py step `sdxl`, after tiny-sdxl is made):
A1111 syntax, a 2-chunk prompt and an SDXL embedding on tiny-sdxl, each
tower read by the reference a1111_prompt.py (CLIP-L padding with EOS, bigG
with "!"), the towers' penultimate states side by side, the pooled vector
from bigG's first chunk, fed to diffusers' StableDiffusionXLPipeline as
prompt_embeds / pooled_prompt_embeds.

Writes
  embeddings/tinyxl8.safetensors  SDXL embedding (clip_l [2, 8], clip_g [2, 8])
                                  for tiny-sdxl's 8-wide towers
  golden/sdxl_prompt.{json,safetensors}
                                  cond/uncond [1, 154, 16], pooled/neg_pooled
                                  [1, 8], and the euler image (4 steps, 48x64)
"""
import os

import torch

import a1111_prompt as ref
import goldens
import sdxl_fixtures
import tiny_sdxl

LONG = ('a very long prompt that goes on and on, ' * 12).strip()
PROMPT = LONG + ', a (red:1.3) circle by (tinyxl8:1.2)'
NEGATIVE = '[blurry] tinyxl8'
EMB = {'tinyxl8': 2}
STEPS, GUIDANCE = 4, 5.0


def write_embedding(embdir, width_l, width_g):
    from safetensors.torch import save_file
    g = torch.Generator().manual_seed(2025)
    vec = {'clip_l': torch.randn(2, width_l, generator=g), 'clip_g': torch.randn(2, width_g, generator=g)}
    save_file(vec, os.path.join(embdir, 'tinyxl8.safetensors'))
    return vec


def towers(c, vec, prompt, negative):
    """(cond, uncond, pooled, neg_pooled), both prompts as many chunks."""
    parts = []
    for tok, enc, key in ((c['tokenizer'], c['text_encoder'], 'clip_l'),
                          (c['tokenizer_2'], c['text_encoder_2'], 'clip_g')):
        cs = [ref.chunks(tok, t, 'a1111', EMB) for t in (prompt, negative)]
        parts.append((tok, enc, key, cs))
    n = max(len(cs) for _, _, _, pair in parts for cs in pair)
    states, pooled = [[], []], [None, None]
    with torch.no_grad():
        for tok, enc, key, pair in parts:
            for i, cs in enumerate(pair):
                z, p = ref.encode(enc, ref.pad_chunks(tok, cs, n), {'tinyxl8': vec[key]}, penultimate=True)
                states[i].append(z)
                if p is not None:
                    pooled[i] = p
    return torch.cat(states[0], dim=-1), torch.cat(states[1], dim=-1), pooled[0], pooled[1], n


def check_reference_plain(pipe, c, vec):
    """The reference equals diffusers' own encode_prompt on a short plain pair."""
    with torch.no_grad():
        want = pipe.encode_prompt('a red circle', device='cpu', num_images_per_prompt=1,
                                  do_classifier_free_guidance=True, negative_prompt='blurry')
    got = towers(c, vec, 'a red circle', 'blurry')
    for w, m in zip(want, (got[0], got[1], got[2], got[3])):
        assert torch.allclose(w, m, rtol=0, atol=1e-6), 'SDXL reference differs from diffusers'


def write_all(fixtures):
    models = os.path.join(fixtures, 'models')
    out = os.path.join(fixtures, 'golden')
    c, sched = tiny_sdxl.load(models, 'tiny-sdxl')
    vec = write_embedding(os.path.join(fixtures, 'embeddings'), c['text_encoder'].config.hidden_size,
                          c['text_encoder_2'].config.hidden_size)
    cond, uncond, pooled, neg_pooled, n = towers(c, vec, PROMPT, NEGATIVE)
    assert n == 2 and pooled is not None and neg_pooled is not None
    pipe = sdxl_fixtures._pipe('txt2img', c, sched, 'euler')
    check_reference_plain(pipe, c, vec)
    g = torch.Generator('cpu').manual_seed(sdxl_fixtures.SEED)
    image = pipe(prompt_embeds=cond, pooled_prompt_embeds=pooled, negative_prompt_embeds=uncond,
                 negative_pooled_prompt_embeds=neg_pooled, num_inference_steps=STEPS,
                 guidance_scale=GUIDANCE, height=sdxl_fixtures.HEIGHT, width=sdxl_fixtures.WIDTH,
                 generator=g, output_type='np').images[0]
    goldens.save(os.path.join(out, 'sdxl_prompt.safetensors'), {
        'cond': cond[0], 'uncond': uncond[0], 'pooled': pooled[0], 'neg_pooled': neg_pooled[0],
        'image': torch.from_numpy(image.copy())})
    goldens.write_json(os.path.join(out, 'sdxl_prompt.json'), {
        'model': 'tiny-sdxl (F32)', 'prompt': PROMPT, 'negative_prompt': NEGATIVE,
        'embeddings': ['tinyxl8.safetensors'], 'sampler': 'euler', 'steps': STEPS,
        'guidance_scale': GUIDANCE, 'width': sdxl_fixtures.WIDTH, 'height': sdxl_fixtures.HEIGHT,
        'seed': sdxl_fixtures.SEED, 'generator': 'torch.Generator("cpu").manual_seed(seed)',
        'chunks': n, 'pooled': "text_encoder_2's text_embeds of each prompt's first chunk"})
    print('sdxl_prompt: %d chunks, image mean %.4f' % (n, float(image.mean())))
