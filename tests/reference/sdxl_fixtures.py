"""SDXL goldens (gen_fixtures.py step `sdxl`; README.md §SDXL fixtures).

Writes (under fixtures/):
    models/tiny-sdxl{,-turbo,-inpaint}/          diffusers folders (tiny_sdxl.py)
    models/tiny-sdxl-sgm-f16.safetensors         single file, SGM names, F16
    models/tiny-sdxl-inpaint-sgm-f16.safetensors the same of tiny-sdxl-inpaint
    golden/sdxl_text.*                           the text path on its own
    golden/sdxl_<run>.safetensors (+ .json)      pipelines, see RUNS

Pipelines are instrumented as sd2_fixtures.py does (every randn draw must be
the next torch.randn of its shape from a fresh generator).
"""
import os

import numpy as np
import torch

import edit_fixtures
import goldens
import pipelines
import scheduling_reference
import sd2_fixtures
import tiny_sdxl

PROMPT = 'a red circle'
NEGATIVE = 'blurry'
WIDTH, HEIGHT = 48, 64
SEED = 1234

_T2I = dict(kind='txt2img', steps=4, guidance=5.0, prompt=PROMPT, negative=NEGATIVE)
_EDIT = dict(_T2I, steps=8, model='tiny-sdxl')
_IMG2IMG = dict(_EDIT, kind='img2img', strength=0.75)
_INPAINT = dict(_EDIT, kind='inpaint', strength=1.0)

# Every sampler sdcl has (engine/sampling/sampler_table.c; the C test fails
# on one without a run here), each with the scheduler class and from_config
# kwargs of the SD 1.x goldens (pipelines._schedulers(), of which
# sd2_fixtures._CLASSES is the part SD 2.x uses): sdcl's name is the key.
SAMPLERS = ('euler', 'euler_a', 'ddim', 'dpmpp_2m', 'lcm', 'ddpm', 'dpmpp_2m_sde', 'lms', 'heun',
            'pndm', 'dpm2', 'dpm2_a', 'tcd', 'dpmpp_2s_a', 'dpmpp_sde', 'unipc', 'deis')
# run sampler key -> (sdcl sampler, sdcl schedule): the keys that are not
# sdcl sampler names are schedules of one (sdcl_sampler_from_name /
# sdcl_schedule_from_name read these in the test)
_SCHEDULED = {'dpmpp_2m_karras': ('dpmpp_2m', 'karras'),
              'dpmpp_2m_sde_karras': ('dpmpp_2m_sde', 'karras'),
              'euler_ays': ('euler', 'ays')}
# Align Your Steps runs diffusers' published SDXL timesteps (10 steps).
_PIPELINE_TIMESTEPS = {'euler_ays': 'StableDiffusionXLTimesteps'}

RUNS = {
    **{'txt2img_' + s: dict(_T2I, model='tiny-sdxl', sampler=s) for s in SAMPLERS + tuple(_SCHEDULED)},
    # no negative prompt: force_zeros_for_empty_prompt makes it zeros
    'txt2img_euler_noneg': dict(_T2I, model='tiny-sdxl', sampler='euler', negative=None),
    'txt2img_euler_empty': dict(_T2I, model='tiny-sdxl', sampler='euler', prompt='', negative=None),
    # diffusers' clip_skip 1: hidden_states[-3] of both towers for the prompt
    # (the negative prompt keeps hidden_states[-2]); sdcl's --clip-skip 2
    'txt2img_euler_clip_skip': dict(_T2I, model='tiny-sdxl', sampler='euler', clip_skip=1),
    'turbo_1step': dict(_T2I, model='tiny-sdxl-turbo', sampler='euler', steps=1, guidance=0.0, negative=None),
    'turbo_4step': dict(_T2I, model='tiny-sdxl-turbo', sampler='euler', steps=4, guidance=0.0, negative=None),
    # every edit in a multistep and an ancestral sampler too (the ancestral
    # one draws noise in every step, after the VAE's posterior sample)
    'img2img_euler_0.75': dict(_IMG2IMG, sampler='euler'),
    'img2img_dpmpp_2m_0.75': dict(_IMG2IMG, sampler='dpmpp_2m'),
    'img2img_euler_a_0.75': dict(_IMG2IMG, sampler='euler_a'),
    'inpaint4_ddim': dict(_INPAINT, sampler='ddim'),
    'inpaint4_dpmpp_2m': dict(_INPAINT, sampler='dpmpp_2m'),
    'inpaint4_euler_a': dict(_INPAINT, sampler='euler_a'),
    'inpaint9_ddim': dict(_INPAINT, model='tiny-sdxl-inpaint', sampler='ddim'),
    'inpaint9_dpmpp_2m': dict(_INPAINT, model='tiny-sdxl-inpaint', sampler='dpmpp_2m'),
    'inpaint9_euler_a': dict(_INPAINT, model='tiny-sdxl-inpaint', sampler='euler_a'),
}

