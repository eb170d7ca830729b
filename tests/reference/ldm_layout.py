"""diffusers -> single-file LDM (CompVis / A1111) tensor names, written from
the mapping tables of docs/diffusion.md (§Checkpoints), read in reverse.

`to_ldm(unet_sd, vae_sd, text_sd, unet_config, vae_config)` returns a dict
keyed by LDM names; `from_ldm` is an independent parser of LDM names back to
diffusers names (used to check the mapping is a bijection that loses nothing).
"""
import re

UNET_PREFIX = 'model.diffusion_model.'
VAE_PREFIX = 'first_stage_model.'
TEXT_PREFIX = 'cond_stage_model.transformer.'

# diffusers ResnetBlock2D sub-module -> LDM ResBlock sub-module (UNet).
_UNET_RESNET = {
    'norm1': 'in_layers.0',
    'conv1': 'in_layers.2',
    'time_emb_proj': 'emb_layers.1',
    'norm2': 'out_layers.0',
    'conv2': 'out_layers.3',
    'conv_shortcut': 'skip_connection',
}
# diffusers VAE attention sub-module -> LDM AttnBlock sub-module.
_VAE_ATTN = {
    'group_norm': 'norm',
    'to_q': 'q',
    'to_k': 'k',
    'to_v': 'v',
    'to_out.0': 'proj_out',
}


def _split(rest):
    """'norm1.weight' -> ('norm1', 'weight'); 'to_out.0.bias' -> ('to_out.0', 'bias')."""
    head, _, leaf = rest.rpartition('.')
    return head, leaf


def _unet_resnet(rest):
    head, leaf = _split(rest)
    return _UNET_RESNET[head] + '.' + leaf


def unet_name(name, config):
    """One diffusers UNet2DConditionModel tensor name -> LDM name (no prefix)."""
    L = config['layers_per_block']
    attn_down = [t.startswith('CrossAttn') for t in config['down_block_types']]
    attn_up = [t.startswith('CrossAttn') for t in config['up_block_types']]
    top = {
        'time_embedding.linear_1': 'time_embed.0',
        'time_embedding.linear_2': 'time_embed.2',
        'conv_in': 'input_blocks.0.0',
        'conv_norm_out': 'out.0',
        'conv_out': 'out.2',
    }
    head, leaf = _split(name)
    if head in top:
        return top[head] + '.' + leaf
    m = re.match(r'down_blocks\.(\d+)\.(resnets|attentions|downsamplers)\.(\d+)\.(.*)$', name)
    if m:
        b, kind, j, rest = int(m.group(1)), m.group(2), int(m.group(3)), m.group(4)
        if kind == 'resnets':
            return 'input_blocks.%d.0.%s' % (1 + b * (L + 1) + j, _unet_resnet(rest))
        if kind == 'attentions':
            assert attn_down[b]
            return 'input_blocks.%d.1.%s' % (1 + b * (L + 1) + j, rest)
        assert j == 0 and rest.startswith('conv.')
        return 'input_blocks.%d.0.op.%s' % (1 + b * (L + 1) + L, rest[len('conv.'):])
    m = re.match(r'mid_block\.(resnets|attentions)\.(\d+)\.(.*)$', name)
    if m:
        kind, j, rest = m.group(1), int(m.group(2)), m.group(3)
        if kind == 'resnets':
            return 'middle_block.%d.%s' % (0 if j == 0 else 2, _unet_resnet(rest))
        return 'middle_block.1.' + rest
    m = re.match(r'up_blocks\.(\d+)\.(resnets|attentions|upsamplers)\.(\d+)\.(.*)$', name)
    if m:
        b, kind, j, rest = int(m.group(1)), m.group(2), int(m.group(3)), m.group(4)
        if kind == 'resnets':
            return 'output_blocks.%d.0.%s' % (b * (L + 1) + j, _unet_resnet(rest))
        if kind == 'attentions':
            assert attn_up[b]
            return 'output_blocks.%d.1.%s' % (b * (L + 1) + j, rest)
        assert j == 0 and rest.startswith('conv.')
        return 'output_blocks.%d.%d.%s' % (b * (L + 1) + L, 2 if attn_up[b] else 1, rest)
    raise KeyError('unmapped UNet tensor ' + name)


