"""Sampling goldens: torch CPU randn streams and diffusers schedulers
(fixtures/golden/sampling.safetensors + sampling.json).

Every scheduler is built the way a pipeline builds one from an SD 1.5 model:
`Class.from_config(SD15_PNDM_CONFIG | overrides)`.  Keys the dict has win,
keys it lacks take the class default (e.g. DDIM's "leading" spacing, Euler's
"linspace"); the C side receives the same dict through sampling.json and must
resolve it the same way.

The randn goldens are torch's x86 normal kernel (CPU capability AVX2 or
AVX-512), which sdcl reproduces bit for bit; torch's "default" capability
rounds differently, so the script refuses to run under it.

Run: /opt/sdcl-ref/bin/python tests/reference/gen_sampling.py [out_dir]
"""
import inspect
import os
import sys

import diffusers
import numpy as np
import torch
from diffusers import (DDIMScheduler, DDPMScheduler, DEISMultistepScheduler,
                       DPMSolverMultistepScheduler,
                       EulerAncestralDiscreteScheduler, EulerDiscreteScheduler, LCMScheduler,
                       HeunDiscreteScheduler, KDPM2AncestralDiscreteScheduler,
                       KDPM2DiscreteScheduler, LMSDiscreteScheduler, PNDMScheduler,
                       TCDScheduler, UniPCMultistepScheduler)

from diffusers.schedulers.scheduling_utils import AysSchedules

from goldens import save, write_json
from scheduling_reference import DPMPP2SAncestralScheduler, DPMSolverSDEGeneratorScheduler

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUT = os.path.join(HERE, 'fixtures', 'golden')