# The runs the C test also makes from a model folder's SGM single file
# (the same values as the folder, F16 in both): from tiny-sdxl's one per
# sampler family and per edit kind, from tiny-sdxl-inpaint's every run.
# The Turbo runs are made from tiny-sdxl's by the test with
# SDCL_VARIANT_TURBO.
SINGLE_FILES = {'tiny-sdxl': 'tiny-sdxl-sgm-f16.safetensors',
                'tiny-sdxl-inpaint': 'tiny-sdxl-inpaint-sgm-f16.safetensors'}
SINGLE_FILE_RUNS = ('txt2img_euler', 'txt2img_dpmpp_2m_karras', 'txt2img_euler_a', 'txt2img_heun',
                    'txt2img_dpmpp_sde', 'txt2img_unipc', 'txt2img_pndm', 'txt2img_lcm',
                    'img2img_dpmpp_2m_0.75', 'inpaint4_ddim', 'inpaint4_euler_a',
                    'inpaint9_ddim', 'inpaint9_dpmpp_2m', 'inpaint9_euler_a')

# The pipeline's eta where a sampler's run sets one (pipelines.PIPELINE_ETA:
# TCD's gamma).
_ETA = pipelines.PIPELINE_ETA

SGM_YAML = """model:
  target: sgm.models.diffusion.DiffusionEngine
  params:
    scale_factor: 0.13025
    network_config:
      target: sgm.modules.diffusionmodules.openaimodel.UNetModel
      params:
        adm_in_channels: 56
        num_classes: sequential
        in_channels: {in_channels}
        out_channels: 4
        model_channels: 32
        attention_resolutions: [2, 1]
        num_res_blocks: 1
        channel_mult: [1, 1, 1]
        num_head_channels: 16
        use_linear_in_transformer: True
        transformer_depth: [0, 1, 2]
        context_dim: 16
"""

_RANDN = {
    'diffusers.pipelines.stable_diffusion_xl.pipeline_stable_diffusion_xl': 'pipeline',
    'diffusers.pipelines.stable_diffusion_xl.pipeline_stable_diffusion_xl_img2img': 'pipeline',
    'diffusers.pipelines.stable_diffusion_xl.pipeline_stable_diffusion_xl_inpaint': 'pipeline',
    # the samplers SD 2.x's runs do not use (pipelines._RANDN_MODULES)
    'diffusers.schedulers.scheduling_ddpm': 'scheduler_step',
    'diffusers.schedulers.scheduling_k_dpm_2_ancestral_discrete': 'scheduler_step',
    'diffusers.schedulers.scheduling_tcd': 'scheduler_step',
    'scheduling_reference': 'scheduler_step',
}


def sdcl_sampler(key):
    """(sdcl sampler name, sdcl schedule name) of a run's sampler key."""
    return _SCHEDULED.get(key, (key, 'default'))


