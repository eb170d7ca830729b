"""End-to-end text-to-image goldens: StableDiffusionPipeline on tiny-sd with
every sampler (fixtures/golden/pipeline_<name>.{safetensors,json}).

Each run is instrumented without changing what it computes:
  - diffusers' randn_tensor is wrapped (in the pipeline module and in the
    scheduler modules) to record every random draw;
  - scheduler.step is wrapped to record the guided model output it receives;
  - callback_on_step_end records the latents after every step.
Then the run is repeated with `latents=init_noise` and a generator advanced
past the initial draw, which must reproduce the image bit for bit: this
proves init_noise (drawn from a fresh torch.Generator) is what the pipeline
used, and that the stochastic samplers draw nothing else.
"""
import functools
import importlib
import json
import os
import tempfile

import numpy as np
import torch

import goldens
import scheduling_reference
import tiny_sd

PROMPT = 'a red circle'
NEGATIVE = 'blurry'
STEPS = 4
GUIDANCE = 7.5
HEIGHT = 64
WIDTH = 48
SEED = 1234


def _schedulers():
    """name -> (class name, extra from_config kwargs). Every sampler is built
    with Class.from_config(SD 1.5's scheduler config, **extra)."""
    return {
        'ddim': ('DDIMScheduler', {}),
        'euler': ('EulerDiscreteScheduler', {}),
        'euler_a': ('EulerAncestralDiscreteScheduler', {}),
        'dpmpp_2m': ('DPMSolverMultistepScheduler',
                     {'algorithm_type': 'dpmsolver++', 'solver_order': 2}),
        'dpmpp_2m_karras': ('DPMSolverMultistepScheduler',
                            {'algorithm_type': 'dpmsolver++', 'solver_order': 2,
                             'use_karras_sigmas': True}),
        'lcm': ('LCMScheduler', {}),
        'ddpm': ('DDPMScheduler', {}),
        # sdcl's --schedule exponential / trailing
        'euler_exponential': ('EulerDiscreteScheduler', {'use_exponential_sigmas': True}),
        'dpmpp_2m_exponential': ('DPMSolverMultistepScheduler',
                                 {'algorithm_type': 'dpmsolver++', 'solver_order': 2,
                                  'use_exponential_sigmas': True}),
        'ddim_trailing': ('DDIMScheduler', {'timestep_spacing': 'trailing'}),
        'dpmpp_2m_sde': ('DPMSolverMultistepScheduler',
                         {'algorithm_type': 'sde-dpmsolver++', 'solver_order': 2}),
        'dpmpp_2m_sde_karras': ('DPMSolverMultistepScheduler',
                                {'algorithm_type': 'sde-dpmsolver++', 'solver_order': 2,
                                 'use_karras_sigmas': True}),
        'lms': ('LMSDiscreteScheduler', {}),
        'heun': ('HeunDiscreteScheduler', {}),
        'pndm': ('PNDMScheduler', {}),
        'dpm2': ('KDPM2DiscreteScheduler', {}),
        'dpm2_a': ('KDPM2AncestralDiscreteScheduler', {}),
        'tcd': ('TCDScheduler', {}),
        'euler_ays': ('EulerDiscreteScheduler', {}),
        'dpmpp_2s_a': ('DPMPP2SAncestralScheduler', {}),  # scheduling_reference.py
        'dpmpp_sde': ('DPMSolverSDEGeneratorScheduler', {}),  # scheduling_reference.py
        'unipc': ('UniPCMultistepScheduler', {}),
        'deis': ('DEISMultistepScheduler', {}),
        # PNDM with its Runge-Kutta warm-up (the class default; tiny-sd's
        # config, as SD 1.5's, skips it)
        'pndm_prk': ('PNDMScheduler', {'skip_prk_steps': False}),
    }


# Runs given timesteps instead of a step count: sdcl's --schedule ays at its
# 10 published SD 1.5 steps (diffusers' AysSchedules).
def _pipeline_timesteps():
    from diffusers.schedulers.scheduling_utils import AysSchedules
    return {'euler_ays': list(AysSchedules['StableDiffusionTimesteps'])}


# The pipeline's eta where a sampler's run sets one (TCD's gamma; the
# pipeline's default eta 0 would make TCD deterministic).
PIPELINE_ETA = {'tcd': 0.3}


