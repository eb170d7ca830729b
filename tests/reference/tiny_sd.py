"""The tiny SD1-style test model: configurations, deterministic random weights,
and the diffusers-folder writers (tiny-sd/ in F32, tiny-sd-f16/ in F16).

The three networks have exactly the module types of Stable Diffusion 1.5 with
much smaller widths, so every code path of the C engine (cross-attention
transformers, conv shortcuts, down/up samplers, the VAE mid attention, the
CLIP causal encoder) is exercised while the files stay a few MB.

Weights: the libraries' default initialisation under a fixed seed, then
`make_informative` adjusts them so that a wrong formula in the C engine
cannot hide behind a neutral parameter (see its docstring).
"""
import copy
import json
import os
import shutil
import tempfile

import torch

import clip_vocab

# Seeds of the three networks (each model is built right after
# torch.manual_seed(seed), then perturbed with its own torch.Generator).
SEED_UNET = 1001
SEED_VAE = 1002
SEED_TEXT = 1003

UNET_CONFIG = dict(
    sample_size=8,
    in_channels=4,
    out_channels=4,
    center_input_sample=False,
    flip_sin_to_cos=True,
    freq_shift=0,
    down_block_types=['CrossAttnDownBlock2D', 'CrossAttnDownBlock2D',
                      'CrossAttnDownBlock2D', 'DownBlock2D'],
    mid_block_type='UNetMidBlock2DCrossAttn',
    up_block_types=['UpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D',
                    'CrossAttnUpBlock2D'],
    block_out_channels=[32, 64, 64, 64],
    layers_per_block=2,
    downsample_padding=1,
    mid_block_scale_factor=1,
    act_fn='silu',
    norm_num_groups=32,
    norm_eps=1e-5,
    cross_attention_dim=32,
    attention_head_dim=8,        # SD1 naming quirk: this is the number of heads
    use_linear_projection=False,
    upcast_attention=False,
    resnet_time_scale_shift='default',
)

VAE_CONFIG = dict(
    in_channels=3,
    out_channels=3,
    down_block_types=['DownEncoderBlock2D'] * 4,
    up_block_types=['UpDecoderBlock2D'] * 4,
    block_out_channels=[32, 32, 64, 64],
    layers_per_block=1,
    act_fn='silu',
    latent_channels=4,
    norm_num_groups=32,
    sample_size=64,
    scaling_factor=0.18215,
)

TEXT_CONFIG = dict(
    vocab_size=49408,
    hidden_size=32,
    intermediate_size=64,
    projection_dim=32,
    num_hidden_layers=3,
    num_attention_heads=4,
    max_position_embeddings=77,
    hidden_act='quick_gelu',
    layer_norm_eps=1e-5,
    attention_dropout=0.0,
    dropout=0.0,
    initializer_range=0.02,
    initializer_factor=1.0,
    pad_token_id=1,
    bos_token_id=0,
    eos_token_id=2,
)

# SD 1.5's published scheduler/scheduler_config.json keys, written by hand.
# No timestep_spacing key on purpose: every sampler built from this dict uses
# its own class default (DDIM/LCM leading, Euler/Euler a/DPM++ linspace).
SD15_SCHEDULER_CONFIG = {
    '_class_name': 'PNDMScheduler',
    'beta_start': 0.00085,
    'beta_end': 0.012,
    'beta_schedule': 'scaled_linear',
    'num_train_timesteps': 1000,
    'set_alpha_to_one': False,
    'skip_prk_steps': True,
    'steps_offset': 1,
    'clip_sample': False,
    'trained_betas': None,
}

# Gain applied to every attention query and key projection, so the softmax
# logits have a standard deviation of order 1 (with the default init they are
# ~0.2-0.3 and the attention degenerates into a near-uniform average, which
# would hide a wrong scale, head split or softmax axis in the C engine).
QK_GAIN = {'unet': 2.5, 'vae': 2.0, 'text': 3.0}
# CLIP's token/position embeddings are initialised with std 0.02; scale them
# to std ~0.5 so token identity is well visible in the residual stream.
TEXT_EMBEDDING_GAIN = 25.0


def scheduler_config():
    return dict(SD15_SCHEDULER_CONFIG)


def _is_qk(name):
    return name.endswith(('to_q.weight', 'to_k.weight', 'q_proj.weight', 'k_proj.weight'))


