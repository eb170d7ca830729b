"""Prompt goldens (gen_fixtures.py step `prompts`): A1111 syntax, long
prompts and textual inversion, from the reference in a1111_prompt.py fed to
diffusers as prompt_embeds, and from diffusers' own load_textual_inversion.

Writes
  embeddings/    tinyemb.safetensors (A1111 emb_params [2, 32]),
                 learned_embeds.safetensors (diffusers, one [32] vector),
                 tinyxl.safetensors (SDXL clip_l [1, 32] + clip_g [1, 48]),
                 wide48.safetensors (A1111, 48 wide: wrong for tiny-sd),
                 pickled.pt (torch.save: must be refused)
  golden/prompt_parse.json        pieces and tiny-sd chunks of tricky prompts
  golden/prompt_embeds.{json,safetensors}
                                  cond/uncond states of the cases below, tiny-sd
                                  (and tiny-sd2 for `sd2_*`)
  golden/prompt_ti.{json,safetensors}
                                  diffusers' encode_prompt with both
                                  embeddings loaded by load_textual_inversion
  golden/pipeline_prompt_long.{json,safetensors}
                                  euler, 4 steps, 48x64, a 2-chunk weighted
                                  prompt with a 1-chunk negative
  (sdxl_prompt_fixtures.py, run by gen_fixtures.py step `sdxl` once tiny-sdxl
  exists: embeddings/tinyxl8, golden/sdxl_prompt.*)
"""
import os

import torch

import a1111_prompt as ref
import goldens
import tiny_sd
import tiny_sd2

LONG = ('a very long prompt that goes on and on, ' * 12).strip()
# (name, model, prompt, negative, syntax)
CASES = [
    ('plain_short', 'tiny-sd', 'a red circle', 'blurry', 'a1111'),
    ('weighted', 'tiny-sd', 'a (red:1.4) circle on a [blue] background, ((sharp))', 'blurry', 'a1111'),
    ('literal', 'tiny-sd', 'a (red:1.4) circle', '', 'plain'),
    ('break', 'tiny-sd', 'a red circle BREAK a (blue) square', 'blurry', 'a1111'),
    ('long', 'tiny-sd', LONG, 'blurry', 'a1111'),
    ('long_negative', 'tiny-sd', 'a red circle', LONG + ', (ugly:1.2)', 'a1111'),
    ('embedding', 'tiny-sd', 'a photo of (tinyemb:1.2), learned_embeds', 'blurry tinyemb', 'a1111'),
    ('sd2_long', 'tiny-sd2', LONG + ' (red:1.3)', 'blurry!', 'a1111'),
]
PARSE = [
    'a (red) circle', '((red)) circle', '(red:1.3) circle', '[blue] square', '[[blue]]',
    '(a [b] c:0.5)', 'a \\(literal\\) paren \\[x\\] \\\\', 'unbalanced (open', 'stray close) ] end',
    '((nested (deep:1.5)) end', 'a BREAK b', 'BREAK', 'aBREAK b BREAKfast BREAK_x', '(x BREAK y)',
    'a  BREAK  BREAK  b', 'colon: no weight', '(bad:1.2.3)', '( sp : 2 )', 'a\\b', 'end \\',
    '[(mixed:1.2)]', '(neg:-0.5) x', ':1.2) stray', 'word(1.5)', 'caf\u00e9 (cr\u00e8me:1.2)',
    '(:.5)', '(x:.)', '<lora:x:1> stays text', '', 'tinyemb, (learned_embeds:0.9)',
    ('one, two, three, four, five, six, seven, eight, nine, ten, ' * 7).strip(),
]
EMB = {'tinyemb': 2, 'learned_embeds': 1}
NEGATIVE_WIDTH = 48


