"""SD 2.x goldens (gen_fixtures.py step `sd2`; README.md §SD 2.x fixtures).

Writes (under fixtures/):
    models/tiny-sd2{,-v,-turbo,-inpaint}/          diffusers folders (tiny_sd2.py)
    models/tiny-sd2-ldm.safetensors (+ .yaml)      single file, F32, OpenCLIP names
    models/tiny-sd2-v-ldm.safetensors (+ .yaml)    link to the same weights, yaml says v
    (no F16 copy of it: the tests write tiny-sd2-ldm's tensors as F16 (UNet,
     text) / BF16 (VAE) themselves, rounding to nearest even as torch does,
     tests/half_copy.h; golden v_txt2img_euler_f16w is computed with exactly
     those rounded weights)
    models/tiny-sd2-inpaint-ldm-f16.safetensors (+ .yaml)
                                                   tiny-sd2-inpaint as a single file,
                                                   F16 (UNet, text) / BF16 (VAE), the
                                                   weights of golden inpaint9_ddim_f16w
    golden/sd2_text_encoder.*, golden/sd2_unet.safetensors
    golden/sd2_<run>.safetensors (+ .json)         pipelines, see RUNS

Every pipeline run is instrumented as pipelines.py / edit_fixtures.py do
(every randn_tensor draw, scheduler.step inputs, the latents after each
step) and every draw is checked to be the next torch.randn of its shape from
a fresh generator, so the C side can replay the stream.
"""
import functools
import importlib
import os

import numpy as np
import torch

import edit_fixtures
import goldens
import tiny_sd
import tiny_sd2

PROMPT = 'a red circle'
NEGATIVE = 'blurry'
WIDTH, HEIGHT = 48, 64
SEED = 1234

_CLASSES = {
    'ddim': ('DDIMScheduler', {}),
    'euler': ('EulerDiscreteScheduler', {}),
    'euler_a': ('EulerAncestralDiscreteScheduler', {}),
    'dpmpp_2m': ('DPMSolverMultistepScheduler', {'algorithm_type': 'dpmsolver++', 'solver_order': 2}),
    'dpmpp_2m_karras': ('DPMSolverMultistepScheduler',
                        {'algorithm_type': 'dpmsolver++', 'solver_order': 2, 'use_karras_sigmas': True}),
    'lcm': ('LCMScheduler', {}),
}

# run name -> settings.  model: a tiny_sd2.MODELS folder; sampler: a _CLASSES
# key, built with Class.from_config(the folder's scheduler config, **extra).
_T2I = dict(kind='txt2img', steps=4, guidance=7.5, negative=NEGATIVE, extra={})
# The random tiny UNet read as a v predictor is ill-conditioned under strong
# guidance: at 7.5 a 1e-5 relative change of the initial noise moves the
# image by 0.05-0.35 (diffusers against itself), at 2.0 by < 1e-4.  So the
# v runs use guidance 2.0, which still exercises classifier-free guidance.
_V = dict(guidance=2.0)
RUNS = {
    'txt2img_ddim': dict(_T2I, model='tiny-sd2', sampler='ddim'),
    'txt2img_euler': dict(_T2I, model='tiny-sd2', sampler='euler'),
    'txt2img_ddim_linspace': dict(_T2I, model='tiny-sd2', sampler='ddim',
                                  extra={'timestep_spacing': 'linspace'}),
    'v_txt2img_ddim': dict(_T2I, **_V, model='tiny-sd2-v', sampler='ddim'),
    'v_txt2img_euler': dict(_T2I, **_V, model='tiny-sd2-v', sampler='euler'),
    'v_txt2img_euler_a': dict(_T2I, **_V, model='tiny-sd2-v', sampler='euler_a'),
    'v_txt2img_dpmpp_2m': dict(_T2I, **_V, model='tiny-sd2-v', sampler='dpmpp_2m'),
    'v_txt2img_dpmpp_2m_karras': dict(_T2I, **_V, model='tiny-sd2-v', sampler='dpmpp_2m_karras'),
    'v_txt2img_lcm': dict(_T2I, **_V, model='tiny-sd2-v', sampler='lcm'),
    'v_txt2img_ddim_trailing_zsnr': dict(_T2I, **_V, model='tiny-sd2-v', sampler='ddim',
                                         extra={'timestep_spacing': 'trailing',
                                                'rescale_betas_zero_snr': True}),
    'v_txt2img_euler_f16w': dict(_T2I, **_V, model='tiny-sd2-v', sampler='euler', f16w=True),
    'turbo_1step': dict(_T2I, model='tiny-sd2-turbo', sampler='euler', steps=1, guidance=0.0, negative=None),
    'turbo_4step': dict(_T2I, model='tiny-sd2-turbo', sampler='euler', steps=4, guidance=0.0, negative=None),
    'v_img2img_euler_0.75': dict(_T2I, **_V, kind='img2img', model='tiny-sd2-v', sampler='euler', steps=8,
                                 strength=0.75),
    'v_img2img_ddim_0.3': dict(_T2I, **_V, kind='img2img', model='tiny-sd2-v', sampler='ddim', steps=8,
                               strength=0.3),
    'inpaint4_ddim': dict(_T2I, kind='inpaint', model='tiny-sd2', sampler='ddim', steps=8, strength=1.0),
    'v_inpaint4_euler': dict(_T2I, **_V, kind='inpaint', model='tiny-sd2-v', sampler='euler', steps=8,
                             strength=1.0),
    # LCM-distilled UNet: guidance as an embedding (w = 8 - 1), one UNet
    # evaluation per step, no negative prompt, LCMScheduler from its config.
    'lcm_distilled_4step': dict(_T2I, model='tiny-sd2-lcm', sampler='lcm', guidance=8.0, negative=None),
    'inpaint9_ddim': dict(_T2I, kind='inpaint', model='tiny-sd2-inpaint', sampler='ddim', steps=8,
                          strength=1.0),
    # the same with the weights INPAINT_SINGLE_FILE stores (F16 / BF16)
    'inpaint9_ddim_f16w': dict(_T2I, kind='inpaint', model='tiny-sd2-inpaint', sampler='ddim', steps=8,
                               strength=1.0, f16w=True),
}

