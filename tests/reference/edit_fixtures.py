"""Image-editing fixtures: VAE encoder, image-to-image and inpainting goldens,
and the 9-channel tiny inpainting model (gen_fixtures.py step `edit`).

Writes (under fixtures/):
    images/init-48x64.png, images/mask-48x64.png      the 8-bit inputs
    models/tiny-sd-inpaint/                           9-channel UNet, diffusers folder, F32
    golden/vae_encoder.safetensors (+ .json)
    golden/img2img_<ddim|euler>_<0.3|0.75>.safetensors (+ .json)
    golden/inpaint4_<ddim|euler>.safetensors, golden/inpaint4_ddim_s0.75.safetensors,
    golden/inpaint9_ddim.safetensors (+ .json each)
    golden/img2img_<sampler>_0.5, golden/inpaint4_<sampler> for LATER_SAMPLERS

Every pipeline run is instrumented without changing what it computes
(randn_tensor wrapped in the pipeline, VAE and scheduler modules; vae.encode,
scheduler.add_noise, scheduler.step and the UNet wrapped to record their
arguments; callback_on_step_end for the latents after every step). Each run is
then recomputed by an independent loop written from docs/diffusion.md
(§Image to image, §4-channel inpainting, §9-channel inpainting) with a fresh
generator, which must agree: this pins down the draw order and the blending
rules the README states.
"""
import functools
import importlib
import inspect
import json
import os
import shutil
import tempfile

import numpy as np
import torch

import goldens
import scheduling_reference
import ldm_layout
import tiny_sd

WIDTH = 48
HEIGHT = 64
PROMPT = 'a red circle'
NEGATIVE = 'blurry'
STEPS = 8
GUIDANCE = 7.5
SEED = 99

# The 9-channel UNet: every tensor copied from tiny-sd except conv_in.weight,
# whose input channels 4..8 (mask, masked-image latents) are drawn from this
# generator, U(-1/6, 1/6) (the default-init bound of the 4-channel conv_in,
# 1/sqrt(4*3*3)), so the extra inputs weigh as much as the latents.
SEED_INPAINT_CONV_IN = 1204

# Mask rectangle (white = repaint), half-open pixel ranges. Not aligned to the
# 8-pixel latent grid, so a wrong downsampling rule shows up in mask_latent.
MASK_X = (13, 35)
MASK_Y = (19, 45)

# name -> class, or (class, from_config keyword arguments)
SCHEDULERS = {'ddim': 'DDIMScheduler', 'euler': 'EulerDiscreteScheduler',
              'ddpm': 'DDPMScheduler', 'heun': 'HeunDiscreteScheduler',
              'pndm': 'PNDMScheduler', 'dpm2': 'KDPM2DiscreteScheduler',
              'dpm2_a': 'KDPM2AncestralDiscreteScheduler', 'tcd': 'TCDScheduler',
              'dpmpp_2s_a': 'DPMPP2SAncestralScheduler',  # scheduling_reference.py
              'dpmpp_sde': 'DPMSolverSDEGeneratorScheduler',  # scheduling_reference.py
              'unipc': 'UniPCMultistepScheduler',
              'dpmpp_2m_sde': ('DPMSolverMultistepScheduler',
                               {'algorithm_type': 'sde-dpmsolver++', 'solver_order': 2}),
              'lms': 'LMSDiscreteScheduler',
              'deis': 'DEISMultistepScheduler',
              # skip_prk_steps false: PNDM's Runge-Kutta warm-up
              'pndm_prk': ('PNDMScheduler', {'skip_prk_steps': False})}
IMG2IMG_STRENGTHS = (0.3, 0.75)
# Samplers added later get one img2img run at this strength and one
# 4-channel inpaint at strength 1 each (keeps the fixtures small).
LATER_SAMPLERS = ('ddpm', 'dpmpp_2m_sde', 'lms', 'heun', 'pndm', 'dpm2', 'dpm2_a', 'tcd',
                  'dpmpp_2s_a', 'dpmpp_sde', 'unipc', 'deis', 'pndm_prk')
# The pipeline's eta for samplers that take one (TCD's gamma).
PIPELINE_ETA = {'tcd': 0.3}
# These samplers' goldens leave out the input pictures every img2img /
# inpaint golden holds alike (they would be ~85 kB per golden); the JSON's
# inputs_golden names the golden that has them, checked equal here.
SHARED_INPUT_SAMPLERS = ('dpm2_a', 'tcd', 'dpmpp_2s_a', 'dpmpp_sde', 'unipc', 'deis', 'pndm_prk')
SHARED_INPUTS = {'img2img': ('img2img_ddim_0.3', ('init_image',)),
                 'inpaint4': ('inpaint4_ddim', ('init_image', 'mask', 'masked_image'))}


def _share_inputs(out_dir, tag, sched_name, kind):
    """Drops the shared input pictures from golden `tag` (see above)."""
    if sched_name not in SHARED_INPUT_SAMPLERS:
        return
    from safetensors.torch import load_file
    shared, keys = SHARED_INPUTS[kind]
    path = os.path.join(out_dir, tag + '.safetensors')
    tensors = load_file(path)
    ref = load_file(os.path.join(out_dir, shared + '.safetensors'))
    for k in keys:
        assert torch.equal(tensors.pop(k), ref[k]), (tag, k, 'differs from', shared)
    goldens.save(path, tensors)
    jpath = os.path.join(out_dir, tag + '.json')
    with open(jpath) as f:
        meta = json.load(f)
    meta['tensors'] = sorted(tensors.keys())
    meta['inputs_golden'] = shared
    meta['inputs_golden_tensors'] = list(keys)
    goldens.write_json(jpath, meta)
