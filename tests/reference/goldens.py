"""Network-level goldens: text encoder, UNet, VAE decoder (fixtures/golden/).

Every golden is computed from the tiny-sd F32 folder as loaded back from disk
(not from the in-memory models), in float32 on the CPU.
"""
import json
import math
import os
import tempfile

import torch
from safetensors.torch import save_file

import tiny_sd

# Six prompts: empty, the pipeline prompt, an ordinary sentence, text with
# punctuation / digits / accents / an apostrophe / upper case, odd white space,
# and one far longer than 75 tokens (truncated to 77 ids with the final EOS).
PROMPTS = [
    '',
    'a red circle',
    'a photograph of an astronaut riding a horse on the moon, highly detailed',
    "Hello, World!  It's 3.14 o'clock at the Caf\u00e9 na\u00efve -- #42 @you",
    '  leading and   repeated   spaces\tand a tab\nand a newline  ',
    ('a very long prompt that goes on and on, ' * 10 +
     'describing a castle on a hill at sunset with dramatic clouds, oil painting, trending'),
]

SEED_UNET_A = 2001
SEED_UNET_B = 2002
SEED_VAE_A = 3001
SEED_VAE_B = 3002


def save(path, tensors):
    """All goldens: F32, contiguous, row-major; no metadata (deterministic)."""
    save_file({k: v.detach().to(torch.float32).contiguous().clone() for k, v in tensors.items()}, path)


def _strict(v):
    """Strict JSON has no Infinity/NaN: write non-finite floats as the strings
    "inf", "-inf", "nan" (e.g. DPM-Solver's lambda_min_clipped = -inf)."""
    if isinstance(v, float) and not math.isfinite(v):
        return 'nan' if math.isnan(v) else ('inf' if v > 0 else '-inf')
    if isinstance(v, dict):
        return {k: _strict(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_strict(x) for x in v]
    return v


def write_json(path, obj):
    with open(path, 'w', encoding='utf-8') as f:
        json.dump(_strict(obj), f, indent=2, ensure_ascii=False, sort_keys=True, allow_nan=False)
        f.write('\n')


def load_tokenizer(folder):
    from transformers import CLIPTokenizer
    return CLIPTokenizer.from_pretrained(folder, subfolder='tokenizer', local_files_only=True)


def tokenize(tokenizer, prompts):
    """Exactly the SD pipeline's call (encode_prompt)."""
    return tokenizer(prompts, padding='max_length', max_length=tokenizer.model_max_length,
                     truncation=True, return_tensors='pt').input_ids


def text_encoder_golden(folder, text, out_dir):
    tok = load_tokenizer(folder)
    assert tok.model_max_length == 77, tok.model_max_length
    ids = tokenize(tok, PROMPTS)
    # The folder's tokenizer must agree with one built straight from the
    # files clip_vocab.py writes.
    with tempfile.TemporaryDirectory() as tmp:
        assert torch.equal(ids, tokenize(tiny_sd.build_tokenizer(tmp), PROMPTS))
    assert ids.shape == (len(PROMPTS), 77)
    with torch.no_grad():
        out = text(ids, output_hidden_states=True)
        hs = out.hidden_states
        assert len(hs) == text.config.num_hidden_layers + 1
        skip2 = text.final_layer_norm(hs[-2])
    tensors = {
        'ids': ids.to(torch.float32),
        'last_hidden_state': out.last_hidden_state,
        'clip_skip2': skip2,
        'pooled': out.pooler_output,
    }
    save(os.path.join(out_dir, 'text_encoder.safetensors'), tensors)
    write_json(os.path.join(out_dir, 'text_encoder.json'), {
        'prompts': PROMPTS,
        'ids': ids.tolist(),
        'tokenizer': 'tiny-sd/tokenizer, padding max_length 77, truncation true',
        'tensors': {
            'ids': '[6,77] token ids as float32',
            'last_hidden_state': '[6,77,32] final_layer_norm(layer 3 output), no attention mask',
            'clip_skip2': '[6,77,32] final_layer_norm(hidden_states[-2]) = layer 2 output + final LN '
                          '(diffusers clip_skip=1)',
            'pooled': '[6,32] last_hidden_state at argmax(ids) (legacy eos_token_id 2 rule)',
        },
    })
    return tensors


def unet_golden(unet, out_dir):
    g = torch.Generator('cpu').manual_seed(SEED_UNET_A)
    a_x = torch.randn(2, 4, 8, 8, generator=g)
    a_ctx = torch.randn(2, 77, 32, generator=g)
    a_t = torch.tensor([981.0, 500.0], dtype=torch.float32)
    g = torch.Generator('cpu').manual_seed(SEED_UNET_B)
    b_x = torch.randn(1, 4, 6, 10, generator=g)
    b_ctx = torch.randn(1, 77, 32, generator=g)
    b_t = torch.tensor([958.2245], dtype=torch.float32)
    with torch.no_grad():
        a_out = unet(a_x, a_t, encoder_hidden_states=a_ctx).sample
        b_out = unet(b_x, b_t, encoder_hidden_states=b_ctx).sample
    tensors = dict(a_x=a_x, a_t=a_t, a_context=a_ctx, a_out=a_out,
                   b_x=b_x, b_t=b_t, b_context=b_ctx, b_out=b_out)
    save(os.path.join(out_dir, 'unet.safetensors'), tensors)
    return tensors


def vae_golden(vae, out_dir):
    sf = vae.config.scaling_factor
    g = torch.Generator('cpu').manual_seed(SEED_VAE_A)
    a_z = torch.randn(1, 4, 8, 8, generator=g) / sf
    g = torch.Generator('cpu').manual_seed(SEED_VAE_B)
    b_z = torch.randn(1, 4, 6, 10, generator=g) / sf
    with torch.no_grad():
        a_img = vae.decode(a_z).sample
        b_img = vae.decode(b_z).sample
    assert a_img.shape == (1, 3, 64, 64) and b_img.shape == (1, 3, 48, 80)
    tensors = dict(a_z=a_z, a_image=a_img, b_z=b_z, b_image=b_img)
    save(os.path.join(out_dir, 'vae.safetensors'), tensors)
    return tensors
