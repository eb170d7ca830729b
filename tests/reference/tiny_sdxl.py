"""The tiny SDXL-style test models: configurations, weights, the diffusers
folders and the single-file SGM layout (gen_fixtures.py step `sdxl`;
README.md §SDXL fixtures).

What sets SDXL apart, and what these models make a C engine get right
(docs/diffusion.md §SDXL):
  - two text encoders: CLIP-L (quick GELU, pads with <|endoftext|>) and
    OpenCLIP bigG with a text projection (exact GELU, pads with "!"); the
    conditioning is both towers' PENULTIMATE hidden states (no final
    LayerNorm) concatenated on the channel axis (8 + 8 = 16 here, 768 +
    1280 = 2048 in SDXL); the pooled vector is bigG's final LayerNorm output
    at the EOS token through text_projection.
  - the UNet's `text_time` add embedding: pooled vector + sinusoidal
    embeddings of the six size/crop ids, through a two-layer MLP added to the
    time embedding; levels without attention (DownBlock2D first), and a
    transformer depth per level (here [1, 1, 2]; SDXL [1, 2, 10]).
  - VAE scaling factor 0.13025.

Size: every weight is rounded to float16 and stored as F16 (the single file
too), so the folder and the single file hold the same values and share one
set of goldens; text encoders 8 wide keep the two 49408-row token
embeddings at 0.8 MB each.
"""
import json
import os
import shutil
import tempfile

import torch

import ldm_layout
import tiny_sd

SEED_UNET = 3101
SEED_VAE = 3102
SEED_TEXT = 3103
SEED_TEXT_2 = 3104
SEED_INPAINT_CONV_IN = 3105

ADD_TIME_DIM = 8            # SDXL: 256
TEXT_WIDTH = 8              # CLIP-L 768, bigG 1280
PROJECTION_DIM = 8          # bigG's text_projection: 1280

UNET_CONFIG = dict(
    sample_size=8,
    in_channels=4,
    out_channels=4,
    flip_sin_to_cos=True,
    freq_shift=0,
    down_block_types=['DownBlock2D', 'CrossAttnDownBlock2D', 'CrossAttnDownBlock2D'],
    mid_block_type='UNetMidBlock2DCrossAttn',
    up_block_types=['CrossAttnUpBlock2D', 'CrossAttnUpBlock2D', 'UpBlock2D'],
    block_out_channels=[32, 32, 32],
    layers_per_block=1,
    act_fn='silu',
    norm_num_groups=32,
    norm_eps=1e-5,
    cross_attention_dim=2 * TEXT_WIDTH,
    attention_head_dim=[2, 2, 2],            # head counts, 16 wide
    transformer_layers_per_block=[1, 1, 2],
    use_linear_projection=True,
    addition_embed_type='text_time',
    addition_time_embed_dim=ADD_TIME_DIM,
    projection_class_embeddings_input_dim=PROJECTION_DIM + 6 * ADD_TIME_DIM,
)

VAE_CONFIG = dict(
    tiny_sd.VAE_CONFIG,
    block_out_channels=[32, 32, 32, 32],   # SDXL's VAE (like SD's) has 32 groups
    scaling_factor=0.13025,
)

TEXT_CONFIG = dict(
    tiny_sd.TEXT_CONFIG,
    hidden_size=TEXT_WIDTH,
    intermediate_size=4 * TEXT_WIDTH,
    num_hidden_layers=3,
    num_attention_heads=4,
)
TEXT_2_CONFIG = dict(TEXT_CONFIG, hidden_act='gelu', projection_dim=PROJECTION_DIM)

# SDXL base 1.0's published scheduler config; SDXL-Turbo's.
SCHED_BASE = {
    '_class_name': 'EulerDiscreteScheduler', 'beta_end': 0.012, 'beta_schedule': 'scaled_linear',
    'beta_start': 0.00085, 'clip_sample': False, 'interpolation_type': 'linear',
    'num_train_timesteps': 1000, 'prediction_type': 'epsilon', 'sample_max_value': 1.0,
    'set_alpha_to_one': False, 'skip_prk_steps': True, 'steps_offset': 1,
    'timestep_spacing': 'leading', 'trained_betas': None, 'use_karras_sigmas': False,
}
SCHED_TURBO = dict(SCHED_BASE, timestep_spacing='trailing')

# name -> (scheduler config, pipeline class, UNet in_channels)
MODELS = {
    'tiny-sdxl': (SCHED_BASE, 'StableDiffusionXLPipeline', 4),
    'tiny-sdxl-turbo': (SCHED_TURBO, 'StableDiffusionXLPipeline', 4),
    'tiny-sdxl-inpaint': (SCHED_BASE, 'StableDiffusionXLInpaintPipeline', 9),
}


def _f16_round(model):
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(p.to(torch.float16).to(torch.float32))
    return model.float().eval()


