#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-3.0-or-later
"""Per-op profile of one UNet evaluation in PyTorch (fp32, 2 threads), to set
beside sdcl's `SDCL_PROFILE=ops sdcl-bench ... --no-vae` (BENCHMARKS.md,
"Per op, sdcl next to PyTorch").

    tests/reference/.venv/bin/python tools/profile-torch-unet.py FOLDER/unet \
        [--latent 64] [--batch 1] [--reps 2] [--profile]

FOLDER is a diffusers checkpoint, e.g. one written by sdcl-mkmodel --layout
diffusers.  Prints the wall time per evaluation, then with --profile the
ops by self CPU time, alone and by input shape."""
import argparse
import time

import torch
from diffusers import UNet2DConditionModel


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("unet")
    ap.add_argument("--latent", type=int, default=64)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--profile", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    unet = UNet2DConditionModel.from_pretrained(a.unet, torch_dtype=torch.float32).eval()
    g = torch.Generator().manual_seed(0)
    x = torch.randn(a.batch, unet.config.in_channels, a.latent, a.latent, generator=g)
    ctx = torch.randn(a.batch, 77, unet.config.cross_attention_dim, generator=g)
    t = torch.tensor([500] * a.batch)
    with torch.no_grad():
        unet(x, t, ctx)  # warm-up
        times = []
        for _ in range(a.reps):
            t0 = time.perf_counter()
            unet(x, t, ctx)
            times.append(time.perf_counter() - t0)
        print("wall per evaluation:", " ".join("%.3f s" % v for v in times), flush=True)
        if a.profile:
            from torch.profiler import ProfilerActivity, profile
            with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
                unet(x, t, ctx)
            print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=25))
            print(prof.key_averages(group_by_input_shape=True).table(
                sort_by="self_cpu_time_total", row_limit=60, max_name_column_width=40,
                max_shapes_column_width=90))


if __name__ == "__main__":
    main()