def _vae_resnet(rest):
    return rest.replace('conv_shortcut.', 'nin_shortcut.')


def vae_name(name, config):
    """One diffusers AutoencoderKL tensor name -> LDM name (no prefix).
    Returns (ldm_name, is_attention_linear) - the mid attention's q/k/v/out
    weights are stored as 1x1 convolutions in LDM files."""
    n_up = len(config['up_block_types'])
    if name.startswith(('quant_conv.', 'post_quant_conv.')):
        return name, False
    side, rest = name.split('.', 1)
    assert side in ('encoder', 'decoder'), name
    head, leaf = _split(rest)
    if head in ('conv_in', 'conv_out'):
        return '%s.%s.%s' % (side, head, leaf), False
    if head == 'conv_norm_out':
        return '%s.norm_out.%s' % (side, leaf), False
    m = re.match(r'mid_block\.resnets\.(\d+)\.(.*)$', rest)
    if m:
        return '%s.mid.block_%d.%s' % (side, int(m.group(1)) + 1, _vae_resnet(m.group(2))), False
    m = re.match(r'mid_block\.attentions\.0\.(.*)$', rest)
    if m:
        head, leaf = _split(m.group(1))
        return '%s.mid.attn_1.%s.%s' % (side, _VAE_ATTN[head], leaf), \
            head != 'group_norm' and leaf == 'weight'
    m = re.match(r'down_blocks\.(\d+)\.resnets\.(\d+)\.(.*)$', rest)
    if m and side == 'encoder':
        return 'encoder.down.%s.block.%s.%s' % (m.group(1), m.group(2), _vae_resnet(m.group(3))), False
    m = re.match(r'down_blocks\.(\d+)\.downsamplers\.0\.conv\.(.*)$', rest)
    if m and side == 'encoder':
        return 'encoder.down.%s.downsample.conv.%s' % (m.group(1), m.group(2)), False
    m = re.match(r'up_blocks\.(\d+)\.resnets\.(\d+)\.(.*)$', rest)
    if m and side == 'decoder':  # LDM numbers decoder levels from the lowest resolution up
        return 'decoder.up.%d.block.%s.%s' % (n_up - 1 - int(m.group(1)), m.group(2),
                                              _vae_resnet(m.group(3))), False
    m = re.match(r'up_blocks\.(\d+)\.upsamplers\.0\.conv\.(.*)$', rest)
    if m and side == 'decoder':
        return 'decoder.up.%d.upsample.conv.%s' % (n_up - 1 - int(m.group(1)), m.group(2)), False
    raise KeyError('unmapped VAE tensor ' + name)


def to_ldm(unet_sd, vae_sd, text_sd, unet_config, vae_config):
    """Assemble one single-file LDM state dict. text_sd must use the
    historical `text_model.` names (tiny_sd.text_encoder_state_dict)."""
    out = {}
    for k, v in unet_sd.items():
        out[UNET_PREFIX + unet_name(k, unet_config)] = v
    for k, v in vae_sd.items():
        n, as_conv = vae_name(k, vae_config)
        out[VAE_PREFIX + n] = v[:, :, None, None] if as_conv else v
    for k, v in text_sd.items():
        assert k.startswith('text_model.')
        out[TEXT_PREFIX + k] = v
    assert len(out) == len(unet_sd) + len(vae_sd) + len(text_sd), 'name collision'
    return out


# ---------------------------------------------------------------------------
# Independent reverse parser (LDM -> diffusers), for the round-trip check.