LATER_STRENGTH = 0.5
# VP samplers: add_noise is sqrt(ab)*x0 + sqrt(1-ab)*eps at the integer timestep.
VP_SAMPLERS = ('ddim', 'ddpm', 'pndm', 'tcd', 'pndm_prk')
# DPM-Solver samplers: the VP form written with the schedule's sigmas.
DPM_SAMPLERS = ('dpmpp_2m_sde', 'unipc', 'deis')

_RANDN_MODULES = [
    'diffusers.pipelines.stable_diffusion.pipeline_stable_diffusion_img2img',
    'diffusers.pipelines.stable_diffusion.pipeline_stable_diffusion_inpaint',
    'diffusers.models.autoencoders.vae',
    'diffusers.schedulers.scheduling_ddim',
    'diffusers.schedulers.scheduling_euler_discrete',
    'diffusers.schedulers.scheduling_ddpm',
    'diffusers.schedulers.scheduling_dpmsolver_multistep',
    'diffusers.schedulers.scheduling_k_dpm_2_ancestral_discrete',
    'diffusers.schedulers.scheduling_tcd',
    'scheduling_reference',
]
_DRAW_KIND = {
    'pipeline_stable_diffusion_img2img': 'pipeline',
    'pipeline_stable_diffusion_inpaint': 'pipeline',
    'vae': 'vae_posterior_sample',
    'scheduling_ddim': 'scheduler_step',
    'scheduling_euler_discrete': 'scheduler_step',
    'scheduling_ddpm': 'scheduler_step',
    'scheduling_dpmsolver_multistep': 'scheduler_step',
    'scheduling_k_dpm_2_ancestral_discrete': 'scheduler_step',
    'scheduling_tcd': 'scheduler_step',
    'scheduling_reference': 'scheduler_step',
}


# ---------------------------------------------------------------------------
# Input pictures

def init_picture():
    """48x64 (W x H) 8-bit RGB: three smooth gradients and an anti-aliased
    red disk (centre (20.5, 27.5), radius 12.5, partly under the mask)."""
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float64)
    bg = np.stack([40 + 150 * x / (WIDTH - 1),
                   30 + 170 * y / (HEIGHT - 1),
                   200 - 120 * (x + y) / (WIDTH + HEIGHT - 2)], axis=-1)
    d = np.sqrt((x - 20.5) ** 2 + (y - 27.5) ** 2)
    a = np.clip(12.5 + 0.5 - d, 0.0, 1.0)[..., None]
    img = bg * (1 - a) + np.array([230.0, 40.0, 40.0]) * a
    return np.rint(img).astype(np.uint8)


def mask_picture():
    m = np.zeros((HEIGHT, WIDTH), np.uint8)
    m[MASK_Y[0]:MASK_Y[1], MASK_X[0]:MASK_X[1]] = 255
    return m


def picture_b():
    """[1,3,40,56] float32 in [-1,1] for the encoder's second case: other
    gradients and a disk, not quantised (H 40 -> 20 -> 10 -> 5, W 56 -> 7)."""
    h, w = 40, 56
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    d = np.sqrt((x - 35.0) ** 2 + (y - 17.0) ** 2)
    a = np.clip(9.0 - d, 0.0, 1.0)
    img = np.stack([0.8 * x / (w - 1) - 0.6 + 0.9 * a,
                    0.7 - 1.2 * y / (h - 1) - 0.5 * a,
                    0.5 * np.cos(x / 9.0) * np.sin(y / 7.0) + 0.3 * a], axis=0)
    return torch.from_numpy(np.clip(img, -1, 1).astype(np.float32))[None]


def to_model_space(rgb8):
    """What VaeImageProcessor does to an 8-bit picture: float32(k)/255, then
    2x - 1 (float32), NCHW."""
    u = torch.from_numpy(rgb8.astype(np.float32) / np.float32(255.0))
    return u, (2.0 * u - 1.0).permute(2, 0, 1)[None].contiguous()


def write_pictures(images_dir):
    from PIL import Image
    os.makedirs(images_dir, exist_ok=True)
    Image.fromarray(init_picture(), 'RGB').save(os.path.join(images_dir, 'init-48x64.png'))
    Image.fromarray(mask_picture(), 'L').save(os.path.join(images_dir, 'mask-48x64.png'))


def load_pictures(images_dir):
    """The PNGs as PIL images (what the pipelines get), checked against the
    arrays they were written from."""
    from PIL import Image
    init = Image.open(os.path.join(images_dir, 'init-48x64.png'))
    mask = Image.open(os.path.join(images_dir, 'mask-48x64.png'))
    init.load()
    mask.load()
    assert init.mode == 'RGB' and mask.mode == 'L'
    assert np.array_equal(np.array(init), init_picture())
    assert np.array_equal(np.array(mask), mask_picture())
    return init, mask


# ---------------------------------------------------------------------------
# 9-channel model