# runwayml/stable-diffusion-v1-5 scheduler/scheduler_config.json (no
# timestep_spacing and no prediction_type key).
SD15_PNDM_CONFIG = {
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

CLASSES = {
    'ddim': DDIMScheduler,
    'euler': EulerDiscreteScheduler,
    'euler_a': EulerAncestralDiscreteScheduler,
    'dpmpp_2m': DPMSolverMultistepScheduler,
    'lcm': LCMScheduler,
    'ddpm': DDPMScheduler,
    'dpmpp_2m_sde': DPMSolverMultistepScheduler,
    'lms': LMSDiscreteScheduler,
    'heun': HeunDiscreteScheduler,
    'pndm': PNDMScheduler,
    'dpm2': KDPM2DiscreteScheduler,
    'dpm2_a': KDPM2AncestralDiscreteScheduler,
    'tcd': TCDScheduler,
    'dpmpp_2s_a': DPMPP2SAncestralScheduler,  # scheduling_reference.py
    'dpmpp_sde': DPMSolverSDEGeneratorScheduler,  # scheduling_reference.py
    'unipc': UniPCMultistepScheduler,
    'deis': DEISMultistepScheduler,
}
# from_config keyword arguments that make the class the sampler
CLASS_KWARGS = {
    'dpmpp_2m_sde': {'algorithm_type': 'sde-dpmsolver++', 'solver_order': 2},
}

# ---- randn ------------------------------------------------------------------

RANDN_SEEDS = [0, 1, 42, 1234, 2**32 + 5, 0xDEADBEEFCAFEF00D]
RANDN_SHAPES = [[1], [7], [15], [16], [17], [100], [256], [4, 8, 6], [16384]]
# Successive draws from one generator: the n < 16 path caches the second
# normal of its last Box-Muller pair across calls, the n >= 16 path does not
# touch that cache, and the MT stream simply continues.
RANDN_SEQUENCES = {
    'pair': [100, 100],
    'mixed': [7, 7, 3, 100, 1, 16, 5, 2000, 9],
}


def randn_goldens(tensors, entries):
    """Seeds are written to the JSON as decimal strings: 64-bit values do not
    survive JSON readers that go through int64 or double."""
    for seed in RANDN_SEEDS:
        for shape in RANDN_SHAPES:
            n = int(np.prod(shape))
            name = f'randn.s{seed}.n{n}'
            g = torch.Generator('cpu').manual_seed(seed)
            tensors[name] = torch.randn(shape, generator=g).flatten()
            entries.append({'name': name, 'seed': str(seed), 'sizes': [n]})
        for label, sizes in RANDN_SEQUENCES.items():
            name = f'randn.s{seed}.{label}'
            g = torch.Generator('cpu').manual_seed(seed)
            tensors[name] = torch.cat([torch.randn(n, generator=g) for n in sizes])
            entries.append({'name': name, 'seed': str(seed), 'sizes': sizes})


# ---- schedules ----------------------------------------------------------------

# name -> (sampler, karras, config overrides on top of the SD 1.5 dict)
SCHEDULE_VARIANTS = {
    'ddim': ('ddim', False, {}),
    'ddim.trailing': ('ddim', False, {'timestep_spacing': 'trailing'}),
    'ddim.linspace': ('ddim', False, {'timestep_spacing': 'linspace'}),
    'ddim.linear': ('ddim', False, {'beta_schedule': 'linear', 'beta_start': 0.0001,
                                    'beta_end': 0.02}),
    'ddim.cosine': ('ddim', False, {'beta_schedule': 'squaredcos_cap_v2'}),
    'euler': ('euler', False, {}),
    'euler.leading': ('euler', False, {'timestep_spacing': 'leading'}),
    'euler.trailing': ('euler', False, {'timestep_spacing': 'trailing'}),
    'euler.linear': ('euler', False, {'beta_schedule': 'linear', 'beta_start': 0.0001,
                                      'beta_end': 0.02}),
    'euler.karras': ('euler', True, {}),
    'euler.cosine': ('euler', False, {'beta_schedule': 'squaredcos_cap_v2'}),
    'euler_a': ('euler_a', False, {}),
    'euler_a.leading': ('euler_a', False, {'timestep_spacing': 'leading'}),
    'dpmpp_2m': ('dpmpp_2m', False, {}),
    'dpmpp_2m.leading': ('dpmpp_2m', False, {'timestep_spacing': 'leading'}),
    'dpmpp_2m.trailing': ('dpmpp_2m', False, {'timestep_spacing': 'trailing'}),
    'dpmpp_2m.karras': ('dpmpp_2m', True, {}),
    'dpmpp_2m.karras.cosine': ('dpmpp_2m', True, {'beta_schedule': 'squaredcos_cap_v2'}),
    'lcm': ('lcm', False, {}),
    'ddpm': ('ddpm', False, {}),
    'ddpm.linspace': ('ddpm', False, {'timestep_spacing': 'linspace'}),
    'ddpm.trailing.cosine': ('ddpm', False, {'timestep_spacing': 'trailing',
                                             'beta_schedule': 'squaredcos_cap_v2'}),
    'euler.exponential': ('euler', False, {}, 'exponential'),
    'euler.ays': ('euler', False, {}, 'ays'),
    'euler_a.sched_trailing': ('euler_a', False, {}, 'trailing'),
    'dpmpp_2m.exponential': ('dpmpp_2m', False, {}, 'exponential'),
    'dpmpp_2m.exponential.cosine': ('dpmpp_2m', False, {'beta_schedule': 'squaredcos_cap_v2'},
                                    'exponential'),
    'dpmpp_2m.ays': ('dpmpp_2m', False, {}, 'ays'),
    'ddpm.ays': ('ddpm', False, {}, 'ays'),
    'ddpm.sched_trailing': ('ddpm', False, {}, 'trailing'),
    'dpmpp_2m_sde': ('dpmpp_2m_sde', False, {}),
    'dpmpp_2m_sde.karras': ('dpmpp_2m_sde', True, {}),
    'lms': ('lms', False, {}),
    'lms.karras': ('lms', True, {}),
    'lms.exponential': ('lms', False, {}, 'exponential'),
    'lms.leading': ('lms', False, {'timestep_spacing': 'leading'}),
    'heun': ('heun', False, {}),
    'heun.karras': ('heun', True, {}),
    'heun.ays': ('heun', False, {}, 'ays'),
    'pndm': ('pndm', False, {}),
    'pndm.linspace': ('pndm', False, {'timestep_spacing': 'linspace'}),
    'pndm.sched_trailing': ('pndm', False, {}, 'trailing'),
    # skip_prk_steps false: Runge-Kutta warm-up (PRK_STEPS)
    'pndm.prk': ('pndm', False, {'skip_prk_steps': False}),
    'pndm.prk.linspace': ('pndm', False, {'skip_prk_steps': False, 'timestep_spacing': 'linspace'}),
    'dpm2': ('dpm2', False, {}),
    'dpm2.karras': ('dpm2', True, {}),
    'dpm2.exponential': ('dpm2', False, {}, 'exponential'),
    'dpm2_a': ('dpm2_a', False, {}),
    'dpm2_a.karras': ('dpm2_a', True, {}),
    'dpm2_a.sched_trailing': ('dpm2_a', False, {}, 'trailing'),
    'tcd': ('tcd', False, {}),
    'dpmpp_2s_a': ('dpmpp_2s_a', False, {}),
    'dpmpp_2s_a.karras': ('dpmpp_2s_a', True, {}),
    'dpmpp_sde': ('dpmpp_sde', False, {}),
    'dpmpp_sde.karras': ('dpmpp_sde', True, {}),
    'dpmpp_sde.leading': ('dpmpp_sde', False, {'timestep_spacing': 'leading'}),
    'unipc': ('unipc', False, {}),
    'unipc.karras': ('unipc', True, {}),
    'unipc.karras.cosine': ('unipc', True, {'beta_schedule': 'squaredcos_cap_v2'}),
    'unipc.exponential': ('unipc', False, {}, 'exponential'),
    'deis': ('deis', False, {}),
    'deis.leading': ('deis', False, {'timestep_spacing': 'leading'}),
    'deis.karras': ('deis', True, {}),
    'deis.karras.cosine': ('deis', True, {'beta_schedule': 'squaredcos_cap_v2'}),
    'deis.exponential': ('deis', False, {}, 'exponential'),
    'deis.sched_trailing': ('deis', False, {}, 'trailing'),
}
SCHEDULE_STEPS = [1, 4, 25, 50]
# diffusers' warm-up takes 4 steps or more; 9: 1000 // 9 is odd, so a
# Runge-Kutta step's half level is not the midpoint
PRK_STEPS = [4, 9, 25, 50]


# Sigma schedules (sdcl's --schedule) on top of a variant: name -> what
# from_config gets.  'ays' instead passes the published SD 1.5 timesteps to
# set_timesteps (10 steps only, as diffusers has them).
SCHEDULE_KWARGS = {
    'karras': {'use_karras_sigmas': True},
    'exponential': {'use_exponential_sigmas': True},
    'trailing': {'timestep_spacing': 'trailing'},
    'ays': {},
}
AYS_TIMESTEPS = AysSchedules['StableDiffusionTimesteps']


def make_config(overrides):
    cfg = dict(SD15_PNDM_CONFIG)
    cfg.update(overrides)
    return cfg


def build(sampler, karras, config, schedule=None):
    cls = CLASSES[sampler]
    extra = dict(CLASS_KWARGS.get(sampler, {}))
    if karras:
        extra['use_karras_sigmas'] = True
    extra.update(SCHEDULE_KWARGS.get(schedule, {}))
    return cls.from_config(config, **extra)


def set_timesteps(s, n, schedule=None):
    if schedule == 'ays':
        assert n == len(AYS_TIMESTEPS)
        s.set_timesteps(timesteps=AYS_TIMESTEPS)
    else:
        s.set_timesteps(n)


def step_kwargs(s, g):
    """generator= where step() takes it (pipelines check the signature too)."""
    return {'generator': g} if 'generator' in inspect.signature(s.step).parameters else {}


def split_variant(spec):
    """(sampler, karras, overrides[, schedule]) -> sampler, karras, overrides, schedule"""
    return spec if len(spec) == 4 else spec + (None,)


def has_sigmas(sampler):
    return sampler in ('euler', 'euler_a', 'dpmpp_2m', 'dpmpp_2m_sde', 'lms', 'heun', 'dpm2', 'dpm2_a',
                       'dpmpp_2s_a', 'dpmpp_sde', 'unipc', 'deis')


def schedule_goldens(tensors, entries):
    for variant, spec in SCHEDULE_VARIANTS.items():
        sampler, karras, overrides, schedule = split_variant(spec)
        config = make_config(overrides)
        tensors[f'sched.{variant}.alphas_cumprod'] = build(sampler, karras, config).alphas_cumprod
        prk = overrides.get('skip_prk_steps') is False
        for n in ([len(AYS_TIMESTEPS)] if schedule == 'ays' else PRK_STEPS if prk else SCHEDULE_STEPS):
            s = build(sampler, karras, config, schedule)
            set_timesteps(s, n, schedule)
            prefix = f'sched.{variant}.n{n}'
            tensors[prefix + '.timesteps'] = s.timesteps.to(torch.float32)
            if has_sigmas(sampler):
                # DPM2 holds 2N + 2 levels for 2N - 1 evaluations: the golden
                # keeps one per evaluation plus the next, as for the others
                tensors[prefix + '.sigmas'] = s.sigmas[:len(s.timesteps) + 1]
            tensors[prefix + '.init_noise_sigma'] = torch.tensor([float(s.init_noise_sigma)])
            entry = {'prefix': prefix, 'variant': variant, 'sampler': sampler,
                     'karras': karras, 'steps': n, 'config': config,
                     'has_sigmas': has_sigmas(sampler)}
            if schedule:
                entry['schedule'] = schedule
            entries.append(entry)


# ---- trajectories -------------------------------------------------------------

TRAJ_SHAPE = (1, 4, 8, 6)
TRAJ_STEPS = 4
TRAJ_MODEL_ROWS = 18       # model outputs for the longest trajectory (pndm.prk9)
TRAJ_NOISE_SEED = 1234     # torch generator: initial latents, then step noise
TRAJ_MODEL_SEED = 7        # numpy: the fake model outputs

# name -> (sampler, karras, eta, config overrides)
TRAJ_VARIANTS = {
    'ddim': ('ddim', False, 0.0, {}),
    'ddim.eta1': ('ddim', False, 1.0, {}),
    'ddim.v': ('ddim', False, 0.0, {'prediction_type': 'v_prediction'}),
    'ddim.sample': ('ddim', False, 0.0, {'prediction_type': 'sample'}),
    'euler': ('euler', False, 0.0, {}),
    'euler.leading': ('euler', False, 0.0, {'timestep_spacing': 'leading'}),
    'euler.karras': ('euler', True, 0.0, {}),
    'euler.v': ('euler', False, 0.0, {'prediction_type': 'v_prediction'}),
    'euler.sample': ('euler', False, 0.0, {'prediction_type': 'sample'}),
    'euler_a': ('euler_a', False, 0.0, {}),
    'euler_a.v': ('euler_a', False, 0.0, {'prediction_type': 'v_prediction'}),
    'dpmpp_2m': ('dpmpp_2m', False, 0.0, {}),
    'dpmpp_2m.karras': ('dpmpp_2m', True, 0.0, {}),
    'dpmpp_2m.v': ('dpmpp_2m', False, 0.0, {'prediction_type': 'v_prediction'}),
    'dpmpp_2m.sample': ('dpmpp_2m', False, 0.0, {'prediction_type': 'sample'}),
    'lcm': ('lcm', False, 0.0, {}),
    'lcm.v': ('lcm', False, 0.0, {'prediction_type': 'v_prediction'}),
    'ddpm': ('ddpm', False, 0.0, {}),
    'ddpm.large': ('ddpm', False, 0.0, {'variance_type': 'fixed_large'}),
    'ddpm.small_log': ('ddpm', False, 0.0, {'variance_type': 'fixed_small_log'}),
    'ddpm.v': ('ddpm', False, 0.0, {'prediction_type': 'v_prediction'}),
    'ddpm.sample': ('ddpm', False, 0.0, {'prediction_type': 'sample'}),
    # the fake model's x0 estimates reach far beyond +-1: clipping and
    # thresholding both act
    'ddpm.clip': ('ddpm', False, 0.0, {'clip_sample': True, 'clip_sample_range': 1.5}),
    'ddpm.threshold': ('ddpm', False, 0.0, {'thresholding': True, 'sample_max_value': 2.5,
                                            'dynamic_thresholding_ratio': 0.9}),
    'ddim.clip': ('ddim', False, 0.0, {'clip_sample': True}),
    'ddim.sample.threshold': ('ddim', False, 0.0, {'prediction_type': 'sample',
                                                   'thresholding': True, 'sample_max_value': 2.5,
                                                   'dynamic_thresholding_ratio': 0.9}),
    'euler.exponential': ('euler', False, 0.0, {}, 'exponential'),
    'euler.ays': ('euler', False, 0.0, {}, 'ays'),
    'euler_a.sched_trailing': ('euler_a', False, 0.0, {}, 'trailing'),
    'dpmpp_2m.exponential': ('dpmpp_2m', False, 0.0, {}, 'exponential'),
    'dpmpp_2m.ays': ('dpmpp_2m', False, 0.0, {}, 'ays'),
    'ddpm.ays': ('ddpm', False, 0.0, {}, 'ays'),
    'dpmpp_2m_sde': ('dpmpp_2m_sde', False, 0.0, {}),
    'dpmpp_2m_sde.karras': ('dpmpp_2m_sde', True, 0.0, {}),
    'dpmpp_2m_sde.v': ('dpmpp_2m_sde', False, 0.0, {'prediction_type': 'v_prediction'}),
    'lms': ('lms', False, 0.0, {}),
    'lms.karras': ('lms', True, 0.0, {}),
    'lms.v': ('lms', False, 0.0, {'prediction_type': 'v_prediction'}),
    'lms.trailing': ('lms', False, 0.0, {}, 'trailing'),
    'heun': ('heun', False, 0.0, {}),                 # 4 steps: 7 evaluations
    'heun.karras': ('heun', True, 0.0, {}),
    'heun.v': ('heun', False, 0.0, {'prediction_type': 'v_prediction'}),
    'pndm': ('pndm', False, 0.0, {}),                 # 4 steps: 5 evaluations
    'pndm.v': ('pndm', False, 0.0, {'prediction_type': 'v_prediction'}),
    'pndm.trailing': ('pndm', False, 0.0, {}, 'trailing'),
    'pndm.prk': ('pndm', False, 0.0, {'skip_prk_steps': False}),  # 4 steps: 13 evaluations
    'pndm.prk.v': ('pndm', False, 0.0, {'skip_prk_steps': False, 'prediction_type': 'v_prediction'}),
    'pndm.prk9': ('pndm', False, 0.0, {'skip_prk_steps': False}),  # 9 steps: 18 evaluations
    'dpm2': ('dpm2', False, 0.0, {}),                 # 4 steps: 7 evaluations
    'dpm2.karras': ('dpm2', True, 0.0, {}),
    'dpm2.v': ('dpm2', False, 0.0, {'prediction_type': 'v_prediction'}),
    'dpm2_a': ('dpm2_a', False, 0.0, {}),             # 4 steps: 7 evaluations, 3 draws
    'dpm2_a.karras': ('dpm2_a', True, 0.0, {}),
    'dpm2_a.v': ('dpm2_a', False, 0.0, {'prediction_type': 'v_prediction'}),
    # TCD's gamma is step()'s eta (the pipelines pass theirs)
    'tcd': ('tcd', False, 0.3, {}),
    'tcd.gamma0': ('tcd', False, 0.0, {}),
    'tcd.v': ('tcd', False, 0.3, {'prediction_type': 'v_prediction'}),
    'tcd.sample': ('tcd', False, 1.0, {'prediction_type': 'sample'}),
    'dpmpp_2s_a': ('dpmpp_2s_a', False, 0.0, {}),     # 4 steps: 7 evaluations, 3 draws
    'dpmpp_2s_a.karras': ('dpmpp_2s_a', True, 0.0, {}),
    'dpmpp_2s_a.v': ('dpmpp_2s_a', False, 0.0, {'prediction_type': 'v_prediction'}),
    'dpmpp_sde': ('dpmpp_sde', False, 0.0, {}),       # 4 steps: 7 evaluations, 6 draws
    'dpmpp_sde.karras': ('dpmpp_sde', True, 0.0, {}),
    'dpmpp_sde.v': ('dpmpp_sde', False, 0.0, {'prediction_type': 'v_prediction'}),
    'unipc': ('unipc', False, 0.0, {}),
    'unipc.karras': ('unipc', True, 0.0, {}),
    'unipc.v': ('unipc', False, 0.0, {'prediction_type': 'v_prediction'}),
    'unipc.sample': ('unipc', False, 0.0, {'prediction_type': 'sample'}),
    'unipc.trailing': ('unipc', False, 0.0, {}, 'trailing'),
    'deis': ('deis', False, 0.0, {}),
    'deis.karras': ('deis', True, 0.0, {}),
    'deis.v': ('deis', False, 0.0, {'prediction_type': 'v_prediction'}),
    'deis.sample': ('deis', False, 0.0, {'prediction_type': 'sample'}),
    'deis.exponential': ('deis', False, 0.0, {}, 'exponential'),
    # 16 steps: from 15 on the last step is second order too
    'deis.16': ('deis', False, 0.0, {}),
}


# trajectories of another step count than TRAJ_STEPS
TRAJ_STEPS_OF = {'pndm.prk9': 9, 'deis.16': 16}


def x0_estimate(sampler, scheduler, out, x_before, mo, config):
    """What the C x0_out must hold after the step: the scheduler's own x0;
    for samplers that report none, the x0 their model output gives at the
    level just stepped from (sdcl's preview)."""
    if sampler in ('dpmpp_2m', 'dpmpp_2m_sde', 'unipc'):
        return scheduler.model_outputs[-1]
    if sampler == 'lcm':
        return out.denoised
    pred = config.get('prediction_type')
    if sampler == 'deis':
        # DEIS keeps epsilon re-derived from this x0 (convert_model_output)
        a, s = scheduler._sigma_to_alpha_sigma_t(scheduler.sigmas[scheduler.step_index - 1])
    elif sampler in ('pndm', 'tcd'):
        return None  # the caller computes it at the integer timestep
    else:
        return out.pred_original_sample
    return (a * x_before - s * mo if pred == 'v_prediction'
            else mo if pred == 'sample' else (x_before - s * mo) / a)


def trajectory_goldens(tensors, entries):
    n = int(np.prod(TRAJ_SHAPE))
    rng = np.random.default_rng(TRAJ_MODEL_SEED)
    # numpy fills row by row: the first TRAJ_STEPS rows do not depend on the row count
    model_out = torch.from_numpy(rng.standard_normal((TRAJ_MODEL_ROWS,) + TRAJ_SHAPE,
                                                     dtype=np.float32))
    tensors['traj.model_out'] = model_out.reshape(TRAJ_MODEL_ROWS, n)
    for variant, spec in TRAJ_VARIANTS.items():
        sampler, karras, eta, overrides = spec[:4]
        schedule = spec[4] if len(spec) > 4 else None
        steps = len(AYS_TIMESTEPS) if schedule == 'ays' else TRAJ_STEPS_OF.get(variant, TRAJ_STEPS)
        config = make_config(overrides)
        s = build(sampler, karras, config, schedule)
        set_timesteps(s, steps, schedule)
        g = torch.Generator('cpu').manual_seed(TRAJ_NOISE_SEED)
        x = torch.randn(TRAJ_SHAPE, generator=g) * s.init_noise_sigma
        x_init = x.clone()
        x_in, x_out, x0 = [], [], []
        for i, t in enumerate(s.timesteps):
            scaled = s.scale_model_input(x, t)
            kwargs = step_kwargs(s, g)
            if sampler in ('ddim', 'tcd'):
                kwargs['eta'] = eta
            x_before = x
            out = s.step(model_out[i], t, x, **kwargs)
            x = out.prev_sample
            x_in.append(scaled.flatten())
            x_out.append(x.flatten())
            est = x0_estimate(sampler, s, out, x_before, model_out[i], config)
            if est is None:
                ab = s.alphas_cumprod[int(t)]
                mo = model_out[i]
                pred = config.get('prediction_type')
                est = (ab.sqrt() * x_before - (1 - ab).sqrt() * mo if pred == 'v_prediction'
                       else mo if pred == 'sample' else (x_before - (1 - ab).sqrt() * mo) / ab.sqrt())
            x0.append(est.flatten())
        prefix = f'traj.{variant}'
        tensors[prefix + '.x_init'] = x_init.flatten()
        tensors[prefix + '.x_in'] = torch.stack(x_in)
        tensors[prefix + '.x_out'] = torch.stack(x_out)
        tensors[prefix + '.x0'] = torch.stack(x0)
        entry = {'prefix': prefix, 'sampler': sampler, 'karras': karras, 'eta': eta,
                 'steps': steps, 'config': config, 'noise_seed': TRAJ_NOISE_SEED}
        if schedule:
            entry['schedule'] = schedule
        entries.append(entry)


# ---- add_noise (img2img, docs/diffusion.md §Image to image) ---------------------

# name -> (sampler, karras, inference steps)
ADD_NOISE_VARIANTS = {
    'ddim': ('ddim', False, 25),
    'euler': ('euler', False, 25),
    'euler_a': ('euler_a', False, 25),
    'euler.karras': ('euler', True, 25),
    'dpmpp_2m': ('dpmpp_2m', False, 25),
    'dpmpp_2m.karras': ('dpmpp_2m', True, 25),
    'lcm': ('lcm', False, 4),
    'ddpm': ('ddpm', False, 25),
    'dpmpp_2m_sde': ('dpmpp_2m_sde', False, 25),
    'lms': ('lms', False, 25),
    'heun': ('heun', False, 25),
    'pndm': ('pndm', False, 25),
    'dpm2': ('dpm2', False, 25),
    'dpm2_a': ('dpm2_a', False, 25),
    'tcd': ('tcd', False, 4),
    'dpmpp_2s_a': ('dpmpp_2s_a', False, 25),
    'dpmpp_sde': ('dpmpp_sde', False, 25),
    'unipc': ('unipc', False, 25),
    'deis': ('deis', False, 25),
}
ADD_NOISE_SEED = 8


def add_noise_goldens(tensors, entries):
    rng = np.random.default_rng(ADD_NOISE_SEED)
    x0 = torch.from_numpy(rng.standard_normal(TRAJ_SHAPE, dtype=np.float32))
    noise = torch.from_numpy(rng.standard_normal(TRAJ_SHAPE, dtype=np.float32))
    tensors['add_noise.x0'] = x0.flatten()
    tensors['add_noise.noise'] = noise.flatten()
    config = make_config({})
    for variant, (sampler, karras, n) in ADD_NOISE_VARIANTS.items():
        for index in sorted({0, 1, n // 2, n - 1}):
            s = build(sampler, karras, config)
            s.set_timesteps(n)
            # As StableDiffusionImg2ImgPipeline: timesteps[t_start:], set_begin_index(t_start).
            t = s.timesteps[index:index + 1]
            if hasattr(s, 'set_begin_index'):
                s.set_begin_index(index)
            name = f'add_noise.{variant}.i{index}'
            tensors[name] = s.add_noise(x0, noise, t).flatten()
            entries.append({'name': name, 'sampler': sampler, 'karras': karras, 'steps': n,
                            'index': index, 'config': config})


# ---- img2img: add_noise at the start step, then the remaining steps ----------------

# name -> (sampler, karras); N = 6 steps at strength 0.5 (docs/diffusion.md §Image to image: t_start = 3)
IMG2IMG_VARIANTS = {
    'ddim': ('ddim', False),
    'euler': ('euler', False),
    'euler_a': ('euler_a', False),
    'dpmpp_2m': ('dpmpp_2m', False),
    'dpmpp_2m.karras': ('dpmpp_2m', True),
    'lcm': ('lcm', False),
    'ddpm': ('ddpm', False),
    'dpmpp_2m_sde': ('dpmpp_2m_sde', False),
    'lms': ('lms', False),
    'heun': ('heun', False),
    'pndm': ('pndm', False),
    'pndm.prk': ('pndm', False, {'skip_prk_steps': False}),
    'dpm2': ('dpm2', False),
    'dpm2_a': ('dpm2_a', False),
    'tcd': ('tcd', False),
    'dpmpp_2s_a': ('dpmpp_2s_a', False),
    'dpmpp_sde': ('dpmpp_sde', False),
    'unipc': ('unipc', False),
    'deis': ('deis', False),
}
# step()'s eta where the sampler takes one (TCD's gamma; its default is 0.3)
IMG2IMG_ETA = {'tcd': 0.3}
IMG2IMG_STEPS = 6
IMG2IMG_STRENGTH = 0.5


def img2img_goldens(tensors, entries):
    """StableDiffusionImg2ImgPipeline's schedule handling on fixed latents:
    the generator (seeded noise_seed) only feeds the samplers' step noise."""
    x0, noise = tensors['add_noise.x0'], tensors['add_noise.noise']
    model_out = tensors['traj.model_out']
    n = IMG2IMG_STEPS
    assert n <= TRAJ_MODEL_ROWS
    t_start = n - min(int(n * IMG2IMG_STRENGTH), n)
    for variant, (sampler, karras, *overrides) in IMG2IMG_VARIANTS.items():
        config = make_config(overrides[0] if overrides else {})
        s = build(sampler, karras, config)
        s.set_timesteps(n)
        begin = t_start * s.order  # the pipelines index in model evaluations
        timesteps = s.timesteps[begin:]
        if hasattr(s, 'set_begin_index'):
            s.set_begin_index(begin)
        x = s.add_noise(x0.reshape(TRAJ_SHAPE), noise.reshape(TRAJ_SHAPE), timesteps[:1])
        g = torch.Generator('cpu').manual_seed(TRAJ_NOISE_SEED)
        outs = []
        for k, t in enumerate(timesteps):
            scaled = s.scale_model_input(x, t)
            kwargs = step_kwargs(s, g)
            if variant in IMG2IMG_ETA:
                kwargs['eta'] = IMG2IMG_ETA[variant]
            x = s.step(model_out[k].reshape(TRAJ_SHAPE), t, x, **kwargs).prev_sample
            outs.append(torch.stack([scaled.flatten(), x.flatten()]))
        prefix = f'img2img.{variant}'
        tensors[prefix + '.steps'] = torch.stack(outs)
        entry = {'prefix': prefix, 'sampler': sampler, 'karras': karras, 'steps': n,
                 'begin_index': begin, 'config': config, 'noise_seed': TRAJ_NOISE_SEED}
        if variant in IMG2IMG_ETA:
            entry['eta'] = IMG2IMG_ETA[variant]
        entries.append(entry)


def main(out_dir):
    capability = torch.backends.cpu.get_cpu_capability()
    if capability not in ('AVX2', 'AVX512'):
        sys.exit(f'torch CPU capability {capability}: the randn goldens need the AVX2/AVX512 kernel')
    torch.set_num_threads(1)
    os.makedirs(out_dir, exist_ok=True)
    tensors = {}
    index = {'randn': [], 'schedules': [], 'trajectories': [], 'add_noise': [], 'img2img': []}
    randn_goldens(tensors, index['randn'])
    schedule_goldens(tensors, index['schedules'])
    trajectory_goldens(tensors, index['trajectories'])
    add_noise_goldens(tensors, index['add_noise'])
    img2img_goldens(tensors, index['img2img'])
    save(os.path.join(out_dir, 'sampling.safetensors'), tensors)
    index['generator'] = 'tests/reference/gen_sampling.py'
    index['versions'] = {'torch': torch.__version__, 'diffusers': diffusers.__version__,
                         'torch_cpu_capability': capability}
    index['tensors'] = {
        'randn.<seed>.<n|label>': 'torch.randn(sizes[k], generator=Generator().manual_seed(seed)) '
                                  'for each k, concatenated',
        'sched.<variant>.n<N>.*': 'after set_timesteps(N): timesteps (as F32), sigmas (Euler/DPM), '
                                  'init_noise_sigma [1]',
        'sched.<variant>.alphas_cumprod': '[T] the training schedule',
        'traj.model_out': f'[{TRAJ_MODEL_ROWS}, {int(np.prod(TRAJ_SHAPE))}] fake model outputs (numpy seed '
                          f'{TRAJ_MODEL_SEED}), shared by every trajectory',
        'traj.<variant>.x_init': 'randn(1,4,8,6) from a generator seeded noise_seed, times '
                                 'init_noise_sigma; the same generator then feeds step()',
        'traj.<variant>.x_in|x_out|x0': '[steps, 192] per step: scale_model_input output, step '
                                        'output, x0 estimate (pred_original_sample; LCM denoised; '
                                        'DPM++ converted model output)',
        'add_noise.x0|noise': 'clean latents and noise [192] (numpy seed %d)' % ADD_NOISE_SEED,
        'add_noise.<variant>.i<k>': 'add_noise(x0, noise, timesteps[k:k+1]) after set_timesteps(N) '
                                    'and set_begin_index(k) where the class has it',
        'img2img.<variant>.steps': '[steps run, 2, 192]: per remaining step, the '
                                   'scale_model_input output and the step output; the start '
                                   'latents are add_noise(add_noise.x0, add_noise.noise, '
                                   'timesteps[begin_index]), model outputs traj.model_out rows',
    }
    write_json(os.path.join(out_dir, 'sampling.json'), index)


if __name__ == '__main__':
    main(sys.argv[1] if len(sys.argv) > 1 else DEFAULT_OUT)