def make_informative(model, seed, qk_gain):
    """Perturb a default-initialised model so that no parameter is neutral.

    - every normalisation weight (GroupNorm/LayerNorm) becomes 1 + N(0, 0.1^2)
      and every normalisation bias N(0, 0.1^2);
    - every other bias gets + N(0, 0.02^2) (CLIP's init zeroes its biases);
    - attention query/key weights are multiplied by `qk_gain`.
    The draws come from a CPU torch.Generator seeded with `seed`, in
    named_parameters() order, so the result is deterministic.
    """
    gen = torch.Generator('cpu').manual_seed(seed)
    norm_params = set()
    for mname, mod in model.named_modules():
        if isinstance(mod, (torch.nn.GroupNorm, torch.nn.LayerNorm)):
            for pname, _ in mod.named_parameters(recurse=False):
                norm_params.add((mname + '.' if mname else '') + pname)
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=gen, dtype=torch.float32)
            if name in norm_params:
                if name.endswith('weight'):
                    p.copy_(1.0 + 0.1 * noise)
                else:
                    p.copy_(0.1 * noise)
            elif name.endswith('bias'):
                p.add_(0.02 * noise)
            elif _is_qk(name):
                p.mul_(qk_gain)
    return model


def build_models():
    """Build the three F32 networks (in memory, eval mode)."""
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(SEED_UNET)
    unet = UNet2DConditionModel(**UNET_CONFIG)
    make_informative(unet, SEED_UNET + 100, QK_GAIN['unet'])

    torch.manual_seed(SEED_VAE)
    vae = AutoencoderKL(**VAE_CONFIG)
    make_informative(vae, SEED_VAE + 100, QK_GAIN['vae'])

    torch.manual_seed(SEED_TEXT)
    text = CLIPTextModel(CLIPTextConfig(**TEXT_CONFIG))
    with torch.no_grad():
        emb = text.embeddings
        emb.token_embedding.weight.mul_(TEXT_EMBEDDING_GAIN)
        emb.position_embedding.weight.mul_(TEXT_EMBEDDING_GAIN)
    make_informative(text, SEED_TEXT + 100, QK_GAIN['text'])

    return unet.float().eval(), vae.float().eval(), text.float().eval()


def build_tokenizer(tok_dir):
    """CLIPTokenizer from the vocab.json/merges.txt clip_vocab.py writes."""
    from transformers import CLIPTokenizer
    clip_vocab.write_tokenizer_files(tok_dir)
    return CLIPTokenizer(vocab=os.path.join(tok_dir, 'vocab.json'),
                         merges=os.path.join(tok_dir, 'merges.txt'), model_max_length=77)


def _write_json(path, obj):
    with open(path, 'w', encoding='utf-8') as f:
        json.dump(obj, f, indent=2, sort_keys=True, allow_nan=False)
        f.write('\n')


def _model_index(with_tokenizer):
    import diffusers
    return {
        '_class_name': 'StableDiffusionPipeline',
        '_diffusers_version': diffusers.__version__,
        'feature_extractor': [None, None],
        'requires_safety_checker': False,
        'safety_checker': [None, None],
        'scheduler': ['diffusers', 'PNDMScheduler'],
        'text_encoder': ['transformers', 'CLIPTextModel'],
        'tokenizer': ['transformers', 'CLIPTokenizer'] if with_tokenizer else [None, None],
        'unet': ['diffusers', 'UNet2DConditionModel'],
        'vae': ['diffusers', 'AutoencoderKL'],
    }


def _write_tokenizer(tok_out):
    """tokenizer/: vocab.json + merges.txt exactly as clip_vocab.py writes them,
    plus the tokenizer_config.json / special_tokens_map.json CLIPTokenizer's
    save_pretrained writes. Checks that save_pretrained's own vocab and merges
    carry the same content as clip_vocab.py's."""
    os.makedirs(tok_out, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, 'src')
        saved = os.path.join(tmp, 'saved')
        tok = build_tokenizer(src)
        tok.save_pretrained(saved)
        names = sorted(os.listdir(saved))
        for fn in ('vocab.json', 'merges.txt'):
            shutil.copyfile(os.path.join(src, fn), os.path.join(tok_out, fn))
        if 'vocab.json' in names:
            a = json.load(open(os.path.join(src, 'vocab.json'), encoding='utf-8'))
            b = json.load(open(os.path.join(saved, 'vocab.json'), encoding='utf-8'))
            assert a == b, 'save_pretrained vocab.json differs from clip_vocab.py'
        if 'merges.txt' in names:
            a = [ln for ln in open(os.path.join(src, 'merges.txt'), encoding='utf-8').read().split('\n')
                 if ln and not ln.startswith('#')]
            b = [ln for ln in open(os.path.join(saved, 'merges.txt'), encoding='utf-8').read().split('\n')
                 if ln and not ln.startswith('#')]
            assert a == b, 'save_pretrained merges.txt differs from clip_vocab.py'
        for fn in ('tokenizer_config.json', 'special_tokens_map.json'):
            if fn in names:
                shutil.copyfile(os.path.join(saved, fn), os.path.join(tok_out, fn))
        if 'special_tokens_map.json' not in names:
            # transformers >= 5 no longer writes this file; published SD
            # folders have it, so write the same four entries by hand.
            _write_json(os.path.join(tok_out, 'special_tokens_map.json'), {
                'bos_token': str(tok.bos_token), 'eos_token': str(tok.eos_token),
                'pad_token': str(tok.pad_token), 'unk_token': str(tok.unk_token)})
        return names