# tiny-sd2-inpaint as a single file.  Half precision (UNet and text encoder
# F16, VAE BF16, as the tests' half copies of tiny-sd2-ldm) keeps it at 7 MB
# where F32 would take 14 MB; golden inpaint9_ddim_f16w holds its values.
INPAINT_SINGLE_FILE = 'tiny-sd2-inpaint-ldm-f16.safetensors'

_RANDN_MODULES = {
    'diffusers.pipelines.stable_diffusion.pipeline_stable_diffusion': 'pipeline',
    'diffusers.pipelines.stable_diffusion.pipeline_stable_diffusion_img2img': 'pipeline',
    'diffusers.pipelines.stable_diffusion.pipeline_stable_diffusion_inpaint': 'pipeline',
    'diffusers.models.autoencoders.vae': 'vae_posterior_sample',
    'diffusers.schedulers.scheduling_ddim': 'scheduler_step',
    'diffusers.schedulers.scheduling_euler_discrete': 'scheduler_step',
    'diffusers.schedulers.scheduling_euler_ancestral_discrete': 'scheduler_step',
    'diffusers.schedulers.scheduling_dpmsolver_multistep': 'scheduler_step',
    'diffusers.schedulers.scheduling_lcm': 'scheduler_step',
}


# ---------------------------------------------------------------------------
# Models

def write_models(models_dir):
    from safetensors.torch import save_file
    unet, vae, text, extra, proj = tiny_sd2.write_folders(models_dir)
    ldm = tiny_sd2.to_ldm(unet, vae, text, extra, proj)
    meta = {'format': 'pt'}
    path = os.path.join(models_dir, 'tiny-sd2-ldm.safetensors')
    save_file(ldm, path, metadata=meta)
    vpath = os.path.join(models_dir, 'tiny-sd2-v-ldm.safetensors')
    if os.path.lexists(vpath):
        os.remove(vpath)
    os.symlink('tiny-sd2-ldm.safetensors', vpath)
    for stem in ('tiny-sd2-ldm-f16.safetensors', 'tiny-sd2-ldm-f16.yaml'):   # written by older versions
        if os.path.lexists(os.path.join(models_dir, stem)):
            os.remove(os.path.join(models_dir, stem))
    for stem, v in (('tiny-sd2-ldm', False), ('tiny-sd2-v-ldm', True)):
        with open(os.path.join(models_dir, stem + '.yaml'), 'w', encoding='utf-8') as f:
            f.write(tiny_sd2.ldm_yaml(v))
    check_single_file(path, os.path.join(models_dir, 'tiny-sd2'), unet, vae, text)
    print('sd2: %d tensors in the single file; UNet %d, text %d (+1 LDM layer), VAE %d parameters'
          % (len(ldm), sum(p.numel() for p in unet.parameters()),
             sum(p.numel() for p in text.parameters()), sum(p.numel() for p in vae.parameters())))
    write_inpaint_single_file(models_dir, extra, proj)