def write_embeddings(out):
    from safetensors.torch import save_file
    os.makedirs(out, exist_ok=True)
    g = torch.Generator().manual_seed(2024)
    vec = {'tinyemb': torch.randn(2, 32, generator=g) * 0.5,
           'learned_embeds': torch.randn(32, generator=g) * 0.5}
    save_file({'emb_params': vec['tinyemb']}, os.path.join(out, 'tinyemb.safetensors'))
    save_file({'<learned-embeds>': vec['learned_embeds']}, os.path.join(out, 'learned_embeds.safetensors'))
    save_file({'clip_l': torch.randn(1, 32, generator=g), 'clip_g': torch.randn(1, NEGATIVE_WIDTH, generator=g)},
              os.path.join(out, 'tinyxl.safetensors'))
    save_file({'emb_params': torch.randn(1, NEGATIVE_WIDTH, generator=g)}, os.path.join(out, 'wide48.safetensors'))
    torch.save({'string_to_param': {'*': torch.zeros(1, 32)}}, os.path.join(out, 'pickled.pt'))
    return {'tinyemb': vec['tinyemb'], 'learned_embeds': vec['learned_embeds'].reshape(1, 32)}


def _load(models, name):
    folder = os.path.join(models, name)
    if name == 'tiny-sd2':
        unet, vae, text, tok, _ = tiny_sd2.load(models, name)
    else:
        unet, vae, text = tiny_sd.load_folder(folder)
        tok = goldens.load_tokenizer(folder)
    return unet, vae, text, tok


def pair(tok, text, case, vectors):
    """cond and uncond states of a case, padded to the same chunk count."""
    _, _, prompt, negative, syntax = case
    emb = EMB if vectors else None
    c = ref.chunks(tok, prompt, syntax, emb)
    u = ref.chunks(tok, negative, syntax, emb)
    n = max(len(c), len(u))
    c, u = ref.pad_chunks(tok, c, n), ref.pad_chunks(tok, u, n)
    return ref.encode(text, c, vectors), ref.encode(text, u, vectors), n


def write_parse(tok, out):
    cases = []
    for p in PARSE:
        pieces = ref.parse(p)
        cs = ref.chunks(tok, p, 'a1111', EMB)
        cases.append({'prompt': p,
                      'pieces': [{'text': t, 'weight': w, 'break': b} for t, w, b in pieces],
                      'ids': [c[0] for c in cs], 'weights': [c[1] for c in cs],
                      'embedding_positions': [sorted(c[2].keys()) for c in cs]})
    goldens.write_json(os.path.join(out, 'prompt_parse.json'),
                       {'embeddings': EMB, 'model': 'tiny-sd tokenizer', 'cases': cases})


def check_reference_plain(models, components):
    """The reference equals diffusers' own encode_prompt on a short plain prompt."""
    from diffusers import StableDiffusionPipeline
    unet, vae, text, tok = components
    pipe = StableDiffusionPipeline(vae=vae, text_encoder=text, tokenizer=tok, unet=unet,
                                   scheduler=None, safety_checker=None, feature_extractor=None,
                                   requires_safety_checker=False)
    want, _ = pipe.encode_prompt('a red circle', 'cpu', 1, False)
    got = ref.encode(text, ref.chunks(tok, 'a red circle'))
    assert torch.equal(want, got), 'reference differs from diffusers on a plain prompt'