def _ays_timesteps(sampler):
    if sampler not in _PIPELINE_TIMESTEPS:
        return None
    from diffusers.schedulers.scheduling_utils import AysSchedules
    return [int(t) for t in AysSchedules[_PIPELINE_TIMESTEPS[sampler]]]


def write_models(models_dir):
    from safetensors.torch import save_file
    tiny_sdxl.write_folders(models_dir)
    for model, fn in SINGLE_FILES.items():
        c, _ = tiny_sdxl.load(models_dir, model)
        sgm = tiny_sdxl.to_sgm(c['unet'], c['vae'], c['text_encoder'], c['text_encoder_2'])
        path = os.path.join(models_dir, fn)
        save_file(sgm, path, metadata={'format': 'pt'})
        # SGM's inference yaml beside the file says the head width (SDXL: 64;
        # these UNets' heads are 16 wide)
        with open(path[:-len('.safetensors')] + '.yaml', 'w', encoding='utf-8') as f:
            f.write(SGM_YAML.format(in_channels=c['unet'].config.in_channels))
        check_single_file(path, os.path.join(models_dir, model), c)
        print('sdxl: %s, %d tensors, UNet %d parameters, in_channels %d, %d bytes'
              % (fn, len(sgm), sum(p.numel() for p in c['unet'].parameters()),
                 c['unet'].config.in_channels, os.path.getsize(path)))


def check_single_file(path, folder, c):
    """diffusers' single-file loader must read the folder's values back.
    Its OpenCLIP conversion does not load bigG towers this narrow (every
    text_encoder_2 tensor comes back different), so the second encoder is
    checked by sdcl's own goldens on the single file instead."""
    import diffusers
    cls = getattr(diffusers, tiny_sdxl.MODELS[os.path.basename(folder)][1])
    pipe = cls.from_single_file(path, config=folder, local_files_only=True, torch_dtype=torch.float32)
    for name in ('unet', 'vae', 'text_encoder'):
        mine, ref = getattr(pipe, name).state_dict(), c[name].state_dict()
        assert mine.keys() == ref.keys(), (name, set(mine) ^ set(ref))
        for k in ref:
            assert torch.equal(mine[k].float(), ref[k].float()), (name, k)
    print('sdxl single-file round trip: diffusers from_single_file reproduces %s' % os.path.basename(folder))