def _half(ldm):
    """An LDM dict in half precision: VAE BF16, every other tensor F16,
    scalars F32 (as tests/half_copy.h writes and _f16w rounds)."""
    return {k: v if not v.dim() else
            v.to(torch.bfloat16 if k.startswith('first_stage_model.') else torch.float16).contiguous()
            for k, v in ldm.items()}


def write_inpaint_single_file(models_dir, extra, proj):
    """INPAINT_SINGLE_FILE (+ .yaml) from the written tiny-sd2-inpaint
    folder, and the check that diffusers reads the rounded weights back."""
    from safetensors.torch import save_file
    from diffusers import StableDiffusionInpaintPipeline
    folder = os.path.join(models_dir, 'tiny-sd2-inpaint')
    unet, vae, text, _, _ = tiny_sd2.load(models_dir, 'tiny-sd2-inpaint')
    ldm = _half(tiny_sd2.to_ldm(unet, vae, text, extra, proj))
    path = os.path.join(models_dir, INPAINT_SINGLE_FILE)
    save_file(ldm, path, metadata={'format': 'pt'})
    with open(path[:-len('.safetensors')] + '.yaml', 'w', encoding='utf-8') as f:
        f.write(tiny_sd2.ldm_yaml(False, in_channels=unet.config.in_channels))
    ref = _f16w(tiny_sd2.load(models_dir, 'tiny-sd2-inpaint'))
    check_single_file(path, folder, *ref[:3], pipeline=StableDiffusionInpaintPipeline)
    print('sd2: %s, %d tensors, UNet in_channels %d, %d bytes'
          % (INPAINT_SINGLE_FILE, len(ldm), unet.config.in_channels, os.path.getsize(path)))


def check_single_file(path, folder, unet, vae, text, pipeline=None):
    """diffusers' single-file loader must read every tensor of the folder back
    from our file (the OpenCLIP fused in_proj split included); for a half
    precision file `unet`, `vae`, `text` hold the rounded weights."""
    from diffusers import StableDiffusionPipeline
    pipe = (pipeline or StableDiffusionPipeline).from_single_file(
        path, config=folder, local_files_only=True, safety_checker=None,
        requires_safety_checker=False, torch_dtype=torch.float32)
    for name, mine, ref in (('unet', pipe.unet.state_dict(), unet.state_dict()),
                            ('vae', pipe.vae.state_dict(), vae.state_dict()),
                            ('text_encoder', pipe.text_encoder.state_dict(), text.state_dict())):
        assert mine.keys() == ref.keys(), (name, set(mine) ^ set(ref))
        for k in ref:
            assert mine[k].dtype == torch.float32 and torch.equal(mine[k], ref[k]), (name, k)
    print('sd2 single-file round trip: diffusers from_single_file reproduces %s'
          % os.path.basename(folder))


# ---------------------------------------------------------------------------
# Network goldens

def text_golden(models_dir, out_dir):
    unet, vae, text, tok, _ = tiny_sd2.load(models_dir, 'tiny-sd2')
    ids = goldens.tokenize(tok, goldens.PROMPTS)
    with torch.no_grad():
        out = text(ids, output_hidden_states=True)
    tensors = {'ids': ids.to(torch.float32), 'last_hidden_state': out.last_hidden_state,
               'pooled': out.pooler_output}
    goldens.save(os.path.join(out_dir, 'sd2_text_encoder.safetensors'), tensors)
    goldens.write_json(os.path.join(out_dir, 'sd2_text_encoder.json'), {
        'prompts': goldens.PROMPTS,
        'ids': ids.tolist(),
        'tokenizer': 'tiny-sd2/tokenizer: padding max_length 77 with "!" (id 0), truncation true',
        'tensors': {
            'ids': '[6,77] token ids as float32',
            'last_hidden_state': '[6,77,32] final_layer_norm(output of layer 3 of the folder) = '
                                 'ln_final(output of resblock 2) of the single file\'s 4-layer tower',
            'pooled': '[6,32] last_hidden_state at argmax(ids) (eos_token_id 2 legacy rule)',
        },
    })