def build_unet(in_channels=4):
    from diffusers import UNet2DConditionModel
    torch.manual_seed(SEED_UNET)
    unet = UNet2DConditionModel(**UNET_CONFIG)
    tiny_sd.make_informative(unet, SEED_UNET + 100, tiny_sd.QK_GAIN['unet'])
    unet = _f16_round(unet)
    if in_channels == 4:
        return unet
    wide = UNet2DConditionModel(**dict(UNET_CONFIG, in_channels=in_channels)).float().eval()
    sd = dict(unet.state_dict())
    w4 = sd['conv_in.weight']
    g = torch.Generator('cpu').manual_seed(SEED_INPAINT_CONV_IN)
    extra = (torch.rand((w4.shape[0], in_channels - 4) + tuple(w4.shape[2:]), generator=g) * 2 - 1) / 6.0
    sd['conv_in.weight'] = torch.cat([w4, extra], dim=1).contiguous()
    wide.load_state_dict(sd, strict=True)
    return _f16_round(wide)


def _text(cls, cfg, seed):
    from transformers import CLIPTextConfig
    torch.manual_seed(seed)
    text = cls(CLIPTextConfig(**cfg))
    with torch.no_grad():
        for name, p in text.named_parameters():
            if name.endswith(('token_embedding.weight', 'position_embedding.weight')):
                p.mul_(tiny_sd.TEXT_EMBEDDING_GAIN)
    tiny_sd.make_informative(text, seed + 100, tiny_sd.QK_GAIN['text'])
    return _f16_round(text)


def build_texts():
    from transformers import CLIPTextModel, CLIPTextModelWithProjection
    return (_text(CLIPTextModel, TEXT_CONFIG, SEED_TEXT),
            _text(CLIPTextModelWithProjection, TEXT_2_CONFIG, SEED_TEXT_2))


def build_vae():
    from diffusers import AutoencoderKL
    torch.manual_seed(SEED_VAE)
    vae = AutoencoderKL(**VAE_CONFIG)
    tiny_sd.make_informative(vae, SEED_VAE + 100, tiny_sd.QK_GAIN['vae'])
    return _f16_round(vae)


# ---------------------------------------------------------------------------
# Folders

def _save(model, out_dir, sub, fn):
    with tempfile.TemporaryDirectory() as tmp:
        d = os.path.join(tmp, sub)
        model.save_pretrained(d, safe_serialization=True)
        os.makedirs(os.path.join(out_dir, sub))
        shutil.copyfile(os.path.join(d, 'config.json'), os.path.join(out_dir, sub, 'config.json'))
    tiny_sd._save_safetensors_dict(model, os.path.join(out_dir, sub, fn), torch.float16)


def _link(out_dir, sub, target):
    os.symlink(os.path.relpath(target, out_dir), os.path.join(out_dir, sub))


def _model_index(pipe_cls, sched):
    import diffusers
    return {
        '_class_name': pipe_cls, '_diffusers_version': diffusers.__version__,
        'force_zeros_for_empty_prompt': True,
        'scheduler': ['diffusers', sched['_class_name']],
        'text_encoder': ['transformers', 'CLIPTextModel'],
        'text_encoder_2': ['transformers', 'CLIPTextModelWithProjection'],
        'tokenizer': ['transformers', 'CLIPTokenizer'],
        'tokenizer_2': ['transformers', 'CLIPTokenizer'],
        'unet': ['diffusers', 'UNet2DConditionModel'],
        'vae': ['diffusers', 'AutoencoderKL'],
    }


def write_folders(models_dir):
    """tiny-sdxl/ with its own weights (tokenizers linked to tiny-sd's and
    tiny-sd2's, which pad as SDXL's two do); tiny-sdxl-turbo/ differs in its
    scheduler only; tiny-sdxl-inpaint/ has its own 9-channel UNet."""
    unet = build_unet()
    text, text_2 = build_texts()
    vae = build_vae()
    base = os.path.join(models_dir, 'tiny-sdxl')
    for name, (sched, pipe_cls, in_ch) in MODELS.items():
        out = os.path.join(models_dir, name)
        if os.path.lexists(out):
            shutil.rmtree(out)
        os.makedirs(out)
        if name == 'tiny-sdxl':
            _save(unet, out, 'unet', 'diffusion_pytorch_model.safetensors')
            _save(vae, out, 'vae', 'diffusion_pytorch_model.safetensors')
            _save(text, out, 'text_encoder', 'model.safetensors')
            _save(text_2, out, 'text_encoder_2', 'model.safetensors')
            _link(out, 'tokenizer', os.path.join(models_dir, 'tiny-sd', 'tokenizer'))
            _link(out, 'tokenizer_2', os.path.join(models_dir, 'tiny-sd2', 'tokenizer'))
        else:
            if in_ch == 4:
                _link(out, 'unet', os.path.join(base, 'unet'))
            else:
                _save(build_unet(in_ch), out, 'unet', 'diffusion_pytorch_model.safetensors')
            for sub in ('vae', 'text_encoder', 'text_encoder_2', 'tokenizer', 'tokenizer_2'):
                _link(out, sub, os.path.join(base, sub))
        os.makedirs(os.path.join(out, 'scheduler'))
        tiny_sd._write_json(os.path.join(out, 'scheduler', 'scheduler_config.json'), sched)
        tiny_sd._write_json(os.path.join(out, 'model_index.json'), _model_index(pipe_cls, sched))