def build_inpaint_unet(folder):
    from diffusers import UNet2DConditionModel
    src = UNet2DConditionModel.from_pretrained(folder, subfolder='unet', local_files_only=True)
    cfg = dict(tiny_sd.UNET_CONFIG, in_channels=9)
    torch.manual_seed(SEED_INPAINT_CONV_IN)      # the constructor's own init is overwritten
    unet = UNet2DConditionModel(**cfg).float().eval()
    sd = dict(src.state_dict())
    w4 = sd['conv_in.weight']
    g = torch.Generator('cpu').manual_seed(SEED_INPAINT_CONV_IN)
    extra = (torch.rand((w4.shape[0], 5) + tuple(w4.shape[2:]), generator=g) * 2 - 1) / 6.0
    sd['conv_in.weight'] = torch.cat([w4, extra], dim=1).contiguous()
    unet.load_state_dict(sd, strict=True)
    return unet


def write_inpaint_model(models_dir):
    from diffusers import StableDiffusionInpaintPipeline
    from safetensors.torch import save_file
    folder = os.path.join(models_dir, 'tiny-sd')
    out = os.path.join(models_dir, 'tiny-sd-inpaint')
    from diffusers import AutoencoderKL
    _, vae_loaded, text = tiny_sd.load_folder(folder)
    # A VAE loaded with from_pretrained would save its source path
    # (_name_or_path) into config.json: rebuild it from the config instead.
    vae = AutoencoderKL(**tiny_sd.VAE_CONFIG).float().eval()
    vae.load_state_dict(vae_loaded.state_dict(), strict=True)
    unet = build_inpaint_unet(folder)
    tiny_sd.write_folder(out, unet, vae, text, torch.float32, with_tokenizer=False)
    index = tiny_sd._model_index(False)
    index['_class_name'] = 'StableDiffusionInpaintPipeline'
    tiny_sd._write_json(os.path.join(out, 'model_index.json'), index)

    # The VAE and text encoder are tiny-sd's: stored once, linked here.
    for sub in ('vae', 'text_encoder'):
        tiny_sd.share_dir(out, sub, os.path.join(folder, sub))
    unet2, vae2, text2 = tiny_sd.load_folder(out)
    assert unet2.config.in_channels == 9
    for a, b in ((unet, unet2), (vae, vae2), (text, text2)):
        sa, sb = tiny_sd.state_dict_of(a), tiny_sd.state_dict_of(b)
        assert sa.keys() == sb.keys()
        for k in sa:
            assert torch.equal(sa[k], sb[k]), k

    usd, vsd = dict(unet.state_dict()), dict(vae.state_dict())
    tsd = tiny_sd.text_encoder_state_dict(text)
    ldm = ldm_layout.to_ldm(usd, vsd, tsd, dict(unet.config), dict(vae.config))
    u, v, t = ldm_layout.from_ldm(ldm, dict(unet.config), dict(vae.config))
    for mine, ref in ((u, usd), (v, vsd), (t, tsd)):
        assert mine.keys() == ref.keys()
        for k in ref:
            assert torch.equal(mine[k], ref[k]), k
    assert ldm['model.diffusion_model.input_blocks.0.0.weight'].shape == (32, 9, 3, 3)
    # The single-file form is only written to prove the mapping round-trips
    # through diffusers' loader; it is not kept (the folder covers the C side,
    # and sdcl-mkmodel --inpaint writes real-size 9-channel single files).
    tmpdir = tempfile.mkdtemp()
    path = os.path.join(tmpdir, 'tiny-sd-inpaint-ldm.safetensors')
    save_file({k: x.contiguous() for k, x in ldm.items()}, path, metadata={'format': 'pt'})

    # diffusers' own single-file loader must give back the folder's tensors.
    tok = goldens.load_tokenizer(folder)
    pipe = StableDiffusionInpaintPipeline.from_single_file(
        path, config=out, local_files_only=True, safety_checker=None,
        requires_safety_checker=False, tokenizer=tok, torch_dtype=torch.float32)
    for name, mine, ref in (('unet', dict(pipe.unet.state_dict()), usd),
                            ('vae', dict(pipe.vae.state_dict()), vsd),
                            ('text_encoder', tiny_sd.text_encoder_state_dict(pipe.text_encoder), tsd)):
        assert mine.keys() == ref.keys(), (name, set(mine) ^ set(ref))
        for k in ref:
            assert torch.equal(mine[k], ref[k]), (name, k)
    shutil.rmtree(tmpdir)
    print('tiny-sd-inpaint: from_single_file reproduces all %d tensors (%d in LDM file)'
          % (len(usd) + len(vsd) + len(tsd), len(ldm)))


# ---------------------------------------------------------------------------
# VAE encoder golden