def _pipe(kind, c, sched_cfg, sampler):
    import diffusers
    cls_name, extra = pipelines._schedulers()[sampler]
    sched = scheduling_reference.scheduler_class(cls_name).from_config(sched_cfg, **extra)
    cls = {'txt2img': diffusers.StableDiffusionXLPipeline,
           'img2img': diffusers.StableDiffusionXLImg2ImgPipeline,
           'inpaint': diffusers.StableDiffusionXLInpaintPipeline}[kind]
    pipe = cls(scheduler=sched, force_zeros_for_empty_prompt=True, add_watermarker=False, **c)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def text_golden(models_dir, out_dir):
    """Both encoders' penultimate states, their concatenation, the pooled
    vector, and the UNet's add embedding of pooled + time ids."""
    c, sched = tiny_sdxl.load(models_dir, 'tiny-sdxl')
    pipe = _pipe('txt2img', c, sched, 'euler')
    t = {}
    with torch.no_grad():
        for i, (tok, enc) in enumerate(((c['tokenizer'], c['text_encoder']),
                                        (c['tokenizer_2'], c['text_encoder_2']))):
            ids = tok([PROMPT, NEGATIVE], padding='max_length', max_length=77, truncation=True,
                      return_tensors='pt').input_ids
            out = enc(ids, output_hidden_states=True)
            t['ids_%d' % (i + 1)] = ids.to(torch.float32)
            t['penultimate_%d' % (i + 1)] = out.hidden_states[-2]
        t['pooled'] = out.text_embeds
        pe, ne, pp, npool = pipe.encode_prompt(PROMPT, device='cpu', num_images_per_prompt=1,
                                              do_classifier_free_guidance=True, negative_prompt=NEGATIVE)
        t['context'] = torch.cat([ne, pe])
        t['pooled_cfg'] = torch.cat([npool, pp])
        # batch 1 there, batch 2 here: equal up to float rounding
        assert torch.allclose(pe, torch.cat([t['penultimate_1'][:1], t['penultimate_2'][:1]], dim=-1),
                              rtol=0, atol=1e-5)
        assert torch.allclose(pp, t['pooled'][:1], rtol=0, atol=1e-5)
        time_ids = torch.tensor([[HEIGHT, WIDTH, 0, 0, HEIGHT, WIDTH]], dtype=torch.float32)
        unet = c['unet']
        te = unet.add_time_proj(time_ids.flatten()).reshape(1, -1)
        t['time_ids'] = time_ids
        t['add_embedding'] = unet.add_embedding(torch.cat([pp, te], dim=-1))
    goldens.save(os.path.join(out_dir, 'sdxl_text.safetensors'), t)
    goldens.write_json(os.path.join(out_dir, 'sdxl_text.json'), {
        'prompts': [PROMPT, NEGATIVE],
        'tensors': {
            'ids_1, ids_2': '[2,77] tokenizer / tokenizer_2 ids (pad 49407 / 0) as float32',
            'penultimate_1, penultimate_2': '[2,77,8] hidden_states[-2] of each encoder (no final LayerNorm)',
            'pooled': '[2,8] text_encoder_2 text_embeds: text_projection(final LayerNorm at the EOS token)',
            'context': '[2,77,16] encode_prompt [negative, positive], the two concatenated',
            'pooled_cfg': '[2,8] encode_prompt pooled [negative, positive]',
            'time_ids': '[1,6] original (h, w), crop (top, left), target (h, w) for %dx%d' % (WIDTH, HEIGHT),
            'add_embedding': '[1,128] unet.add_embedding(cat(pooled positive, add_time_proj(time_ids)))',
        },
    })
    print('sdxl_text: pooled mean %.4f, add embedding mean %.4f'
          % (float(t['pooled'].mean()), float(t['add_embedding'].mean())))