def text_encoder_state_dict(text):
    """The text encoder's tensors under their published names.

    transformers >= 5 flattened CLIPTextModel (its state_dict() and its own
    save_pretrained use `embeddings.*`, `encoder.*`, `final_layer_norm.*`);
    every published SD checkpoint, and docs/diffusion.md, use the historical
    `text_model.` prefix, which transformers still accepts on load.  We write
    the historical names."""
    return {'text_model.' + k: v for k, v in text.state_dict().items()}


def state_dict_of(model):
    from transformers import CLIPTextModel
    if isinstance(model, CLIPTextModel):
        return text_encoder_state_dict(model)
    return dict(model.state_dict())


def _save_safetensors_dict(model, path, dtype):
    """Write a model's state dict with safetensors (sorted keys, contiguous),
    metadata {"format": "pt"} as diffusers/transformers do."""
    from safetensors.torch import save_file
    sd = {k: v.detach().to(dtype).contiguous() for k, v in state_dict_of(model).items()}
    save_file(sd, path, metadata={'format': 'pt'})


def link(out_dir, sub, target):
    """A relative symbolic link out_dir/sub -> target (as Hugging Face's cache
    links its snapshots), so the variants share one copy of the weights."""
    os.symlink(os.path.relpath(target, out_dir), os.path.join(out_dir, sub))


def share_file(written, dest, target):
    """dest becomes a relative link to `target` after checking that `target`
    holds exactly the bytes of the freshly `written` file."""
    with open(written, 'rb') as a, open(target, 'rb') as b:
        assert a.read() == b.read(), ('not shareable', dest, target)
    if os.path.lexists(dest):
        os.remove(dest)
    os.symlink(os.path.relpath(target, os.path.dirname(dest)), dest)


def share_dir(out_dir, sub, target):
    """out_dir/sub (just written) becomes a relative link to `target` after
    checking that `target` holds exactly the same files."""
    d = os.path.join(out_dir, sub)
    names = sorted(os.listdir(d))
    assert names == sorted(os.listdir(target)), (d, target)
    for fn in names:
        with open(os.path.join(d, fn), 'rb') as a, open(os.path.join(target, fn), 'rb') as b:
            assert a.read() == b.read(), ('not shareable', d, fn)
    shutil.rmtree(d)
    link(out_dir, sub, target)


def write_folder(out_dir, unet, vae, text, dtype=torch.float32, with_tokenizer=True):
    """Write a diffusers folder. Configs come from the libraries' own
    save_pretrained (so they carry every key a loader expects); the weight
    files are rewritten by us so that no library-version-dependent metadata
    or key filtering sneaks in."""
    if os.path.isdir(out_dir):
        shutil.rmtree(out_dir)
    os.makedirs(out_dir)
    with tempfile.TemporaryDirectory() as tmp:
        for sub, model in (('unet', unet), ('vae', vae), ('text_encoder', text)):
            d = os.path.join(tmp, sub)
            copy.deepcopy(model).to(dtype).save_pretrained(d, safe_serialization=True)
            os.makedirs(os.path.join(out_dir, sub))
            shutil.copyfile(os.path.join(d, 'config.json'), os.path.join(out_dir, sub, 'config.json'))
            fn = 'model.safetensors' if sub == 'text_encoder' else 'diffusion_pytorch_model.safetensors'
            _save_safetensors_dict(model, os.path.join(out_dir, sub, fn), dtype)
    os.makedirs(os.path.join(out_dir, 'scheduler'))
    _write_json(os.path.join(out_dir, 'scheduler', 'scheduler_config.json'), scheduler_config())
    _write_json(os.path.join(out_dir, 'model_index.json'), _model_index(with_tokenizer))
    if with_tokenizer:
        _write_tokenizer(os.path.join(out_dir, 'tokenizer'))


def load_folder(folder):
    """Load the three networks back from a written folder (F32, eval)."""
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextModel
    unet = UNet2DConditionModel.from_pretrained(folder, subfolder='unet', local_files_only=True)
    vae = AutoencoderKL.from_pretrained(folder, subfolder='vae', local_files_only=True)
    text = CLIPTextModel.from_pretrained(folder, subfolder='text_encoder', local_files_only=True)
    return unet.float().eval(), vae.float().eval(), text.float().eval()