def load(models_dir, name):
    """dict of the pipeline components of one written folder (F32, eval)."""
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer
    folder = os.path.join(models_dir, name)
    kw = dict(local_files_only=True)
    c = dict(
        unet=UNet2DConditionModel.from_pretrained(folder, subfolder='unet', **kw),
        vae=AutoencoderKL.from_pretrained(folder, subfolder='vae', **kw),
        text_encoder=CLIPTextModel.from_pretrained(folder, subfolder='text_encoder', **kw),
        text_encoder_2=CLIPTextModelWithProjection.from_pretrained(folder, subfolder='text_encoder_2', **kw),
        tokenizer=CLIPTokenizer.from_pretrained(folder, subfolder='tokenizer', **kw),
        tokenizer_2=CLIPTokenizer.from_pretrained(folder, subfolder='tokenizer_2', **kw),
    )
    for k in ('unet', 'vae', 'text_encoder', 'text_encoder_2'):
        c[k] = c[k].float().eval()
    assert c['tokenizer'].pad_token_id == 49407 and c['tokenizer_2'].pad_token_id == 0
    with open(os.path.join(folder, 'scheduler', 'scheduler_config.json'), encoding='utf-8') as f:
        sched = json.load(f)
    return c, sched


# ---------------------------------------------------------------------------
# Single file: SGM names (docs/diffusion.md §SDXL single files)

EMB0 = 'conditioner.embedders.0.transformer.'
EMB1 = 'conditioner.embedders.1.model.'
_OPENCLIP_LAYER = {
    'layer_norm1': 'ln_1', 'layer_norm2': 'ln_2', 'self_attn.out_proj': 'attn.out_proj',
    'mlp.fc1': 'mlp.c_fc', 'mlp.fc2': 'mlp.c_proj',
}


def openclip_state_dict(text_2):
    """bigG as an SGM file stores it: OpenCLIP names, fused in_proj, and
    text_projection as the [width, projection] matrix x is multiplied by."""
    sd = {k if k.startswith(('text_model.', 'text_projection.')) else 'text_model.' + k: v
          for k, v in text_2.state_dict().items()}
    t = 'text_model.'
    out = {
        EMB1 + 'token_embedding.weight': sd[t + 'embeddings.token_embedding.weight'],
        EMB1 + 'positional_embedding': sd[t + 'embeddings.position_embedding.weight'],
        EMB1 + 'ln_final.weight': sd[t + 'final_layer_norm.weight'],
        EMB1 + 'ln_final.bias': sd[t + 'final_layer_norm.bias'],
        EMB1 + 'text_projection': sd['text_projection.weight'].t().contiguous(),
        EMB1 + 'logit_scale': torch.tensor(4.6052, dtype=torch.float32),
    }
    for i in range(TEXT_2_CONFIG['num_hidden_layers']):
        pre = t + 'encoder.layers.%d.' % i
        layer = {k[len(pre):]: v for k, v in sd.items() if k.startswith(pre)}
        p = EMB1 + 'transformer.resblocks.%d.' % i
        for leaf in ('weight', 'bias'):
            out[p + 'attn.in_proj_' + leaf] = torch.cat(
                [layer['self_attn.%s_proj.%s' % (x, leaf)] for x in 'qkv'], dim=0).contiguous()
        for k, v in layer.items():
            head, _, leaf = k.rpartition('.')
            if head not in ('self_attn.q_proj', 'self_attn.k_proj', 'self_attn.v_proj'):
                out[p + _OPENCLIP_LAYER[head] + '.' + leaf] = v
    return out


def to_sgm(unet, vae, text, text_2):
    usd = dict(unet.state_dict())
    extra = {}
    for mine, theirs in (('add_embedding.linear_1', 'label_emb.0.0'), ('add_embedding.linear_2', 'label_emb.0.2')):
        for leaf in ('weight', 'bias'):
            extra[ldm_layout.UNET_PREFIX + theirs + '.' + leaf] = usd.pop(mine + '.' + leaf)
    sgm = ldm_layout.to_ldm(usd, dict(vae.state_dict()), {}, dict(unet.config), dict(vae.config))
    sgm.update(extra)
    sgm.update({EMB0 + ('' if k.startswith('text_model.') else 'text_model.') + k: v
                for k, v in text.state_dict().items()})
    sgm.update(openclip_state_dict(text_2))
    return {k: v.to(torch.float16).contiguous() if v.dim() else v for k, v in sgm.items()}
