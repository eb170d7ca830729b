"""Reference schedulers for samplers diffusers does not have (or has with
noise sdcl cannot reproduce), written from
their published algorithms in diffusers' scheduler form, so the pipelines
and fixture scripts run them like diffusers' own classes.

DPMPP2SAncestralScheduler: k-diffusion's sample_dpmpp_2s_ancestral
(Lu et al. 2022, DPM-Solver++(2S), with ancestral noise; eta 1, s_noise 1):
per step from sigma_i, with sigma_down / sigma_up of the ancestral split
towards sigma_{i+1} and t = -log(sigma):
    denoised = D(x, sigma_i)
    h = t(sigma_down) - t(sigma_i);  sigma_s = exp(-(t(sigma_i) + h/2))
    x_2 = (sigma_s / sigma_i) x - expm1(-h/2) denoised
    denoised_2 = D(x_2, sigma_s)
    x = (sigma_down / sigma_i) x - expm1(-h) denoised_2 + sigma_up z
and a plain Euler step to 0 when sigma_down is 0 (the last step).  diffusers'
DPMSolverSinglestepScheduler is a different sampler (one evaluation per
timestep, no ancestral noise), so this class takes KDPM2Ancestral's
schedule, whose midpoints exp(lerp(log sigma_i, log sigma_down, 1/2)) are
exactly sigma_s, and its bookkeeping (two evaluations per step, the last
step one), and replaces the update.
"""
import importlib.util
import sys
import types

import torch
from diffusers import KDPM2AncestralDiscreteScheduler

# diffusers' DPMSolverSDEScheduler module imports torchsde for its Brownian
# tree, which the reference never builds (GeneratorBrownianNoise replaces
# it); without torchsde installed a stub that refuses use stands in.
if importlib.util.find_spec('torchsde') is None:
    def _no_tree(*a, **kw):
        raise RuntimeError('torchsde is not installed: the Brownian tree is not available')
    sys.modules['torchsde'] = types.SimpleNamespace(BrownianInterval=_no_tree,
                                                    BrownianTree=_no_tree)
from diffusers.schedulers.scheduling_dpmsolver_sde import DPMSolverSDEScheduler  # noqa: E402
from diffusers.schedulers.scheduling_k_dpm_2_ancestral_discrete import (
    KDPM2AncestralDiscreteSchedulerOutput)
from diffusers.utils.torch_utils import randn_tensor


class DPMPP2SAncestralScheduler(KDPM2AncestralDiscreteScheduler):
    def step(self, model_output, timestep, sample, generator=None, return_dict=True):
        if self.step_index is None:
            self._init_step_index(timestep)
        first = self.state_in_first_order
        k = self.step_index if first else self.step_index - 1
        sigma, sigma_s = self.sigmas[k], self.sigmas_interpol[k]
        sigma_up, sigma_down = self.sigmas_up[k], self.sigmas_down[k]
        sigma_in = sigma if first else sigma_s
        if self.config.prediction_type == 'epsilon':
            denoised = sample - sigma_in * model_output
        elif self.config.prediction_type == 'v_prediction':
            denoised = (model_output * (-sigma_in / (sigma_in ** 2 + 1) ** 0.5)
                        + sample / (sigma_in ** 2 + 1))
        else:
            raise NotImplementedError(self.config.prediction_type)
        h = (-torch.log(sigma_down)) - (-torch.log(sigma))
        if first and sigma_s == 0:
            # the last step: Euler to 0
            derivative = (sample - denoised) / sigma
            prev_sample = sample + derivative * (sigma_s - sigma)
        elif first:
            self.sample = sample
            prev_sample = (sigma_s / sigma) * sample - torch.expm1(-h * 0.5) * denoised
        else:
            prev_sample = (sigma_down / sigma) * self.sample - torch.expm1(-h) * denoised
            self.sample = None
            noise = randn_tensor(model_output.shape, dtype=model_output.dtype,
                                 device=model_output.device, generator=generator)
            prev_sample = prev_sample + noise * sigma_up
        self._step_index += 1
        if not return_dict:
            return (prev_sample, denoised)
        return KDPM2AncestralDiscreteSchedulerOutput(prev_sample=prev_sample,
                                                     pred_original_sample=denoised)


CLASSES = {'DPMPP2SAncestralScheduler': DPMPP2SAncestralScheduler}


def scheduler_class(name):
    """diffusers' class of that name, or one of the reference classes."""
    import diffusers
    return CLASSES[name] if name in CLASSES else getattr(diffusers, name)


class GeneratorBrownianNoise:
    """sdcl's stand-in for DPMSolverSDEScheduler's torchsde Brownian tree
    (engine/sampling/step_k.c): the first call of a step, W(sigma_i -> sigma_mid)
    normalised, is a fresh draw z1 from the run's generator; the second,
    over sigma_i -> sigma_{i+1} (same start), is built from z1 and a fresh
    z2 as a Brownian motion would: (sqrt(a) z1 + sqrt(b) z2) / sqrt(a + b)."""

    def __init__(self, generator):
        self.generator = generator
        self.first = None  # (start, end, z1) of a step's first call

    def __call__(self, sigma, sigma_next):
        z = randn_tensor(self.shape, dtype=torch.float32, generator=self.generator)
        if self.first is not None and torch.equal(self.first[0], sigma):
            start, mid, z1 = self.first
            self.first = None
            part = (mid - start).abs()
            total = (sigma_next - start).abs()
            return ((part.sqrt() * z1 + (total - part).sqrt() * z) / total.sqrt())
        self.first = (sigma, sigma_next, z)
        return z


class DPMSolverSDEGeneratorScheduler(DPMSolverSDEScheduler):
    """diffusers' DPMSolverSDEScheduler with GeneratorBrownianNoise as its
    noise sampler (its step() takes the run's generator, so the pipelines
    pass theirs)."""

    def step(self, model_output, timestep, sample, generator=None, return_dict=True):
        if self.noise_sampler is None:
            self.noise_sampler = GeneratorBrownianNoise(generator)
            self.noise_sampler.shape = model_output.shape
        return super().step(model_output, timestep, sample, return_dict=return_dict)


CLASSES['DPMSolverSDEGeneratorScheduler'] = DPMSolverSDEGeneratorScheduler