_RANDN_MODULES = [
    'diffusers.pipelines.stable_diffusion.pipeline_stable_diffusion',
    'diffusers.schedulers.scheduling_ddim',
    'diffusers.schedulers.scheduling_euler_discrete',
    'diffusers.schedulers.scheduling_euler_ancestral_discrete',
    'diffusers.schedulers.scheduling_dpmsolver_multistep',
    'diffusers.schedulers.scheduling_lcm',
    'diffusers.schedulers.scheduling_ddpm',
    'diffusers.schedulers.scheduling_k_dpm_2_ancestral_discrete',
    'diffusers.schedulers.scheduling_tcd',
    'scheduling_reference',
]


class RandnRecorder:
    """Wraps randn_tensor in the modules above and records (module, tensor)."""

    def __init__(self):
        self.draws = []
        self._saved = []

    def __enter__(self):
        for name in _RANDN_MODULES:
            mod = importlib.import_module(name)
            if not hasattr(mod, 'randn_tensor'):
                continue
            orig = mod.randn_tensor

            def wrapped(*a, _orig=orig, _name=name, **kw):
                out = _orig(*a, **kw)
                self.draws.append((_name.rsplit('.', 1)[-1], out.detach().clone()))
                return out
            self._saved.append((mod, orig))
            mod.randn_tensor = wrapped
        return self

    def __exit__(self, *exc):
        for mod, orig in self._saved:
            mod.randn_tensor = orig
        self._saved = []


def _make_pipe(components, sched_name):
    import diffusers
    from diffusers import StableDiffusionPipeline
    cls_name, extra = _schedulers()[sched_name]
    sched = scheduling_reference.scheduler_class(cls_name).from_config(tiny_sd.scheduler_config(),
                                                                        **extra)
    unet, vae, text, tok = components
    pipe = StableDiffusionPipeline(vae=vae, text_encoder=text, tokenizer=tok, unet=unet,
                                   scheduler=sched, safety_checker=None, feature_extractor=None,
                                   requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _run(pipe, generator, latents=None, eta=0.0, timesteps=None):
    record = {'latents': [], 'model_output': [], 'step_t': []}
    orig_step = pipe.scheduler.step

    # functools.wraps matters: the pipeline inspects step()'s signature to
    # decide whether to pass `generator` and `eta`.
    @functools.wraps(orig_step)
    def step(model_output, timestep, sample, *a, **kw):
        record['model_output'].append(model_output.detach().clone())
        record['step_t'].append(float(timestep))
        return orig_step(model_output, timestep, sample, *a, **kw)

    def on_step_end(p, i, t, kw):
        record['latents'].append(kw['latents'].detach().clone())
        return kw

    pipe.scheduler.step = step
    try:
        with RandnRecorder() as rec:
            steps = {'timesteps': timesteps} if timesteps else {'num_inference_steps': STEPS}
            out = pipe(PROMPT, negative_prompt=NEGATIVE, **steps,
                       guidance_scale=GUIDANCE, height=HEIGHT, width=WIDTH, eta=eta,
                       generator=generator, latents=latents, output_type='np',
                       callback_on_step_end=on_step_end,
                       callback_on_step_end_tensor_inputs=['latents'])
    finally:
        del pipe.scheduler.step
    record['draws'] = rec.draws
    record['image'] = torch.from_numpy(np.ascontiguousarray(out.images[0]))
    return record


def _jsonable(v):
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, dict):
        return {k: _jsonable(x) for k, x in v.items()}
    if isinstance(v, (np.generic,)):
        return v.item()
    if isinstance(v, torch.Tensor):
        return v.tolist()
    return v


