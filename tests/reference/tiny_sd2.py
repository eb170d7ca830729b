"""The tiny SD 2.x-style test models: configurations, weights, the diffusers
folders and the single-file LDM layout with OpenCLIP text-encoder names
(gen_fixtures.py step `sd2`; README.md §SD 2.x fixtures).

What sets SD 2.x apart from SD 1.x, and what these models make a C engine get
right (docs/diffusion.md §SD 2.x):
  - text encoder: OpenCLIP, exact GELU, conditioning = the penultimate
    layer's output + the final LayerNorm.  The single file holds the whole
    tower (here 4 layers, the last one random and unused); the diffusers
    folder ships one layer fewer (3) and uses its last_hidden_state.  The
    tokenizer pads with "!" (id 0) instead of <|endoftext|>.
  - UNet: attention_head_dim is a per-level list of head COUNTS whose head
    width here is 16 everywhere ([2, 4] at [32, 64] channels, reversed for
    the up blocks, the mid block takes the last; SD 2.x: [5, 10, 20, 20] at
    [320, 640, 1280, 1280] = 64 wide), so the SD 1 rule "8 heads" gives a
    different, wrong split; linear proj_in/proj_out; upcast_attention.
  - the same VAE as SD 1.x.

Size: the fixtures are committed, so the UNet is as small as still shows
those differences (two levels, 32 and 64 channels, one ResNet per level:
0.79 M parameters), and the folder shares every byte it can with tiny-sd by
relative symbolic links (vae/, the text encoder's weights, the tokenizer's
vocab.json and merges.txt); the generator checks that the linked files hold
exactly what it would have written.  The text encoder is tiny-sd's 3-layer
tower read with SD 2.x's config (exact GELU, "!" padding); its weights were
drawn for no activation in particular, so nothing is lost, and the 49408-row
token embedding (6.3 MB) is stored once.
"""
import json
import os
import shutil
import tempfile

import torch

import ldm_layout
import tiny_sd

SEED_UNET = 2101
SEED_TEXT = 2103
SEED_TEXT_EXTRA_LAYER = 2104    # the LDM-only last text layer
SEED_INPAINT_CONV_IN = 2204
SEED_LCM_COND_PROJ = 2205
# An LCM-distilled UNet's guidance embedding width (LCM-Dreamshaper: 256).
LCM_COND_PROJ_DIM = 16

UNET_CONFIG = dict(
    tiny_sd.UNET_CONFIG,
    # Two levels, the second 64 wide: with 32 channels in GroupNorm's 32
    # groups every group is one channel and the norm after a ResNet's
    # time-embedding add cancels the timestep (an all-32 UNet's output
    # moves by 1e-6 from t = 500 to 800), so the deeper level and the mid
    # block have 2 channels a group, as SD's levels have 10-40.
    down_block_types=['CrossAttnDownBlock2D', 'DownBlock2D'],
    up_block_types=['UpBlock2D', 'CrossAttnUpBlock2D'],
    block_out_channels=[32, 64],
    layers_per_block=1,
    attention_head_dim=[2, 4],           # head counts; 16 wide at every level
    use_linear_projection=True,
    upcast_attention=True,
)

# The diffusers text encoder (SD 2.x: 23 layers, 1024 wide, 16 heads):
# tiny-sd's shapes and weights (3 layers, 32 wide, 4 heads), exact GELU.
TEXT_CONFIG = dict(tiny_sd.TEXT_CONFIG, hidden_act='gelu')
LDM_TEXT_LAYERS = TEXT_CONFIG['num_hidden_layers'] + 1
TEXT_PROJECTION_DIM = 32

# SD 2.1-base's published scheduler config (PNDM, epsilon), SD 2.1's
# (768-v: DDIM, v_prediction) and SD-Turbo's (Euler, trailing spacing).
SCHED_BASE = dict(tiny_sd.SD15_SCHEDULER_CONFIG, prediction_type='epsilon')
SCHED_V = dict(tiny_sd.SD15_SCHEDULER_CONFIG, _class_name='DDIMScheduler',
               prediction_type='v_prediction')