def write_ti(models, out, embdir, vectors):
    """diffusers' load_textual_inversion: the reference's states must match."""
    from diffusers import StableDiffusionPipeline
    unet, vae, text, tok = _load(models, 'tiny-sd')
    pipe = StableDiffusionPipeline(vae=vae, text_encoder=text, tokenizer=tok, unet=unet,
                                   scheduler=None, safety_checker=None, feature_extractor=None,
                                   requires_safety_checker=False)
    pipe.load_textual_inversion(os.path.join(embdir, 'tinyemb.safetensors'), token='tinyemb')
    pipe.load_textual_inversion(os.path.join(embdir, 'learned_embeds.safetensors'),
                                token='learned_embeds')
    prompt, negative = 'a photo of tinyemb, learned_embeds', 'blurry tinyemb'
    cond, uncond = pipe.encode_prompt(prompt, 'cpu', 1, True, negative)
    # The reference with the original tokenizer and text encoder.
    _, _, text0, tok0 = _load(models, 'tiny-sd')
    mine = ref.encode(text0, ref.chunks(tok0, prompt, 'plain', EMB), vectors)
    diff = float((mine - cond).abs().max())
    assert diff < 1e-5, 'reference and load_textual_inversion differ by %g' % diff
    goldens.save(os.path.join(out, 'prompt_ti.safetensors'), {'cond': cond, 'uncond': uncond})
    goldens.write_json(os.path.join(out, 'prompt_ti.json'), {
        'model': 'tiny-sd', 'prompt': prompt, 'negative_prompt': negative,
        'embeddings': ['tinyemb.safetensors', 'learned_embeds.safetensors'],
        'reference_max_abs_diff': diff})
    print('prompt_ti: diffusers load_textual_inversion vs reference max |diff| %.2e' % diff)


def write_embeds(models, out, vectors):
    tensors, meta = {}, []
    for case in CASES:
        name, model = case[0], case[1]
        components = _load(models, model)
        cond, uncond, n = pair(components[3], components[2], case, vectors)
        tensors[name + '.cond'], tensors[name + '.uncond'] = cond[0], uncond[0]
        meta.append({'name': name, 'model': model, 'prompt': case[2], 'negative_prompt': case[3],
                     'syntax': case[4], 'chunks': n})
        print('prompt_embeds %s: %d chunk(s)' % (name, n))
    goldens.save(os.path.join(out, 'prompt_embeds.safetensors'), tensors)
    goldens.write_json(os.path.join(out, 'prompt_embeds.json'), {'cases': meta})


def write_pipeline(models, out):
    import pipelines
    unet, vae, text, tok = _load(models, 'tiny-sd')
    prompt = LONG + ', a (red:1.3) circle'
    negative = 'blurry'
    cond, uncond, n = pair(tok, text, ('', '', prompt, negative, 'a1111'), None)
    assert n == 2
    pipe = pipelines._make_pipe((unet, vae, text, tok), 'euler')
    g = torch.Generator('cpu').manual_seed(pipelines.SEED)
    image = pipe(prompt_embeds=cond, negative_prompt_embeds=uncond,
                 num_inference_steps=pipelines.STEPS, guidance_scale=pipelines.GUIDANCE,
                 height=pipelines.HEIGHT, width=pipelines.WIDTH, generator=g,
                 output_type='np').images[0]
    goldens.save(os.path.join(out, 'pipeline_prompt_long.safetensors'),
                 {'image': torch.from_numpy(image.copy()), 'cond': cond[0], 'uncond': uncond[0]})
    goldens.write_json(os.path.join(out, 'pipeline_prompt_long.json'), {
        'model': 'tiny-sd (F32)', 'prompt': prompt, 'negative_prompt': negative,
        'sampler': 'euler', 'steps': pipelines.STEPS, 'guidance_scale': pipelines.GUIDANCE,
        'width': pipelines.WIDTH, 'height': pipelines.HEIGHT, 'seed': pipelines.SEED,
        'generator': 'torch.Generator("cpu").manual_seed(seed)', 'chunks': n})
    print('pipeline_prompt_long: image mean %.4f' % float(image.mean()))


def write_all(fixtures):
    models = os.path.join(fixtures, 'models')
    out = os.path.join(fixtures, 'golden')
    embdir = os.path.join(fixtures, 'embeddings')
    vectors = write_embeddings(embdir)
    components = _load(models, 'tiny-sd')
    check_reference_plain(models, components)
    write_parse(components[3], out)
    write_ti(models, out, embdir, vectors)
    write_embeds(models, out, vectors)
    write_pipeline(models, out)