def vae_encoder_golden(vae, out_dir):
    _, image = to_model_space(init_picture())
    image_b = picture_b()
    with torch.no_grad():
        post = vae.encode(image).latent_dist
        post_b = vae.encode(image_b).latent_dist
        moments = vae.quant_conv(vae.encoder(image))
    # mean/logvar are the two halves of quant_conv's output; logvar clamped.
    assert torch.equal(post.mean, moments[:, :4])
    assert torch.equal(post.logvar, moments[:, 4:].clamp(-30.0, 20.0))
    assert post.mean.shape == (1, 4, 8, 6) and post_b.mean.shape == (1, 4, 5, 7)
    tensors = {
        'image': image, 'mean': post.mean, 'std': post.std, 'logvar': post.logvar,
        'image_b': image_b, 'mean_b': post_b.mean, 'std_b': post_b.std, 'logvar_b': post_b.logvar,
    }
    goldens.save(os.path.join(out_dir, 'vae_encoder.safetensors'), tensors)
    lv = torch.cat([post.logvar.flatten(), post_b.logvar.flatten()])
    goldens.write_json(os.path.join(out_dir, 'vae_encoder.json'), {
        'model': 'tiny-sd/vae (F32)',
        'image': 'images/init-48x64.png as the pipelines see it: float32(k)/255*2-1, [1,3,64,48]',
        'image_b': 'analytic float picture (gradients + disk), [1,3,40,56], in [-1,1]',
        'logvar_range': [float(lv.min()), float(lv.max())],
        'logvar_clamp': [-30.0, 20.0],
        'clamp_active': bool((lv <= -30).any() or (lv >= 20).any()),
        'tensors': {
            'mean': 'moments[:, 0:4], moments = quant_conv(encoder(image))',
            'logvar': 'clamp(moments[:, 4:8], -30, 20)',
            'std': 'exp(0.5 * logvar)',
        },
    })
    return tensors


# ---------------------------------------------------------------------------
# Instrumentation

class Recorder:
    """Records every randn_tensor draw (module, tensor), every vae.encode
    input, every scheduler.add_noise call, every scheduler.step call, every
    UNet input and the latents after each step."""

    def __init__(self, pipe):
        self.pipe = pipe
        self.draws, self.encodes, self.add_noise, self.steps = [], [], [], []
        self.unet_in, self.latents = [], []
        self._saved = []

    def __enter__(self):
        for name in _RANDN_MODULES:
            mod = importlib.import_module(name)
            orig = mod.randn_tensor

            def wrapped(*a, _orig=orig, _name=name.rsplit('.', 1)[-1], **kw):
                out = _orig(*a, **kw)
                self.draws.append((_DRAW_KIND[_name], out.detach().clone()))
                return out
            self._saved.append((mod, orig))
            mod.randn_tensor = wrapped
        pipe = self.pipe
        enc = pipe.vae.encode

        @functools.wraps(enc)
        def encode(x, *a, **kw):
            self.encodes.append(x.detach().clone())
            return enc(x, *a, **kw)
        pipe.vae.encode = encode

        sched = pipe.scheduler
        add = sched.add_noise

        @functools.wraps(add)
        def add_noise(original, noise, timesteps):
            out = add(original, noise, timesteps)
            self.add_noise.append({'original': original.detach().clone(), 'noise': noise.detach().clone(),
                                   'timesteps': [float(x) for x in timesteps.flatten()],
                                   'step_index': getattr(sched, 'step_index', None),
                                   'out': out.detach().clone()})
            return out
        sched.add_noise = add_noise

        step = sched.step

        # functools.wraps matters: the pipeline inspects step()'s signature.
        @functools.wraps(step)
        def step_w(model_output, timestep, sample, *a, **kw):
            out = step(model_output, timestep, sample, *a, **kw)
            prev = out[0] if isinstance(out, tuple) else out.prev_sample
            self.steps.append({'model_output': model_output.detach().clone(), 't': float(timestep),
                               'sample': sample.detach().clone(), 'prev': prev.detach().clone()})
            return out
        sched.step = step_w

        fwd = pipe.unet.forward

        @functools.wraps(fwd)
        def unet_fwd(sample, timestep, *a, **kw):
            self.unet_in.append((sample.detach().clone(), float(timestep)))
            return fwd(sample, timestep, *a, **kw)
        pipe.unet.forward = unet_fwd
        return self

    def on_step_end(self, p, i, t, kw):
        self.latents.append(kw['latents'].detach().clone())
        return kw

    def __exit__(self, *exc):
        for mod, orig in self._saved:
            mod.randn_tensor = orig
        del self.pipe.vae.encode
        del self.pipe.scheduler.add_noise
        del self.pipe.scheduler.step
        del self.pipe.unet.forward


def _scheduler(name):
    import diffusers
    cls, kwargs = SCHEDULERS[name] if isinstance(SCHEDULERS[name], tuple) else (SCHEDULERS[name], {})
    return scheduling_reference.scheduler_class(cls).from_config(tiny_sd.scheduler_config(),
                                                                 **kwargs)