SCHED_TURBO = dict(tiny_sd.SD15_SCHEDULER_CONFIG, _class_name='EulerDiscreteScheduler',
                   prediction_type='epsilon', timestep_spacing='trailing',
                   interpolation_type='linear', use_karras_sigmas=False)

# LCM-distilled checkpoints ship an LCMScheduler config (LCM-Dreamshaper v7's keys).
SCHED_LCM = dict(tiny_sd.SD15_SCHEDULER_CONFIG, _class_name='LCMScheduler', prediction_type='epsilon',
                 set_alpha_to_one=True, timestep_spacing='leading', original_inference_steps=50,
                 timestep_scaling=10.0)

# name -> (scheduler config, pipeline class, UNet in_channels)
MODELS = {
    'tiny-sd2': (SCHED_BASE, 'StableDiffusionPipeline', 4),
    'tiny-sd2-v': (SCHED_V, 'StableDiffusionPipeline', 4),
    'tiny-sd2-turbo': (SCHED_TURBO, 'StableDiffusionPipeline', 4),
    'tiny-sd2-inpaint': (SCHED_BASE, 'StableDiffusionInpaintPipeline', 9),
    'tiny-sd2-lcm': (SCHED_LCM, 'LatentConsistencyModelPipeline', 4),
}

OPENCLIP_PREFIX = 'cond_stage_model.model.'


def build_lcm_unet(unet):
    """tiny-sd2's UNet as an LCM-distilled one: time_embedding.cond_proj
    [32, 16] (no bias) from N(0, 0.25^2), seed 2205, every other tensor the same."""
    from diffusers import UNet2DConditionModel
    lcm = UNet2DConditionModel(**dict(UNET_CONFIG, time_cond_proj_dim=LCM_COND_PROJ_DIM)).float().eval()
    sd = dict(unet.state_dict())
    g = torch.Generator('cpu').manual_seed(SEED_LCM_COND_PROJ)
    sd['time_embedding.cond_proj.weight'] = torch.randn(
        UNET_CONFIG['block_out_channels'][0], LCM_COND_PROJ_DIM, generator=g) * 0.25
    lcm.load_state_dict(sd, strict=True)
    return lcm


def build_unet(in_channels=4, lcm=False):
    from diffusers import UNet2DConditionModel
    torch.manual_seed(SEED_UNET)
    unet = UNet2DConditionModel(**UNET_CONFIG)
    tiny_sd.make_informative(unet, SEED_UNET + 100, tiny_sd.QK_GAIN['unet'])
    unet = unet.float().eval()
    if lcm:
        return build_lcm_unet(unet)
    if in_channels == 4:
        return unet
    # 9 channels: tiny-sd2's tensors, conv_in widened by U(-1/6, 1/6) inputs
    # (as tiny-sd-inpaint, edit_fixtures.build_inpaint_unet).
    cfg = dict(UNET_CONFIG, in_channels=in_channels)
    wide = UNet2DConditionModel(**cfg).float().eval()
    sd = dict(unet.state_dict())
    w4 = sd['conv_in.weight']
    g = torch.Generator('cpu').manual_seed(SEED_INPAINT_CONV_IN)
    extra = (torch.rand((w4.shape[0], in_channels - 4) + tuple(w4.shape[2:]), generator=g) * 2 - 1) / 6.0
    sd['conv_in.weight'] = torch.cat([w4, extra], dim=1).contiguous()
    wide.load_state_dict(sd, strict=True)
    return wide