def run_one(name, run, models_dir, images, out_dir):
    c, sched_cfg = tiny_sdxl.load(models_dir, run['model'])
    pipe = _pipe(run['kind'], c, sched_cfg, run['sampler'])
    eta = _ETA.get(run['sampler'], 0.0)
    timesteps = _ays_timesteps(run['sampler'])
    steps = dict(timesteps=timesteps) if timesteps else dict(num_inference_steps=run['steps'])
    kw = dict(prompt=run['prompt'], negative_prompt=run['negative'], **steps, eta=eta,
              guidance_scale=run['guidance'], generator=torch.Generator('cpu').manual_seed(SEED),
              output_type='np', callback_on_step_end_tensor_inputs=['latents'])
    if run.get('clip_skip'):
        kw['clip_skip'] = run['clip_skip']
    init, mask = images
    if run['kind'] == 'txt2img':
        kw.update(height=HEIGHT, width=WIDTH)
    elif run['kind'] == 'img2img':
        kw.update(image=init, strength=run['strength'])
    else:
        kw.update(image=init, mask_image=mask, height=HEIGHT, width=WIDTH, strength=run['strength'])
    saved = sd2_fixtures._RANDN_MODULES
    sd2_fixtures._RANDN_MODULES = dict(saved, **_RANDN)
    try:
        with sd2_fixtures.Recorder(pipe) as rec:
            kw['callback_on_step_end'] = rec.on_step_end
            out = pipe(**kw)
    finally:
        sd2_fixtures._RANDN_MODULES = saved
    g = torch.Generator('cpu').manual_seed(SEED)
    for kind, t in rec.draws:
        assert torch.equal(t, torch.randn(t.shape, generator=g, dtype=torch.float32)), (name, kind)
    cfg_on = run['guidance'] > 1.0
    assert all(x.shape[0] == (2 if cfg_on else 1) for x, _ in rec.unet_in), name
    sched = pipe.scheduler
    tensors = {
        'timesteps': sched.timesteps.to(torch.float32),
        'final_latents': rec.latents[-1],
        'image': torch.from_numpy(np.ascontiguousarray(out.images[0])),
    }
    if run['kind'] != 'txt2img':
        tensors['init_image'] = torch.from_numpy(np.asarray(init, dtype=np.float32) / 255.0)
    if run['kind'] == 'inpaint':
        tensors['mask'] = torch.from_numpy((np.asarray(mask, dtype=np.float32) / 255.0 >= 0.5)
                                           .astype(np.float32))
    goldens.save(os.path.join(out_dir, 'sdxl_%s.safetensors' % name), tensors)
    goldens.write_json(os.path.join(out_dir, 'sdxl_%s.json' % name), {
        'model': run['model'], 'kind': run['kind'], 'pipeline_class': type(pipe).__name__,
        'prompt': run['prompt'], 'negative_prompt': run['negative'],
        'force_zeros_for_empty_prompt': True,
        'sdcl_sampler': sdcl_sampler(run['sampler'])[0], 'sdcl_schedule': sdcl_sampler(run['sampler'])[1],
        'steps': len(timesteps) if timesteps else run['steps'], 'pipeline_timesteps': timesteps,
        'guidance_scale': run['guidance'], 'classifier_free_guidance': cfg_on,
        'strength': run.get('strength'), 'seed': SEED, 'diffusers_clip_skip': run.get('clip_skip'),
        'generator': 'torch.Generator("cpu").manual_seed(seed)',
        'width': WIDTH, 'height': HEIGHT, 'eta': eta,
        'add_time_ids': [HEIGHT, WIDTH, 0, 0, HEIGHT, WIDTH],
        'scheduler_class': type(sched).__name__,
        'scheduler_from_config_kwargs': pipelines._schedulers()[run['sampler']][1],
        'scheduler_config': edit_fixtures._sched_config(sched),
        'timesteps': [float(x) for x in sched.timesteps],
        'unet_batch': int(rec.unet_in[0][0].shape[0]),
        'unet_evaluations': len(rec.unet_in),
        'draw_order': [{'index': i, 'kind': k, 'shape': list(t.shape)} for i, (k, t) in enumerate(rec.draws)],
        'tensors': sorted(tensors),
    })
    print('sdxl_%s: timesteps %s, unet batch %d, %d draws, image mean %.4f'
          % (name, [round(float(x), 3) for x in sched.timesteps], rec.unet_in[0][0].shape[0],
             len(rec.draws), float(tensors['image'].mean())))


def write_index(out_dir):
    """golden/sdxl_runs.json: the runs the C test iterates (it checks every
    sdcl sampler has a txt2img run among them); `single_files` names each
    model folder's single file, which a run marked `single_file` is also
    made from."""
    goldens.write_json(os.path.join(out_dir, 'sdxl_runs.json'), {
        'single_files': SINGLE_FILES,
        'runs': [{'golden': 'sdxl_' + name, 'model': run['model'], 'kind': run['kind'],
                  'sampler': sdcl_sampler(run['sampler'])[0], 'schedule': sdcl_sampler(run['sampler'])[1],
                  'single_file': name in SINGLE_FILE_RUNS}
                 for name, run in RUNS.items()],
    })


def write_all(fixtures, only_runs=None):
    models = os.path.join(fixtures, 'models')
    golden = os.path.join(fixtures, 'golden')
    assert set(SINGLE_FILE_RUNS) <= set(RUNS), set(SINGLE_FILE_RUNS) - set(RUNS)
    assert all(RUNS[r]['model'] in SINGLE_FILES for r in SINGLE_FILE_RUNS)
    write_models(models)
    text_golden(models, golden)
    images = edit_fixtures.load_pictures(os.path.join(fixtures, 'images'))
    for name, run in RUNS.items():
        if only_runs is None or name in only_runs:
            run_one(name, run, models, images, golden)
    write_index(golden)