def unet_golden(models_dir, out_dir):
    """As goldens.unet_golden, with the SD 2.x UNet (and the 9-channel one)."""
    import tempfile
    unet = tiny_sd2.load(models_dir, 'tiny-sd2')[0]
    with tempfile.TemporaryDirectory() as tmp:
        t = goldens.unet_golden(unet, tmp)
        os.replace(os.path.join(tmp, 'unet.safetensors'), os.path.join(out_dir, 'sd2_unet.safetensors'))
    return t


# ---------------------------------------------------------------------------
# Pipelines

class Recorder:
    def __init__(self, pipe):
        self.pipe = pipe
        self.draws, self.steps, self.latents, self.unet_in = [], [], [], []
        self._saved = []

    def __enter__(self):
        for name, kind in _RANDN_MODULES.items():
            mod = importlib.import_module(name)
            if not hasattr(mod, 'randn_tensor'):
                continue
            orig = mod.randn_tensor

            def wrapped(*a, _orig=orig, _kind=kind, **kw):
                out = _orig(*a, **kw)
                self.draws.append((_kind, out.detach().clone()))
                return out
            self._saved.append((mod, orig))
            mod.randn_tensor = wrapped
        step = self.pipe.scheduler.step

        @functools.wraps(step)    # the pipeline inspects step()'s signature
        def step_w(model_output, timestep, sample, *a, **kw):
            self.steps.append((model_output.detach().clone(), float(timestep)))
            return step(model_output, timestep, sample, *a, **kw)
        self.pipe.scheduler.step = step_w
        fwd = self.pipe.unet.forward

        @functools.wraps(fwd)
        def unet_fwd(sample, timestep, *a, **kw):
            self.unet_in.append((sample.detach().clone(), float(timestep)))
            return fwd(sample, timestep, *a, **kw)
        self.pipe.unet.forward = unet_fwd
        return self

    def on_step_end(self, p, i, t, kw):
        self.latents.append(kw['latents'].detach().clone())
        return kw

    def __exit__(self, *exc):
        for mod, orig in self._saved:
            mod.randn_tensor = orig
        del self.pipe.scheduler.step
        del self.pipe.unet.forward