def _informative_text(cfg, seed):
    from transformers import CLIPTextConfig, CLIPTextModel
    torch.manual_seed(seed)
    text = CLIPTextModel(CLIPTextConfig(**cfg))
    with torch.no_grad():
        text.embeddings.token_embedding.weight.mul_(tiny_sd.TEXT_EMBEDDING_GAIN)
        text.embeddings.position_embedding.weight.mul_(tiny_sd.TEXT_EMBEDDING_GAIN)
    tiny_sd.make_informative(text, seed + 100, tiny_sd.QK_GAIN['text'])
    return text.float().eval()


def build_text():
    """(diffusers text encoder: tiny-sd's weights with TEXT_CONFIG, the LDM
    tower's extra last layer as a diffusers-named state dict, the text
    projection [D, P])."""
    from transformers import CLIPTextConfig, CLIPTextModel
    sd1_text = tiny_sd.build_models()[2]
    text = CLIPTextModel(CLIPTextConfig(**TEXT_CONFIG)).float().eval()
    text.load_state_dict(sd1_text.state_dict(), strict=True)
    full = _informative_text(dict(TEXT_CONFIG, num_hidden_layers=LDM_TEXT_LAYERS), SEED_TEXT_EXTRA_LAYER)
    last = LDM_TEXT_LAYERS - 1
    pre = 'encoder.layers.%d.' % last
    extra = {k[len(pre):]: v.clone() for k, v in full.state_dict().items() if k.startswith(pre)}
    g = torch.Generator('cpu').manual_seed(SEED_TEXT_EXTRA_LAYER)
    proj = torch.randn(TEXT_CONFIG['hidden_size'], TEXT_PROJECTION_DIM, generator=g) * 0.2
    return text, extra, proj


def build_vae():
    """tiny-sd's VAE (SD 2.x kept SD 1.x's autoencoder)."""
    return tiny_sd.build_models()[1]