def write_one(components, name, out_dir, out_name=None, model_label='tiny-sd (F32)'):
    out_name = out_name or name
    pipe = _make_pipe(components, name)
    latent_shape = (1, 4, HEIGHT // 8, WIDTH // 8)

    # The reference run.
    eta = PIPELINE_ETA.get(name, 0.0)
    timesteps_in = _pipeline_timesteps().get(name)
    rec = _run(pipe, torch.Generator('cpu').manual_seed(SEED), eta=eta, timesteps=timesteps_in)
    sched = pipe.scheduler

    # init_noise from a fresh generator: the pipeline's first draw.
    g = torch.Generator('cpu').manual_seed(SEED)
    init_noise = torch.randn(latent_shape, generator=g, dtype=torch.float32)
    draws = rec['draws']
    assert draws and draws[0][0] == 'pipeline_stable_diffusion', draws
    assert torch.equal(draws[0][1], init_noise), 'init_noise differs from the pipeline draw'
    step_draws = [t for mod, t in draws[1:]]
    assert all(mod.startswith('scheduling_') for mod, _ in draws[1:])
    # Replay the rest of the stream from the fresh generator: every later
    # draw is the next torch.randn of the latent shape.
    for t in step_draws:
        assert torch.equal(t, torch.randn(latent_shape, generator=g, dtype=torch.float32))

    # Second run from latents=init_noise, generator advanced past the first
    # draw: must reproduce everything exactly.
    g2 = torch.Generator('cpu').manual_seed(SEED)
    torch.randn(latent_shape, generator=g2, dtype=torch.float32)
    rec2 = _run(_make_pipe(components, name), g2, latents=init_noise.clone(), eta=eta,
                timesteps=timesteps_in)
    assert torch.equal(rec2['image'], rec['image']), name + ': latents= rerun differs'
    for a, b in zip(rec['latents'], rec2['latents']):
        assert torch.equal(a, b)

    assert len(rec['latents']) == len(sched.timesteps)  # one per model evaluation
    timesteps = sched.timesteps.to(torch.float32)
    tensors = {
        'init_noise': init_noise,
        'timesteps': timesteps,
        'context': torch.cat(pipe.encode_prompt(PROMPT, 'cpu', 1, True, NEGATIVE)[::-1]),
    }
    has_sigmas = hasattr(sched, 'sigmas') and sched.sigmas is not None
    if has_sigmas:
        tensors['sigmas'] = sched.sigmas.to(torch.float32)
    for i, lat in enumerate(rec['latents']):
        tensors['latents_step%d' % i] = lat
        tensors['model_output_step%d' % i] = rec['model_output'][i]
    for i, t in enumerate(step_draws):
        tensors['noise_draw%d' % i] = t
    tensors['final_latents'] = rec['latents'][-1]
    tensors['image'] = rec['image']
    assert tensors['image'].shape == (HEIGHT, WIDTH, 3)
    goldens.save(os.path.join(out_dir, 'pipeline_%s.safetensors' % out_name), tensors)

    cfg = {k: _jsonable(v) for k, v in dict(sched.config).items()}
    # diffusers builds this list from a set: its order changes from run to run.
    if '_use_default_values' in cfg:
        cfg['_use_default_values'] = sorted(cfg['_use_default_values'])
    goldens.write_json(os.path.join(out_dir, 'pipeline_%s.json' % out_name), {
        'model': model_label,
        'prompt': PROMPT,
        'negative_prompt': NEGATIVE,
        'negative': NEGATIVE,
        'guidance': GUIDANCE,
        'steps': len(timesteps_in) if timesteps_in else STEPS,
        'pipeline_timesteps': timesteps_in,
        'guidance_scale': GUIDANCE,
        'seed': SEED,
        'generator': 'torch.Generator("cpu").manual_seed(seed)',
        'width': WIDTH,
        'height': HEIGHT,
        'eta': eta,
        'scheduler_class': type(sched).__name__,
        'scheduler_from_config_kwargs': _schedulers()[name][1],
        'scheduler_config': cfg,
        'init_noise_sigma': float(sched.init_noise_sigma),
        'timesteps': [float(x) for x in timesteps],
        'timesteps_dtype': str(sched.timesteps.dtype).replace('torch.', ''),
        'unet_timesteps_seen': rec['step_t'],
        'sigmas': [float(x) for x in tensors['sigmas']] if has_sigmas else None,
        'random_draws': 1 + len(step_draws),
        'noise_draws_after_init': len(step_draws),
        'tensors': sorted(tensors.keys()),
    })
    return tensors


def check_encode_prompt(components, out_dir):
    """The pipeline's own prompt encoding must equal text_encoder.safetensors
    (last_hidden_state of 'a red circle'), and tell whether clip_skip works."""
    from safetensors.torch import load_file
    golden = load_file(os.path.join(out_dir, 'text_encoder.safetensors'))
    i = goldens.PROMPTS.index(PROMPT)
    pipe = _make_pipe(components, 'ddim')
    emb, _ = pipe.encode_prompt(PROMPT, 'cpu', 1, False)
    # Equal on the machine that wrote text_encoder.safetensors; another CPU
    # or torch build may round the last bits differently.
    diff = float((emb[0] - golden['last_hidden_state'][i]).abs().max())
    assert diff <= 1e-5, diff
    if diff:
        print('note: encode_prompt differs from the text_encoder golden by %.3g (rounding)' % diff)
    try:
        emb, _ = pipe.encode_prompt(PROMPT, 'cpu', 1, False, clip_skip=1)
        assert torch.equal(emb[0], golden['clip_skip2'][i])
        print('encode_prompt(clip_skip=1) == clip_skip2 golden')
    except AttributeError as e:
        # diffusers 0.42.1 reads text_encoder.text_model.final_layer_norm,
        # which transformers 5 no longer has (CLIPTextModel was flattened).
        print('note: pipeline clip_skip is broken with this diffusers/transformers pair (%s); '
              'clip_skip2 is computed directly' % e)


def _reduced_precision_components(folder, ldm_path):
    """The tiny-sd modules with the weights of the F16/BF16 single file,
    widened to float32: what an engine that stores those weights and computes
    in fp32 must reproduce (no rounding tolerance needed)."""
    import copy
    from safetensors.torch import load_file
    import ldm_layout
    unet, vae, text = tiny_sd.load_folder(folder)
    u, v, t = ldm_layout.from_ldm(load_file(ldm_path), dict(unet.config), dict(vae.config))
    widen = lambda sd: {k: x.to(torch.float32) for k, x in sd.items()}
    unet2, vae2, text2 = copy.deepcopy(unet), copy.deepcopy(vae), copy.deepcopy(text)
    unet2.load_state_dict(widen(u), strict=True)
    vae2.load_state_dict(widen(v), strict=True)
    prefix = 'text_model.'
    text2.load_state_dict({k[len(prefix):] if k.startswith(prefix) else k: x
                           for k, x in widen(t).items()}, strict=True)
    return unet2, vae2, text2


def write_reduced_precision(folder, ldm_path, out_dir):
    """pipeline_<sampler>_f16w: the same runs with tiny-sd-ldm-f16's weights."""
    unet, vae, text = _reduced_precision_components(folder, ldm_path)
    tok = goldens.load_tokenizer(folder)
    for name in ('euler', 'euler_a'):
        write_one((unet, vae, text, tok), name, out_dir, out_name=name + '_f16w',
                  model_label='tiny-sd-ldm-f16 weights (UNet/CLIP F16, VAE BF16) widened to F32')
        print('pipeline_%s_f16w written' % name)


def circular_copy(module):
    """A copy of `module` whose every padded Conv2d pads circularly (the
    'seamless texture' setting: padding_mode applies to a convolution's own
    padding; Conv2d keeps the padding amounts it needs for it from __init__)."""
    import copy
    m = copy.deepcopy(module)
    n = 0
    for layer in m.modules():
        if isinstance(layer, torch.nn.Conv2d) and any(p > 0 for p in layer.padding):
            layer.padding_mode = 'circular'
            n += 1
    assert n > 0
    return m, n


def write_tiling(folder, out_dir):
    """pipeline_euler_tiling: the euler run with circular padding in every
    convolution of the UNet and the VAE (sdcl_gen_params.tiling)."""
    unet, vae, text = tiny_sd.load_folder(folder)
    tok = goldens.load_tokenizer(folder)
    unet_c, n_u = circular_copy(unet)
    vae_c, n_v = circular_copy(vae)
    t = write_one((unet_c, vae_c, text, tok), 'euler', out_dir, out_name='euler_tiling',
                  model_label='tiny-sd (F32), every padded Conv2d padding_mode=circular')
    with tempfile.TemporaryDirectory() as tmp:
        plain = write_one((unet, vae, text, tok), 'euler', tmp)['image']
    print('pipeline_euler_tiling: %d UNet and %d VAE convolutions circular; max |diff| to the '
          'zero-padded image %.4f' % (n_u, n_v, float((t['image'] - plain).abs().max())))


def write_all(folder, out_dir, only=None):
    """Every sampler's pipeline golden, or only those named in `only`."""
    unet, vae, text = tiny_sd.load_folder(folder)
    tok = goldens.load_tokenizer(folder)
    check_encode_prompt((unet, vae, text, tok), out_dir)
    for name in _schedulers():
        if only is not None and name not in only:
            continue
        t = write_one((unet, vae, text, tok), name, out_dir)
        print('pipeline_%s: timesteps %s, %d noise draws after init, image mean %.4f'
              % (name, [round(float(x), 4) for x in t['timesteps']],
                 sum(1 for k in t if k.startswith('noise_draw')), float(t['image'].mean())))