def _unet_from_ldm(name, config):
    L = config['layers_per_block']
    attn_up = [t.startswith('CrossAttn') for t in config['up_block_types']]
    inv_res = {v: k for k, v in _UNET_RESNET.items()}

    def res(rest):
        for ldm, dif in inv_res.items():
            if rest.startswith(ldm + '.'):
                return dif + rest[len(ldm):]
        raise KeyError(rest)
    fixed = {'time_embed.0.': 'time_embedding.linear_1.', 'time_embed.2.': 'time_embedding.linear_2.',
             'input_blocks.0.0.': 'conv_in.', 'out.0.': 'conv_norm_out.', 'out.2.': 'conv_out.'}
    for a, b in fixed.items():
        if name.startswith(a):
            return b + name[len(a):]
    m = re.match(r'input_blocks\.(\d+)\.(\d)\.(.*)$', name)
    if m:
        i, sub, rest = int(m.group(1)), int(m.group(2)), m.group(3)
        b, j = (i - 1) // (L + 1), (i - 1) % (L + 1)
        if j == L:
            assert sub == 0 and rest.startswith('op.')
            return 'down_blocks.%d.downsamplers.0.conv.%s' % (b, rest[3:])
        if sub == 0:
            return 'down_blocks.%d.resnets.%d.%s' % (b, j, res(rest))
        return 'down_blocks.%d.attentions.%d.%s' % (b, j, rest)
    m = re.match(r'middle_block\.(\d)\.(.*)$', name)
    if m:
        sub, rest = int(m.group(1)), m.group(2)
        if sub == 1:
            return 'mid_block.attentions.0.' + rest
        return 'mid_block.resnets.%d.%s' % (sub // 2, res(rest))
    m = re.match(r'output_blocks\.(\d+)\.(\d)\.(.*)$', name)
    if m:
        i, sub, rest = int(m.group(1)), int(m.group(2)), m.group(3)
        b, j = i // (L + 1), i % (L + 1)
        if sub == 0:
            return 'up_blocks.%d.resnets.%d.%s' % (b, j, res(rest))
        if rest.startswith('conv.') and j == L and sub == (2 if attn_up[b] else 1):
            return 'up_blocks.%d.upsamplers.0.%s' % (b, rest)
        return 'up_blocks.%d.attentions.%d.%s' % (b, j, rest)
    raise KeyError(name)


def _vae_from_ldm(name, config):
    n_up = len(config['up_block_types'])
    inv_attn = {v: k for k, v in _VAE_ATTN.items()}
    if name.startswith(('quant_conv.', 'post_quant_conv.')):
        return name
    name = name.replace('nin_shortcut.', 'conv_shortcut.')
    name = re.sub(r'^(encoder|decoder)\.norm_out\.', r'\1.conv_norm_out.', name)
    name = re.sub(r'^(encoder|decoder)\.mid\.block_(\d)\.',
                  lambda m: '%s.mid_block.resnets.%d.' % (m.group(1), int(m.group(2)) - 1), name)
    m = re.match(r'^(encoder|decoder)\.mid\.attn_1\.(\w+)\.(\w+)$', name)
    if m:
        return '%s.mid_block.attentions.0.%s.%s' % (m.group(1), inv_attn[m.group(2)], m.group(3))
    name = re.sub(r'^encoder\.down\.(\d+)\.block\.', r'encoder.down_blocks.\1.resnets.', name)
    name = re.sub(r'^encoder\.down\.(\d+)\.downsample\.', r'encoder.down_blocks.\1.downsamplers.0.', name)
    name = re.sub(r'^decoder\.up\.(\d+)\.block\.',
                  lambda m: 'decoder.up_blocks.%d.resnets.' % (n_up - 1 - int(m.group(1))), name)
    name = re.sub(r'^decoder\.up\.(\d+)\.upsample\.',
                  lambda m: 'decoder.up_blocks.%d.upsamplers.0.' % (n_up - 1 - int(m.group(1))), name)
    return name


def from_ldm(sd, unet_config, vae_config):
    """Split an LDM single-file dict back into (unet, vae, text) diffusers dicts."""
    unet, vae, text = {}, {}, {}
    for k, v in sd.items():
        if k.startswith(UNET_PREFIX):
            unet[_unet_from_ldm(k[len(UNET_PREFIX):], unet_config)] = v
        elif k.startswith(VAE_PREFIX):
            n = _vae_from_ldm(k[len(VAE_PREFIX):], vae_config)
            vae[n] = v[:, :, 0, 0] if v.dim() == 4 and '.mid_block.attentions.' in n else v
        elif k.startswith(TEXT_PREFIX):
            text[k[len(TEXT_PREFIX):]] = v
        else:
            raise KeyError(k)
    return unet, vae, text