def write_tokenizer(tok_out, sd1_tok):
    """SD 2.x's tokenizer: CLIP's vocabulary (vocab.json and merges.txt
    linked to tiny-sd's `sd1_tok`), padding with "!" (id 0)."""
    from transformers import CLIPTokenizer
    os.makedirs(tok_out, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        import clip_vocab
        clip_vocab.write_tokenizer_files(tmp)
        tok = CLIPTokenizer(vocab=os.path.join(tmp, 'vocab.json'), merges=os.path.join(tmp, 'merges.txt'),
                            model_max_length=77, pad_token='!')
        saved = os.path.join(tmp, 'saved')
        tok.save_pretrained(saved)
        for fn in ('vocab.json', 'merges.txt'):
            tiny_sd.share_file(os.path.join(tmp, fn), os.path.join(tok_out, fn), os.path.join(sd1_tok, fn))
        shutil.copyfile(os.path.join(saved, 'tokenizer_config.json'),
                        os.path.join(tok_out, 'tokenizer_config.json'))
    tiny_sd._write_json(os.path.join(tok_out, 'special_tokens_map.json'), {
        'bos_token': '<|startoftext|>', 'eos_token': '<|endoftext|>',
        'pad_token': '!', 'unk_token': '<|endoftext|>'})


def load_tokenizer(folder):
    from transformers import CLIPTokenizer
    tok = CLIPTokenizer.from_pretrained(folder, subfolder='tokenizer', local_files_only=True)
    assert tok.pad_token == '!' and tok.pad_token_id == 0, (tok.pad_token, tok.pad_token_id)
    return tok


def _save_config_and_weights(model, out_dir, sub, fn):
    with tempfile.TemporaryDirectory() as tmp:
        d = os.path.join(tmp, sub)
        model.save_pretrained(d, safe_serialization=True)
        os.makedirs(os.path.join(out_dir, sub))
        shutil.copyfile(os.path.join(d, 'config.json'), os.path.join(out_dir, sub, 'config.json'))
    tiny_sd._save_safetensors_dict(model, os.path.join(out_dir, sub, fn), torch.float32)


_link = tiny_sd.link


def write_folders(models_dir):
    """tiny-sd2/ with its own UNet, configs and tokenizer config, the rest
    linked to tiny-sd (see the module docstring); tiny-sd2-v/ and tiny-sd2-turbo/ differ in
    their scheduler only and link the rest; tiny-sd2-inpaint/ has its own
    9-channel UNet and links the rest."""
    import diffusers
    unet = build_unet()
    text, extra, proj = build_text()
    vae = build_vae()
    base = os.path.join(models_dir, 'tiny-sd2')
    sd1 = os.path.join(models_dir, 'tiny-sd')
    for name, (sched, pipe_cls, in_ch) in MODELS.items():
        out = os.path.join(models_dir, name)
        if os.path.lexists(out):
            shutil.rmtree(out)
        os.makedirs(out)
        if name == 'tiny-sd2':
            _save_config_and_weights(unet, out, 'unet', 'diffusion_pytorch_model.safetensors')
            _save_config_and_weights(vae, out, 'vae', 'diffusion_pytorch_model.safetensors')
            tiny_sd.share_dir(out, 'vae', os.path.join(sd1, 'vae'))
            _save_config_and_weights(text, out, 'text_encoder', 'model.safetensors')
            weights = os.path.join(out, 'text_encoder', 'model.safetensors')
            tiny_sd.share_file(weights, weights, os.path.join(sd1, 'text_encoder', 'model.safetensors'))
            write_tokenizer(os.path.join(out, 'tokenizer'), os.path.join(sd1, 'tokenizer'))
        else:
            if name == 'tiny-sd2-lcm':
                _save_config_and_weights(build_unet(lcm=True), out, 'unet', 'diffusion_pytorch_model.safetensors')
            elif in_ch == 4:
                _link(out, 'unet', os.path.join(base, 'unet'))
            else:
                _save_config_and_weights(build_unet(in_ch), out, 'unet', 'diffusion_pytorch_model.safetensors')
            for sub in ('vae', 'text_encoder', 'tokenizer'):
                _link(out, sub, os.path.join(base, sub))
        os.makedirs(os.path.join(out, 'scheduler'))
        tiny_sd._write_json(os.path.join(out, 'scheduler', 'scheduler_config.json'), sched)
        index = tiny_sd._model_index(True)
        index['_class_name'] = pipe_cls
        index['_diffusers_version'] = diffusers.__version__
        index['scheduler'] = ['diffusers', sched['_class_name']]
        tiny_sd._write_json(os.path.join(out, 'model_index.json'), index)
    return unet, vae, text, extra, proj


def load(models_dir, name):
    """(unet, vae, text, tokenizer, scheduler config) of one written folder."""
    from diffusers import UNet2DConditionModel
    folder = os.path.join(models_dir, name)
    unet = UNet2DConditionModel.from_pretrained(folder, subfolder='unet', local_files_only=True).float().eval()
    _, vae, text = tiny_sd.load_folder(folder)
    with open(os.path.join(folder, 'scheduler', 'scheduler_config.json'), encoding='utf-8') as f:
        sched = json.load(f)
    return unet, vae, text, load_tokenizer(folder), sched


# ---------------------------------------------------------------------------
# Single file: OpenCLIP names (docs/diffusion.md §SD 2.x single files)

_OPENCLIP_LAYER = {
    'layer_norm1': 'ln_1',
    'layer_norm2': 'ln_2',
    'self_attn.out_proj': 'attn.out_proj',
    'mlp.fc1': 'mlp.c_fc',
    'mlp.fc2': 'mlp.c_proj',
}


def openclip_layer(i, layer_sd):
    """One diffusers CLIP layer (names relative to the layer) -> OpenCLIP
    resblock tensors, q/k/v fused into in_proj_weight [3D, D] / in_proj_bias."""
    out = {}
    p = OPENCLIP_PREFIX + 'transformer.resblocks.%d.' % i
    for leaf in ('weight', 'bias'):
        out[p + 'attn.in_proj_' + leaf] = torch.cat(
            [layer_sd['self_attn.%s_proj.%s' % (x, leaf)] for x in 'qkv'], dim=0).contiguous()
    for k, v in layer_sd.items():
        head, _, leaf = k.rpartition('.')
        if head in ('self_attn.q_proj', 'self_attn.k_proj', 'self_attn.v_proj'):
            continue
        out[p + _OPENCLIP_LAYER[head] + '.' + leaf] = v
    return out


def openclip_state_dict(text, extra, proj):
    """The whole OpenCLIP text tower as an SD 2.x single file stores it."""
    sd = text.state_dict()
    out = {
        OPENCLIP_PREFIX + 'token_embedding.weight': sd['embeddings.token_embedding.weight'],
        OPENCLIP_PREFIX + 'positional_embedding': sd['embeddings.position_embedding.weight'],
        OPENCLIP_PREFIX + 'ln_final.weight': sd['final_layer_norm.weight'],
        OPENCLIP_PREFIX + 'ln_final.bias': sd['final_layer_norm.bias'],
        OPENCLIP_PREFIX + 'text_projection': proj,
        OPENCLIP_PREFIX + 'logit_scale': torch.tensor(4.6052, dtype=torch.float32),
    }
    n = TEXT_CONFIG['num_hidden_layers']
    for i in range(n):
        pre = 'encoder.layers.%d.' % i
        out.update(openclip_layer(i, {k[len(pre):]: v for k, v in sd.items() if k.startswith(pre)}))
    out.update(openclip_layer(n, extra))
    return out


def to_ldm(unet, vae, text, extra, proj):
    ldm = ldm_layout.to_ldm(dict(unet.state_dict()), dict(vae.state_dict()), {},
                            dict(unet.config), dict(vae.config))
    ldm.update(openclip_state_dict(text, extra, proj))
    return {k: v.contiguous() for k, v in ldm.items()}


# The LDM inference config beside a single file, in the layout of SD 2.x's
# published v2-inference(-v).yaml (only the keys that matter here).
_YAML = """model:
  target: ldm.models.diffusion.ddpm.{target}
  params:
{param}    linear_start: 0.00085
    linear_end: 0.0120
    num_timesteps_cond: 1
    log_every_t: 200
    timesteps: 1000
    first_stage_key: "jpg"
    cond_stage_key: "txt"
    image_size: 8
    channels: 4
    cond_stage_trainable: false
    conditioning_key: {conditioning}
    monitor: val/loss_simple_ema
    scale_factor: 0.18215
    use_ema: False

    unet_config:
      target: ldm.modules.diffusionmodules.openaimodel.UNetModel
      params:
        use_checkpoint: True
        use_fp16: True
        image_size: 32
        in_channels: {in_channels}
        out_channels: 4
        model_channels: 32
        attention_resolutions: [ 1 ]
        num_res_blocks: 1
        channel_mult: [ 1, 2 ]
        num_head_channels: 16
        use_linear_in_transformer: True
        transformer_depth: 1
        context_dim: 32
        legacy: False

    first_stage_config:
      target: ldm.models.autoencoder.AutoencoderKL
      params:
        embed_dim: 4

    cond_stage_config:
      target: ldm.modules.encoders.modules.FrozenOpenCLIPEmbedder
      params:
        freeze: True
        layer: "penultimate"
"""


def ldm_yaml(v_prediction, in_channels=4):
    """The yaml of a text-to-image model, or (in_channels 9) of an inpainting
    one as v2-inpainting-inference.yaml describes it: the masked image's
    latents and the mask concatenated to the input ("hybrid")."""
    inpaint = in_channels == 9
    return _YAML.format(param='    parameterization: "v"\n' if v_prediction else '',
                        target='LatentInpaintDiffusion' if inpaint else 'LatentDiffusion',
                        conditioning='hybrid' if inpaint else 'crossattn', in_channels=in_channels)