def _pipe(cls, components, sched_name):
    unet, vae, text, tok = components
    pipe = cls(vae=vae, text_encoder=text, tokenizer=tok, unet=unet, scheduler=_scheduler(sched_name),
               safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _sched_config(sched):
    cfg = {k: (v.tolist() if isinstance(v, torch.Tensor) else v) for k, v in dict(sched.config).items()}
    if '_use_default_values' in cfg:
        cfg['_use_default_values'] = sorted(cfg['_use_default_values'])
    return cfg


def _full_schedule(sched_name, config=None):
    """The run's schedule; config: the pipeline's scheduler config where the
    pipeline rewrites it (the inpaint pipeline sets skip_prk_steps)."""
    s = _scheduler(sched_name) if config is None else type(_scheduler(sched_name)).from_config(config)
    s.set_timesteps(STEPS)
    return s


def _draw_list(rec):
    return [{'index': i, 'kind': kind, 'shape': list(t.shape)} for i, (kind, t) in enumerate(rec.draws)]


def _check_stream(rec):
    """Every recorded draw must be the next torch.randn of its shape from a
    fresh seed-SEED CPU generator."""
    g = torch.Generator('cpu').manual_seed(SEED)
    for kind, t in rec.draws:
        assert torch.equal(t, torch.randn(t.shape, generator=g, dtype=torch.float32)), kind


def _step_kwargs(s, g, sched_name=None):
    """generator= where step() takes it, as the pipelines decide, and the
    pipeline's eta where it takes that."""
    kw = {'generator': g} if 'generator' in inspect.signature(s.step).parameters else {}
    if 'eta' in inspect.signature(s.step).parameters:
        kw['eta'] = PIPELINE_ETA.get(sched_name, 0.0)
    return kw


def _context(pipe):
    return torch.cat(pipe.encode_prompt(PROMPT, 'cpu', 1, True, NEGATIVE)[::-1])


def _add_noise_doc(sched_name, sched, x0, eps, idx, t):
    """add_noise written from docs/diffusion.md §Image to image (not the scheduler's method)."""
    if sched_name in VP_SAMPLERS:
        ab = sched.alphas_cumprod[int(t)]
        return ab.sqrt() * x0 + (1 - ab).sqrt() * eps
    if sched_name in DPM_SAMPLERS:
        alpha = 1 / (sched.sigmas[idx] ** 2 + 1) ** 0.5
        return alpha * x0 + (sched.sigmas[idx] * alpha) * eps
    return x0 + sched.sigmas[idx] * eps


# ---------------------------------------------------------------------------
# img2img

def img2img_one(components, sched_name, strength, init_pil, out_dir, ctx_ref):
    from diffusers import StableDiffusionImg2ImgPipeline
    unet, vae, text, tok = components
    pipe = _pipe(StableDiffusionImg2ImgPipeline, components, sched_name)
    with Recorder(pipe) as rec:
        out = pipe(PROMPT, image=init_pil, strength=strength, negative_prompt=NEGATIVE,
                   num_inference_steps=STEPS, guidance_scale=GUIDANCE,
                   eta=PIPELINE_ETA.get(sched_name, 0.0),
                   generator=torch.Generator('cpu').manual_seed(SEED), output_type='np',
                   callback_on_step_end=rec.on_step_end, callback_on_step_end_tensor_inputs=['latents'])
    sched = pipe.scheduler
    image = torch.from_numpy(np.ascontiguousarray(out.images[0]))
    init01, init_m = to_model_space(init_picture())
    full = _full_schedule(sched_name)
    init_timestep = min(int(STEPS * strength), STEPS)
    # in model evaluations, as the pipelines index: t_start * scheduler.order
    t_start = max(STEPS - init_timestep, 0) * full.order
    timesteps = full.timesteps[t_start:]
    n = len(timesteps)

    # What the pipeline did.
    _check_stream(rec)
    kinds = [k for k, _ in rec.draws]
    # stochastic samplers draw their step noise after these two
    assert kinds[:2] == ['vae_posterior_sample', 'pipeline'], kinds
    assert all(k == 'scheduler_step' for k in kinds[2:]), kinds
    assert len(rec.encodes) == 1 and torch.equal(rec.encodes[0], init_m), 'preprocess is not k/255*2-1'
    assert len(rec.add_noise) == 1 and len(rec.steps) == n and len(rec.latents) == n
    an = rec.add_noise[0]
    eps_post, noise = rec.draws[0][1], rec.draws[1][1]
    assert torch.equal(an['noise'], noise)
    assert torch.equal(sched.timesteps[t_start:], timesteps)

    # Independent recomputation (docs/diffusion.md §Latents and the posterior, §Image to image)
    # with a fresh generator.
    # The pipeline's image tensor is a permuted HWC array (channels-last
    # strides); torch's conv takes another summation path for it (~1e-5
    # relative on the posterior mean vs a contiguous input), so the
    # recomputation encodes the very tensor the pipeline encoded.
    enc_strides = list(rec.encodes[0].stride())
    g = torch.Generator('cpu').manual_seed(SEED)
    with torch.no_grad():
        post = vae.encode(rec.encodes[0]).latent_dist
        e1 = torch.randn(post.mean.shape, generator=g)
        x0 = vae.config.scaling_factor * (post.mean + post.std * e1)
        e2 = torch.randn(x0.shape, generator=g)
        assert torch.equal(x0, an['original']), 'init_latents'
        s = _full_schedule(sched_name)
        if hasattr(s, "set_begin_index"):
            s.set_begin_index(t_start)
        lat = _add_noise_doc(sched_name, s, x0, e2, t_start, timesteps[0])
        torch.testing.assert_close(lat, an['out'], rtol=0, atol=1e-5)
        lat = an['out']
        ctx = _context(pipe)
        assert torch.equal(ctx, ctx_ref)
        for i, t in enumerate(timesteps):
            xin = s.scale_model_input(torch.cat([lat] * 2), t)
            e = unet(xin, t, encoder_hidden_states=ctx).sample
            e = e[0:1] + GUIDANCE * (e[1:2] - e[0:1])
            lat = s.step(e, t, lat, **_step_kwargs(s, g, sched_name)).prev_sample
            assert torch.equal(lat, rec.latents[i]), (sched_name, strength, i)
        img = (vae.decode(lat / vae.config.scaling_factor).sample / 2 + 0.5).clamp(0, 1)
        assert torch.equal(img[0].permute(1, 2, 0), image), 'image != clamp(decode/2+0.5)'

    tag = 'img2img_%s_%s' % (sched_name, strength)
    tensors = {
        'init_image': init01,
        'timesteps': timesteps.to(torch.float32),
        'posterior_eps': eps_post,
        'init_latents': an['original'],
        'noise': noise,
        'noised_latents': an['out'],
    }
    if sched_name not in VP_SAMPLERS:
        tensors['sigmas'] = sched.sigmas[t_start:].to(torch.float32)
    for i in range(n):
        tensors['model_output_step%d' % i] = rec.steps[i]['model_output']
        tensors['latents_step%d' % i] = rec.latents[i]
    tensors['final_latents'] = rec.latents[-1]
    tensors['image'] = image
    goldens.save(os.path.join(out_dir, tag + '.safetensors'), tensors)
    goldens.write_json(os.path.join(out_dir, tag + '.json'), {
        'pipeline': 'StableDiffusionImg2ImgPipeline',
        'model': 'tiny-sd (F32)',
        'prompt': PROMPT, 'negative_prompt': NEGATIVE, 'guidance_scale': GUIDANCE,
        'steps': STEPS, 'strength': strength, 'seed': SEED,
        'generator': 'torch.Generator("cpu").manual_seed(seed)', 'eta': PIPELINE_ETA.get(sched_name, 0.0),
        'width': WIDTH, 'height': HEIGHT, 'height_width_passed': False,
        'init_image_file': 'images/init-48x64.png (PIL RGB, passed as is)',
        'init_timestep': init_timestep, 't_start': t_start, 'steps_run': n,
        'full_timesteps': [float(x) for x in full.timesteps],
        'timesteps': [float(x) for x in timesteps],
        'timesteps_dtype': str(full.timesteps.dtype).replace('torch.', ''),
        'sigmas': [float(x) for x in sched.sigmas[t_start:]] if sched_name not in VP_SAMPLERS else None,
        'vae_encode_input_strides': enc_strides,
        'add_noise_timestep': an['timesteps'][0],
        'add_noise_scale': ({'sqrt_alpha_cumprod': float(full.alphas_cumprod[int(timesteps[0])].sqrt()),
                             'sqrt_one_minus_alpha_cumprod':
                                 float((1 - full.alphas_cumprod[int(timesteps[0])]).sqrt())}
                            if sched_name in VP_SAMPLERS else {'sigma': float(full.sigmas[t_start])}),
        'init_noise_sigma_used': False,
        'scheduler_class': type(sched).__name__,
        'scheduler_config': _sched_config(sched),
        'unet_timesteps_seen': [t for _, t in rec.unet_in],
        'random_draws': len(rec.draws),
        'draw_order': _draw_list(rec),
        'tensors': sorted(tensors),
    })
    _share_inputs(out_dir, tag, sched_name, 'img2img')
    print('%s: t_start %d, timesteps %s, draws %s, image mean %.4f'
          % (tag, t_start, [round(float(x), 3) for x in timesteps], kinds, float(image.mean())))


# ---------------------------------------------------------------------------
# inpainting

def inpaint_one(components, sched_name, strength, init_pil, mask_pil, out_dir, ctx_ref, tag):
    from diffusers import StableDiffusionInpaintPipeline
    unet, vae, text, tok = components
    nine = unet.config.in_channels == 9
    pipe = _pipe(StableDiffusionInpaintPipeline, components, sched_name)
    with Recorder(pipe) as rec:
        out = pipe(PROMPT, image=init_pil, mask_image=mask_pil, strength=strength, negative_prompt=NEGATIVE,
                   height=HEIGHT, width=WIDTH, num_inference_steps=STEPS, guidance_scale=GUIDANCE,
                   eta=PIPELINE_ETA.get(sched_name, 0.0),
                   generator=torch.Generator('cpu').manual_seed(SEED), output_type='np',
                   callback_on_step_end=rec.on_step_end,
                   callback_on_step_end_tensor_inputs=['latents', 'mask', 'masked_image_latents'])
    sched = pipe.scheduler
    image = torch.from_numpy(np.ascontiguousarray(out.images[0]))
    init01, init_m = to_model_space(init_picture())
    mask = torch.from_numpy(mask_picture().astype(np.float32) / 255.0)
    assert set(mask.unique().tolist()) == {0.0, 1.0}
    masked_image = init_m * (mask[None, None] < 0.5)
    full = _full_schedule(sched_name, sched.config)
    init_timestep = min(int(STEPS * strength), STEPS)
    # in model evaluations, as the pipelines index: t_start * scheduler.order
    t_start = max(STEPS - init_timestep, 0) * full.order
    timesteps = full.timesteps[t_start:]
    n = len(timesteps)
    sf = vae.config.scaling_factor

    _check_stream(rec)
    kinds = [k for k, _ in rec.draws]
    encodes_img = not nine or strength < 1.0
    expect = (['vae_posterior_sample'] if encodes_img else []) + ['pipeline', 'vae_posterior_sample']
    assert kinds[:len(expect)] == expect, kinds
    assert all(k == 'scheduler_step' for k in kinds[len(expect):]), kinds
    assert len(rec.encodes) == len(expect) - 1
    if encodes_img:
        assert torch.equal(rec.encodes[0], init_m)
    assert torch.equal(rec.encodes[-1], masked_image), 'masked image'
    assert len(rec.steps) == n and len(rec.latents) == n, (len(rec.steps), len(rec.latents), n)
    draws = [t for _, t in rec.draws]
    noise = draws[1] if encodes_img else draws[0]

    # Independent recomputation (docs/diffusion.md §Inpainting) with a fresh generator.
    g = torch.Generator('cpu').manual_seed(SEED)
    with torch.no_grad():
        image_latents = None
        if encodes_img:
            post = vae.encode(rec.encodes[0]).latent_dist      # same strides as the pipeline's
            image_latents = sf * (post.mean + post.std * torch.randn(post.mean.shape, generator=g))
        e = torch.randn((1, 4, HEIGHT // 8, WIDTH // 8), generator=g)
        assert torch.equal(e, noise)
        post = vae.encode(rec.encodes[-1]).latent_dist
        masked_latents = sf * (post.mean + post.std * torch.randn(post.mean.shape, generator=g))
        mask_lat = mask[0::8, 0::8][None, None].contiguous()        # top-left pixel of each 8x8 block
        assert torch.equal(mask_lat, torch.nn.functional.interpolate(mask[None, None], size=(8, 6)))
        s = _full_schedule(sched_name, sched.config)
        if hasattr(s, "set_begin_index"):
            s.set_begin_index(t_start)
        if strength == 1.0:
            lat = e * s.init_noise_sigma
            assert len(rec.add_noise) == (0 if nine else n - 1), 'unexpected initial add_noise'
        else:
            lat = _add_noise_doc(sched_name, s, image_latents, e, t_start, timesteps[0])
            torch.testing.assert_close(lat, rec.add_noise[0]['out'], rtol=0, atol=1e-5)
            assert torch.equal(rec.add_noise[0]['original'], image_latents)
            lat = rec.add_noise[0]['out']
        init_latents = lat.clone()
        ctx = _context(pipe)
        assert torch.equal(ctx, ctx_ref)
        step_out, known = [], []
        for i, t in enumerate(timesteps):
            xin = s.scale_model_input(torch.cat([lat] * 2), t)
            if nine:
                xin = torch.cat([xin, torch.cat([mask_lat] * 2), torch.cat([masked_latents] * 2)], dim=1)
                assert torch.equal(xin, rec.unet_in[i][0]), ('unet input', i)
            eps = unet(xin, t, encoder_hidden_states=ctx).sample
            eps = eps[0:1] + GUIDANCE * (eps[1:2] - eps[0:1])
            lat = s.step(eps, t, lat, **_step_kwargs(s, g, sched_name)).prev_sample
            step_out.append(lat)
            if not nine:
                if i < n - 1:
                    k = _add_noise_doc(sched_name, s, image_latents, e, t_start + i + 1, timesteps[i + 1])
                else:
                    k = image_latents
                known.append(k)
                lat = (1 - mask_lat) * k + mask_lat * lat
            torch.testing.assert_close(lat, rec.latents[i], rtol=0, atol=2e-5)
            lat = rec.latents[i]       # continue from the exact pipeline state
        img = (vae.decode(lat / sf).sample / 2 + 0.5).clamp(0, 1)
        assert torch.equal(img[0].permute(1, 2, 0), image), 'image != clamp(decode/2+0.5)'
    if not nine:
        loop_adds = rec.add_noise[(1 if strength < 1.0 else 0):]
        assert len(loop_adds) == n - 1
        for i, a in enumerate(loop_adds):
            assert torch.equal(a['noise'], noise) and torch.equal(a['original'], image_latents)
            assert a['timesteps'] == [float(timesteps[i + 1])]
            known[i] = a['out']
    else:
        assert not rec.add_noise

    tensors = {
        'init_image': init01,
        'mask': mask,
        'masked_image': masked_image,
        'mask_latent': mask_lat,
        'masked_image_latents': masked_latents,
        'timesteps': timesteps.to(torch.float32),
        'noise': noise,
        'init_latents': init_latents,
    }
    for i, (_, t) in enumerate(rec.draws):
        tensors['rng_draw%d' % i] = t
    if image_latents is not None:
        tensors['image_latents'] = image_latents
    if sched_name not in VP_SAMPLERS:
        tensors['sigmas'] = sched.sigmas[t_start:].to(torch.float32)
    if nine:
        tensors['unet_input_step0'] = rec.unet_in[0][0]
    for i in range(n):
        tensors['model_output_step%d' % i] = rec.steps[i]['model_output']
        if not nine:
            tensors['stepped_step%d' % i] = rec.steps[i]['prev']
            tensors['known_step%d' % i] = known[i]
        tensors['latents_step%d' % i] = rec.latents[i]
    tensors['final_latents'] = rec.latents[-1]
    tensors['image'] = image
    goldens.save(os.path.join(out_dir, tag + '.safetensors'), tensors)
    draw_meaning = {
        'vae_posterior_sample': None, 'pipeline': 'noise (prepare_latents)',
    }
    order = _draw_list(rec)
    last_posterior = max(d['index'] for d in order if d['kind'] == 'vae_posterior_sample')
    for d in order:
        if d['kind'] == 'pipeline':
            d['meaning'] = draw_meaning['pipeline']
        elif d['kind'] == 'scheduler_step':
            d['meaning'] = 'the sampler\'s step noise'
        elif d['index'] == last_posterior:
            d['meaning'] = 'posterior sample of masked_image (prepare_mask_latents)' + \
                ('' if nine else '; unused by the 4-channel model')
        else:
            d['meaning'] = 'posterior sample of init image (image_latents, prepare_latents)'
    goldens.write_json(os.path.join(out_dir, tag + '.json'), {
        'pipeline': 'StableDiffusionInpaintPipeline',
        'model': 'tiny-sd-inpaint (F32, 9-channel UNet)' if nine else 'tiny-sd (F32, 4-channel UNet)',
        'unet_in_channels': unet.config.in_channels,
        'vae_encode_input_strides': [list(x.stride()) for x in rec.encodes],
        'prompt': PROMPT, 'negative_prompt': NEGATIVE, 'guidance_scale': GUIDANCE,
        'steps': STEPS, 'strength': strength, 'seed': SEED,
        'generator': 'torch.Generator("cpu").manual_seed(seed)', 'eta': PIPELINE_ETA.get(sched_name, 0.0),
        'width': WIDTH, 'height': HEIGHT, 'height_width_passed': True,
        'padding_mask_crop': None, 'composited': False,
        'init_image_file': 'images/init-48x64.png (PIL RGB)',
        'mask_file': 'images/mask-48x64.png (PIL L, 0/255)',
        'mask_rect_xy_halfopen': {'x': list(MASK_X), 'y': list(MASK_Y)},
        'mask_latent_rule': 'nearest: mask_latent[i][j] = mask[8*i][8*j]',
        'init_timestep': init_timestep, 't_start': t_start, 'steps_run': n,
        'full_timesteps': [float(x) for x in full.timesteps],
        'timesteps': [float(x) for x in timesteps],
        'timesteps_dtype': str(full.timesteps.dtype).replace('torch.', ''),
        'sigmas': [float(x) for x in sched.sigmas[t_start:]] if sched_name not in VP_SAMPLERS else None,
        'init_noise_sigma': float(full.init_noise_sigma),
        'initial_latents': ('noise * init_noise_sigma' if strength == 1.0
                            else 'add_noise(image_latents, noise, timesteps[0])'),
        'blend': (None if nine else
                  'after step i: latents = (1-mask_latent)*known + mask_latent*latents, known = '
                  'add_noise(image_latents, noise, timesteps[i+1]) for i < n-1, image_latents for the last'),
        'add_noise_calls': [{'timestep': a['timesteps'], 'scheduler_step_index': a['step_index']}
                            for a in rec.add_noise],
        'scheduler_class': type(sched).__name__,
        'scheduler_config': _sched_config(sched),
        'unet_timesteps_seen': [t for _, t in rec.unet_in],
        'unet_input_channels_order': (['scale_model_input(latents) x4', 'mask_latent x1',
                                       'masked_image_latents x4'] if nine else None),
        'random_draws': len(rec.draws),
        'draw_order': order,
        'tensors': sorted(tensors),
    })
    if not nine:
        _share_inputs(out_dir, tag, sched_name, 'inpaint4')
    print('%s: t_start %d, timesteps %s, draws %s, image mean %.4f'
          % (tag, t_start, [round(float(x), 3) for x in timesteps], kinds, float(image.mean())))


# ---------------------------------------------------------------------------

def write_all(fixtures, only=None):
    """Everything, or with `only` just the img2img and inpaint4 goldens of
    those LATER_SAMPLERS."""
    models = os.path.join(fixtures, 'models')
    golden = os.path.join(fixtures, 'golden')
    images = os.path.join(fixtures, 'images')
    os.makedirs(golden, exist_ok=True)
    if only is None:
        write_pictures(images)
    init_pil, mask_pil = load_pictures(images)
    if only is None:
        write_inpaint_model(models)

    folder = os.path.join(models, 'tiny-sd')
    unet, vae, text = tiny_sd.load_folder(folder)
    tok = goldens.load_tokenizer(folder)
    if only is None:
        vae_encoder_golden(vae, golden)

    from diffusers import StableDiffusionPipeline
    p = StableDiffusionPipeline(vae=vae, text_encoder=text, tokenizer=tok, unet=unet,
                                scheduler=_scheduler('ddim'), safety_checker=None,
                                feature_extractor=None, requires_safety_checker=False)
    ctx = _context(p)
    comps = (unet, vae, text, tok)
    if only is not None:
        for name in only:
            assert name in LATER_SAMPLERS, name
            img2img_one(comps, name, LATER_STRENGTH, init_pil, golden, ctx)
            inpaint_one(comps, name, 1.0, init_pil, mask_pil, golden, ctx, 'inpaint4_' + name)
        return
    for name in SCHEDULERS:
        if name in LATER_SAMPLERS:
            img2img_one(comps, name, LATER_STRENGTH, init_pil, golden, ctx)
            inpaint_one(comps, name, 1.0, init_pil, mask_pil, golden, ctx, 'inpaint4_' + name)
            continue
        for s in IMG2IMG_STRENGTHS:
            img2img_one(comps, name, s, init_pil, golden, ctx)
    inpaint_one(comps, 'ddim', 1.0, init_pil, mask_pil, golden, ctx, 'inpaint4_ddim')
    inpaint_one(comps, 'euler', 1.0, init_pil, mask_pil, golden, ctx, 'inpaint4_euler')
    inpaint_one(comps, 'ddim', 0.75, init_pil, mask_pil, golden, ctx, 'inpaint4_ddim_s0.75')
    unet9, vae9, text9 = tiny_sd.load_folder(os.path.join(models, 'tiny-sd-inpaint'))
    inpaint_one((unet9, vae9, text9, tok), 'ddim', 1.0, init_pil, mask_pil, golden, ctx, 'inpaint9_ddim')