def _pipe(run, components):
    import diffusers
    unet, vae, text, tok, sched_cfg = components
    cls_name, extra = _CLASSES[run['sampler']]
    sched = getattr(diffusers, cls_name).from_config(sched_cfg, **extra, **run['extra'])
    cls = {'txt2img': diffusers.StableDiffusionPipeline,
           'img2img': diffusers.StableDiffusionImg2ImgPipeline,
           'inpaint': diffusers.StableDiffusionInpaintPipeline}[run['kind']]
    pipe = cls(vae=vae, text_encoder=text, tokenizer=tok, unet=unet, scheduler=sched,
               safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _f16w(components):
    """A model's weights rounded to F16 (UNet, text encoder) / BF16 (VAE) and
    widened back to F32: what the tests' half-precision copy of
    tiny-sd2-v-ldm and INPAINT_SINGLE_FILE hold (as
    pipelines._reduced_precision_components)."""
    import copy
    unet, vae, text, tok, sched = components
    out = []
    for m, dt in ((unet, torch.float16), (vae, torch.bfloat16), (text, torch.float16)):
        m2 = copy.deepcopy(m)
        m2.load_state_dict({k: v.to(dt).to(torch.float32) for k, v in m.state_dict().items()}, strict=True)
        out.append(m2)
    return (out[0], out[1], out[2], tok, sched)


def run_one(name, run, models_dir, images, out_dir):
    components = tiny_sd2.load(models_dir, run['model'])
    if run.get('f16w'):
        components = _f16w(components)
    pipe = _pipe(run, components)
    kw = dict(prompt=PROMPT, negative_prompt=run['negative'], num_inference_steps=run['steps'],
              guidance_scale=run['guidance'], generator=torch.Generator('cpu').manual_seed(SEED),
              output_type='np', callback_on_step_end_tensor_inputs=['latents'])
    init, mask = images
    if run['kind'] == 'txt2img':
        kw.update(height=HEIGHT, width=WIDTH)
    elif run['kind'] == 'img2img':
        kw.update(image=init, strength=run['strength'])
    else:
        kw.update(image=init, mask_image=mask, height=HEIGHT, width=WIDTH, strength=run['strength'])
    with Recorder(pipe) as rec:
        kw['callback_on_step_end'] = rec.on_step_end
        out = pipe(**kw)
    g = torch.Generator('cpu').manual_seed(SEED)
    for kind, t in rec.draws:
        assert torch.equal(t, torch.randn(t.shape, generator=g, dtype=torch.float32)), (name, kind)
    sched = pipe.scheduler
    cfg_on = run['guidance'] > 1.0 and pipe.unet.config.time_cond_proj_dim is None
    expect_unet_calls = len(rec.latents)
    assert len(rec.unet_in) == expect_unet_calls, (name, len(rec.unet_in))
    assert all(x.shape[0] == (2 if cfg_on else 1) for x, _ in rec.unet_in), name
    pe, ne = pipe.encode_prompt(PROMPT, 'cpu', 1, cfg_on, run['negative'])
    tensors = {
        'timesteps': sched.timesteps.to(torch.float32),
        'context': torch.cat([ne, pe]) if cfg_on else pe,
        'unet_input_step0': rec.unet_in[0][0],
        'final_latents': rec.latents[-1],
        'image': torch.from_numpy(np.ascontiguousarray(out.images[0])),
    }
    if getattr(sched, 'sigmas', None) is not None:
        tensors['sigmas'] = sched.sigmas.to(torch.float32)
    for i, (kind, t) in enumerate(rec.draws):
        tensors['rng_draw%d' % i] = t
    for i, lat in enumerate(rec.latents):
        tensors['latents_step%d' % i] = lat
        tensors['model_output_step%d' % i] = rec.steps[i][0]
    if run['kind'] == 'txt2img':
        tensors['init_noise'] = rec.draws[0][1]
    else:
        tensors['init_image'] = torch.from_numpy(np.asarray(init, dtype=np.float32) / 255.0)
    if run['kind'] == 'inpaint':
        tensors['mask'] = torch.from_numpy((np.asarray(mask, dtype=np.float32) / 255.0 >= 0.5)
                                           .astype(np.float32))
    goldens.save(os.path.join(out_dir, 'sd2_%s.safetensors' % name), tensors)
    cfg = edit_fixtures._sched_config(sched)
    goldens.write_json(os.path.join(out_dir, 'sd2_%s.json' % name), {
        'model': run['model'] + (' (weights rounded to F16 (UNet, text) / BF16 (VAE), widened to F32)'
                                 if run.get('f16w') else ''),
        'kind': run['kind'],
        'pipeline_class': type(pipe).__name__,
        'prompt': PROMPT,
        'negative_prompt': run['negative'],
        'steps': run['steps'],
        'guidance_scale': run['guidance'],
        'classifier_free_guidance': cfg_on,
        'strength': run.get('strength'),
        'seed': SEED,
        'generator': 'torch.Generator("cpu").manual_seed(seed)',
        'width': WIDTH, 'height': HEIGHT, 'eta': 0.0,
        'images': None if run['kind'] == 'txt2img' else
        ['images/init-48x64.png'] + (['images/mask-48x64.png'] if run['kind'] == 'inpaint' else []),
        'scheduler_class': type(sched).__name__,
        'scheduler_from_config_kwargs': dict(_CLASSES[run['sampler']][1], **run['extra']),
        'scheduler_config': cfg,
        'init_noise_sigma': float(sched.init_noise_sigma),
        'timesteps': [float(x) for x in sched.timesteps],
        'unet_timesteps_seen': [t for _, t in rec.unet_in],
        'unet_batch': int(rec.unet_in[0][0].shape[0]),
        'sigmas': [float(x) for x in tensors['sigmas']] if 'sigmas' in tensors else None,
        'draw_order': [{'index': i, 'kind': k, 'shape': list(t.shape)} for i, (k, t) in enumerate(rec.draws)],
        'tensors': sorted(tensors),
    })
    print('sd2_%s: timesteps %s, unet batch %d, %d draws, image mean %.4f'
          % (name, [round(float(x), 3) for x in sched.timesteps], rec.unet_in[0][0].shape[0],
             len(rec.draws), float(tensors['image'].mean())))


def write_pipelines(fixtures, only=None):
    models = os.path.join(fixtures, 'models')
    out = os.path.join(fixtures, 'golden')
    images = edit_fixtures.load_pictures(os.path.join(fixtures, 'images'))
    for name, run in RUNS.items():
        if only is None or name in only:
            run_one(name, run, models, images, out)


def write_all(fixtures):
    models = os.path.join(fixtures, 'models')
    golden = os.path.join(fixtures, 'golden')
    write_models(models)
    text_golden(models, golden)
    unet_golden(models, golden)
    write_pipelines(fixtures)
