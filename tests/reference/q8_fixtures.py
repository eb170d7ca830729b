"""Step q8 of gen_fixtures.py: golden/pipeline_euler_q8w.{safetensors,json}.

The tiny-sd pipeline (Euler, the settings of pipeline_euler) run by
diffusers in float32 on the weights sdcl's --precision q8 stores: every
matrix of a linear layer or convolution quantized to int8 with one scale
per output channel and widened back (q * scale), vectors (biases, norms)
and the text encoder's embeddings rounded to F16.  An engine that stores
exactly these weights and computes in fp32 must reproduce it to the fp32
tolerance of the other pipeline goldens; the quantization's own effect on
the image is measured against pipeline_euler (F32) in test_q8.c.

The quantizer is sdcl_q8_quantize_row (opencl/weights_q8.c), in float32:
scale = max |row| / 127, q = rint (clamp (w / scale, -127, 127)), rint
rounding half to even as lrintf does.

SPDX-License-Identifier: LGPL-3.0-or-later
"""
import copy

import numpy as np
import torch

import goldens
import pipelines
import tiny_sd

# Read on the host as embeddings (never by a GEMM): F16, as with --precision f16.
HOST_EMBEDDINGS = ('token_embedding.weight', 'position_embedding.weight')


def quantize_rows(w):
    """w (float32 tensor, >= 2 dims) as sdcl's Q8 upload stores it, widened."""
    rows = w.detach().to(torch.float32).reshape(w.shape[0], -1).numpy()
    top = np.abs(rows).max(axis=1).astype(np.float32)
    scale = (top / np.float32(127.0)).astype(np.float32)
    with np.errstate(divide='ignore', invalid='ignore'):
        ratio = (rows / scale[:, None]).astype(np.float32)
    q = np.where(top[:, None] > 0, np.rint(np.clip(ratio, -127.0, 127.0)), 0.0).astype(np.float32)
    return torch.from_numpy((q * scale[:, None]).astype(np.float32)).reshape(w.shape)


def q8_state(module):
    out = {}
    for name, t in module.state_dict().items():
        if not t.is_floating_point():
            out[name] = t
        elif t.dim() >= 2 and not name.endswith(HOST_EMBEDDINGS):
            out[name] = quantize_rows(t)
        else:
            out[name] = t.to(torch.float16).to(torch.float32)
    return out


def q8_components(folder):
    unet, vae, text = tiny_sd.load_folder(folder)
    result = []
    for m in (unet, vae, text):
        m2 = copy.deepcopy(m)
        m2.load_state_dict(q8_state(m2), strict=True)
        result.append(m2)
    return tuple(result)


def write_all(folder, out_dir):
    unet, vae, text = q8_components(folder)
    tok = goldens.load_tokenizer(folder)
    pipelines.write_one((unet, vae, text, tok), 'euler', out_dir, out_name='euler_q8w',
                        model_label='tiny-sd with --precision q8 weights (int8 per output '
                                    'channel, vectors and embeddings F16) widened to F32')
    print('pipeline_euler_q8w written')
