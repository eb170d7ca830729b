"""Train the sdcl demo model: a CLIP text encoder, a UNet2DConditionModel and
an AutoencoderKL of the same module types as Stable Diffusion 1.x, small
enough to train on a 2-core CPU, on the procedural shapes of shapes.py.

Phases (each resumable from its checkpoint in --work):
  vae      autoencoder, 64x64 RGB <-> 4x16x16 latents (scale factor 4)
  encode   the training images to latents; sets the VAE scaling factor
  decoder  fine-tunes the VAE decoder alone on the fixed latents (cleaner
           flat backgrounds; the latent space, and so the UNet, is unchanged)
  text     the CLIP text encoder, pretrained to tell a caption's attributes
           (the stand-in for CLIP's contrastive pretraining)
  unet     UNet with the pretrained text encoder frozen (as SD freezes CLIP),
           epsilon prediction, CFG dropout; --joint trains both from scratch
  widen    doubles the width of the trained UNet's first level (32 -> 64
           channels) keeping what it computes; then `unet --resume` again
  inpaint  a 9-channel inpainting UNet fine-tuned from the base UNet
  export   F16 diffusers folders: <out>/sdcl-demo and <out>/sdcl-demo-inpaint

Usage: python train.py --work /tmp/demo-work --out data/models [--phases ...]
Deterministic for a given --seed, thread count (torch.set_num_threads) and --ranks.
"""
import argparse
import copy
import json
import math
import os
import shutil
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import shapes  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
TOKENIZER_DIR = os.path.join(HERE, "..", "..", "tests", "reference", "fixtures", "models", "tiny-sd", "tokenizer")

VAE_CONFIG = dict(in_channels=3, out_channels=3, latent_channels=4, layers_per_block=1,
                  block_out_channels=(16, 32, 64), norm_num_groups=16, sample_size=64,
                  down_block_types=("DownEncoderBlock2D",) * 3, up_block_types=("UpDecoderBlock2D",) * 3)
# The UNet a fresh `unet` phase starts from; block_out_channels come from
# --unet-channels (64,64,128: the first level, 16x16, draws every outline).
UNET_CONFIG = dict(sample_size=16, in_channels=4, out_channels=4, layers_per_block=1,
                   norm_num_groups=32, cross_attention_dim=64, attention_head_dim=4, time_embedding_dim=128,
                   down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
                   up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"))
TEXT_CONFIG = dict(vocab_size=49408, hidden_size=64, intermediate_size=256, num_hidden_layers=4,
                   num_attention_heads=4, max_position_embeddings=77, hidden_act="quick_gelu",
                   projection_dim=64, bos_token_id=49406, eos_token_id=49407, pad_token_id=49407)
SCHEDULER = dict(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                 prediction_type="epsilon", steps_offset=1, clip_sample=False)


def log(*a):
    print(time.strftime("%H:%M:%S"), *a, flush=True)


def dataset(work, n, seed):
    path = os.path.join(work, f"data-{n}-{seed}.npz")
    if os.path.exists(path):
        d = np.load(path, allow_pickle=False)
        return d["images"], list(d["captions"])
    log(f"rendering {n} images")
    images, caps, _ = shapes.make_dataset(n, seed)
    np.savez(path, images=images, captions=np.array(caps))
    return images, caps


def to_tensor(images):
    return torch.from_numpy(images).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)


def foreground_weight(x):
    """10x weight on the shape and its edges: the background is most of every
    image, and an unweighted loss learns it long before the shapes."""
    border = torch.cat([x[:, :, 0, :], x[:, :, -1, :], x[:, :, :, 0], x[:, :, :, -1]], dim=2)
    bg = border.median(dim=2).values[:, :, None, None]
    fg = ((x - bg).abs().sum(dim=1, keepdim=True) > 0.15).float()
    return 1.0 + 9.0 * F.max_pool2d(fg, 5, stride=1, padding=2)


def train_vae(args, images):
    from diffusers import AutoencoderKL
    torch.manual_seed(args.seed)
    vae = AutoencoderKL(**VAE_CONFIG)
    opt = torch.optim.AdamW(vae.parameters(), lr=1e-3, weight_decay=0.0)
    g = torch.Generator().manual_seed(args.seed + 1)
    for step in range(args.vae_steps):
        lr = 1e-3 * min(1.0, (step + 1) / 100) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / args.vae_steps)))
        for group in opt.param_groups:
            group["lr"] = lr
        idx = torch.randint(0, len(images), (args.vae_batch,), generator=g)
        x = to_tensor(images[idx.numpy()])
        post = vae.encode(x).latent_dist
        z = post.sample(generator=g)
        rec = vae.decode(z).sample
        w = foreground_weight(x)
        err = (rec - x).abs() + (rec - x).pow(2)
        loss = (w * err).mean() / w.mean() + 1e-6 * post.kl().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step % 50 == 0 or step == args.vae_steps - 1:
            log(f"vae step {step} loss {loss.item():.4f} lr {lr:.2e}")
    vae.save_pretrained(os.path.join(args.work, "vae"))


@torch.no_grad()
def encode_latents(args, images):
    from diffusers import AutoencoderKL
    vae = AutoencoderKL.from_pretrained(os.path.join(args.work, "vae")).eval()
    out = []
    for i in range(0, len(images), 256):
        out.append(vae.encode(to_tensor(images[i:i + 256])).latent_dist.mean)
    lat = torch.cat(out)
    scale = float(1.0 / lat.std())
    log(f"latents {tuple(lat.shape)} std {lat.std():.4f} -> scaling_factor {scale:.5f}")
    vae.register_to_config(scaling_factor=scale)
    vae.save_pretrained(os.path.join(args.work, "vae"))
    torch.save(lat * scale, os.path.join(args.work, "latents.pt"))


def train_decoder(args):
    """Fine-tunes post_quant_conv + decoder on the stored latents, with a
    little latent noise so that the UNet's imperfect latents decode clean.
    The encoder is untouched, so latents.pt and the UNet stay valid."""
    from diffusers import AutoencoderKL
    torch.manual_seed(args.seed + 8)
    tuned = os.path.join(args.work, "vae-decoder")
    vae = AutoencoderKL.from_pretrained(tuned if args.resume else os.path.join(args.work, "vae"))
    scale = vae.config.scaling_factor
    lat = torch.load(os.path.join(args.work, "latents.pt"))
    images = np.load(os.path.join(args.work, f"data-{args.images}-{args.seed}.npz"))["images"]
    params = list(vae.post_quant_conv.parameters()) + list(vae.decoder.parameters())
    opt = torch.optim.AdamW(params, lr=3e-4, weight_decay=0.0)
    g = torch.Generator().manual_seed(args.seed + 9)
    for step in range(args.decoder_steps):
        for group in opt.param_groups:
            group["lr"] = lr_at(step, args.decoder_steps, 3e-4)
        idx = torch.randint(0, len(lat), (16,), generator=g)
        z = lat[idx] + 0.05 * torch.randn(lat[idx].shape, generator=g)
        rec = vae.decode(z / scale).sample
        x = to_tensor(images[idx.numpy()])
        w = 1.0 + 0.3 * (foreground_weight(x) - 1.0)  # 1 + 3 x shape
        err = (rec - x).abs() + (rec - x).pow(2)
        loss = (w * err).mean() / w.mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step % 50 == 0 or step == args.decoder_steps - 1:
            log(f"decoder step {step} loss {loss.item():.4f}")
        if (step + 1) % 500 == 0 or step == args.decoder_steps - 1:
            vae.save_pretrained(os.path.join(args.work, "vae-decoder"))


def tokenize(tok, caps):
    return tok(caps, padding="max_length", max_length=77, truncation=True, return_tensors="pt").input_ids


class Ema:
    def __init__(self, modules, decay):
        self.decay = decay
        self.shadow = [copy.deepcopy(m).eval().requires_grad_(False) for m in modules]

    @torch.no_grad()
    def update(self, modules, step):
        d = min(self.decay, (1 + step) / (10 + step))
        for s, m in zip(self.shadow, modules):
            for ps, pm in zip(s.parameters(), m.parameters()):
                ps.mul_(d).add_(pm.detach(), alpha=1 - d)


def diffusion_loss(unet, cond, sched, lat, g, extra=None, focus_t=None, snr_floor=0.0):
    """Epsilon-prediction loss with min-SNR(5) weighting and a little offset
    noise (flat backgrounds need the mean colour to be learnable).

    In x0 terms the epsilon loss weighs step t by its SNR, which at t near
    1000 is ~0.005: where the caption decides the layout, the loss barely
    cares whether the layout is right.  snr_floor > 0 raises that weight to
    at least snr_floor (x0 loss weight clamp(SNR, snr_floor, 5))."""
    b = lat.shape[0]
    noise = torch.randn(lat.shape, generator=g) + 0.1 * torch.randn(b, lat.shape[1], 1, 1, generator=g)
    t = torch.randint(0, 1000, (b,), generator=g)
    if focus_t:
        # Half the batch in [lo, hi): high noise is where the caption decides
        # the layout, mid noise where it decides the outline.
        hi = torch.randint(focus_t[0], focus_t[1], (b,), generator=g)
        t = torch.where(torch.arange(b) % 2 == 0, hi, t)
    noisy = sched.add_noise(lat, noise, t)
    inp = noisy if extra is None else torch.cat([noisy, extra], dim=1)
    pred = unet(inp, t, cond).sample
    ac = sched.alphas_cumprod[t]
    snr = ac / (1 - ac)
    w = torch.clamp(snr, min=snr_floor, max=5.0) / snr
    return (w * (pred - noise).pow(2).mean(dim=(1, 2, 3))).mean()


def lr_at(step, total, base):
    return base * min(1.0, (step + 1) / 200) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / total)))


ATTRIBUTE_CLASSES = (("size", list(shapes.SIZES)), ("color", list(shapes.COLORS)), ("shape", shapes.SHAPES),
                     ("position", list(shapes.POSITIONS)), ("background", shapes.BACKGROUNDS))


def caption_labels(cap):
    """Class per attribute for a caption of shapes.caption(); 0 = not said."""
    words = cap.split()
    labels = []
    for name, values in ATTRIBUTE_CLASSES:
        label = 0
        if name == "position":
            for i, v in enumerate(values):
                if f"in the {v}" in cap:
                    label = i + 1
        elif name == "background":
            if words[-1:] == ["background"]:
                label = values.index(words[-2]) + 1
        else:  # size, colour, shape: words before " on a ... background"
            head = cap.split(" on a ")[0].split()
            for i, v in enumerate(values):
                if v in head:
                    label = i + 1
        labels.append(label)
    return labels


def train_text(args, caps):
    """Pretrains the text encoder so that every token from the end-of-text
    token on (the padding included: SD's encoder sees no attention mask)
    tells each attribute of the caption.  A linear probe per attribute is
    the training head and is thrown away.  Without this, a text encoder
    learnt only through the diffusion loss barely separated captions after
    3500 steps (the UNet drew the right colour, shape and position at
    chance); with it, cross-attention reads the prompt like class labels."""
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer
    torch.manual_seed(args.seed + 6)
    tok = CLIPTokenizer.from_pretrained(TOKENIZER_DIR)
    unique = sorted(set(caps)) + [""]
    ids = tokenize(tok, unique)
    labels = torch.tensor([caption_labels(c) if c else [0] * len(ATTRIBUTE_CLASSES) for c in unique])
    eos = (ids == TEXT_CONFIG["eos_token_id"]).int().argmax(dim=1)
    after_eos = torch.arange(ids.shape[1])[None, :] >= eos[:, None]
    text = CLIPTextModel(CLIPTextConfig(**TEXT_CONFIG))
    heads = torch.nn.ModuleList([torch.nn.Linear(TEXT_CONFIG["hidden_size"], len(v) + 1)
                                 for _, v in ATTRIBUTE_CLASSES])
    opt = torch.optim.AdamW(list(text.parameters()) + list(heads.parameters()), lr=1e-3, weight_decay=0.01)
    g = torch.Generator().manual_seed(args.seed + 7)
    for step in range(args.text_steps):
        for group in opt.param_groups:
            group["lr"] = lr_at(step, args.text_steps, 1e-3)
        idx = torch.randint(0, len(unique), (128,), generator=g)
        h = text(ids[idx]).last_hidden_state
        mask = after_eos[idx].float()
        loss, right = 0.0, []
        for a, head in enumerate(heads):
            logits = head(h)  # [b, 77, classes]
            target = labels[idx, a][:, None].expand(-1, h.shape[1])
            ce = F.cross_entropy(logits.flatten(0, 1), target.flatten(), reduction="none").view_as(mask)
            loss = loss + (ce * mask).sum() / mask.sum()
            right.append(((logits.argmax(-1) == target).float() * mask).sum() / mask.sum())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step % 100 == 0 or step == args.text_steps - 1:
            log(f"text step {step} loss {loss.item():.4f} accuracy " +
                " ".join(f"{n} {r.item():.3f}" for (n, _), r in zip(ATTRIBUTE_CLASSES, right)))
    text.save_pretrained(os.path.join(args.work, "text_encoder"))


def train_unet(args, caps):
    """The UNet phase; with --ranks N > 1, N data-parallel processes of
    --threads/N threads each share every batch.  On this 2-core machine the
    UNet's ops are small enough that two 1-thread processes train ~1.4x as
    many samples a second as one 2-thread process."""
    if args.ranks <= 1:
        return train_unet_rank(0, args, caps, None)
    if args.joint:
        sys.exit("--joint trains in one process only (--ranks 1)")
    import socket
    import torch.multiprocessing as mp
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.spawn(train_unet_rank, args=(args, caps, f"tcp://127.0.0.1:{port}"), nprocs=args.ranks, join=True)


def train_unet_rank(rank, args, caps, rendezvous):
    from diffusers import DDPMScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer
    parallel = rendezvous is not None
    if parallel:
        import torch.distributed as dist
        torch.set_num_threads(max(1, args.threads // args.ranks))
        dist.init_process_group("gloo", init_method=rendezvous, rank=rank, world_size=args.ranks)
    torch.manual_seed(args.seed + 2)
    tok = CLIPTokenizer.from_pretrained(TOKENIZER_DIR)
    lat = torch.load(os.path.join(args.work, "latents.pt"))
    text_path = os.path.join(args.work, "text_encoder")
    if args.joint and not args.resume:
        text = CLIPTextModel(CLIPTextConfig(**TEXT_CONFIG))
    else:
        text = CLIPTextModel.from_pretrained(text_path)
    if args.resume:
        unet = UNet2DConditionModel.from_pretrained(os.path.join(args.work, "unet"))
    else:
        unet = UNet2DConditionModel(**UNET_CONFIG, block_out_channels=args.unet_channels)
    text.requires_grad_(args.joint)
    model = unet
    if parallel:
        # Same initial weights on every rank (broadcast from rank 0), gradients
        # averaged: the ranks' weights stay identical, each sees its own samples.
        model = torch.nn.parallel.DistributedDataParallel(unet)
    sched = DDPMScheduler(**SCHEDULER)
    ids_all = tokenize(tok, caps)
    empty = tokenize(tok, [""])[0]
    trained = [unet, text] if args.joint else [unet]
    params = [p for m in trained for p in m.parameters()]
    groups = [{"params": list(unet.parameters()), "scale": 1.0}]
    if args.joint:
        # Learnt only through the diffusion loss, the text encoder gets a weak
        # signal (the caption matters at high noise): a larger step.
        groups.append({"params": list(text.parameters()), "scale": args.text_lr_scale})
    opt = torch.optim.AdamW(groups, lr=args.lr, weight_decay=0.01)
    ema = Ema(trained, 0.999) if rank == 0 else None
    g = torch.Generator().manual_seed(args.seed + 3 + 1000 * rank)
    batch = args.batch // args.ranks
    t0 = time.time()
    for step in range(args.unet_steps):
        for group in opt.param_groups:
            group["lr"] = lr_at(step, args.unet_steps, args.lr) * group["scale"]
        idx = torch.randint(0, len(lat), (batch,), generator=g)
        ids = ids_all[idx].clone()
        if args.wrong_caption_rate > 0:
            # Another image's caption: see --wrong-caption-rate.
            wrong = torch.rand(batch, generator=g) < args.wrong_caption_rate
            ids[wrong] = ids_all[torch.randint(0, len(lat), (int(wrong.sum()),), generator=g)]
        drop = torch.rand(batch, generator=g) < 0.1
        ids[drop] = empty
        with torch.set_grad_enabled(args.joint):
            cond = text(ids).last_hidden_state
        loss = diffusion_loss(model, cond, sched, lat[idx], g, focus_t=args.focus_t, snr_floor=args.snr_floor)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        last = step == args.unet_steps - 1 or step + 1 == args.stop_at
        if rank == 0:
            ema.update(trained, step)
            if step % 50 == 0 or step == args.unet_steps - 1:
                log(f"unet step {step} loss {loss.item():.4f} ({(time.time() - t0) / (step + 1):.2f} s/step)")
            if (step + 1) % 500 == 0 or last:
                ema.shadow[0].save_pretrained(os.path.join(args.work, "unet"))
                if args.joint:
                    ema.shadow[1].save_pretrained(text_path)
                log(f"saved EMA weights at step {step + 1}")
        if last:
            break
    if parallel:
        dist.destroy_process_group()


def widened_value(name, old, new_shape, gen, level0_attention):
    """One parameter of the widened UNet from the old one.  An axis that
    grew is a level-0 channel axis: output axes (and 1-D parameters) copy
    each old channel into two neighbours; input axes split each old weight
    into two halves that sum to it (plus/minus a little noise, so that the
    copies can part while training: the pair sees the same input, so the
    sum is what counts).  An input axis that grew by less than double is a
    concatenation [features that kept their width, skip that doubled]."""
    if tuple(old.shape) == tuple(new_shape):
        return old.clone()
    w = old
    for axis in range(old.dim()):
        o, n = old.shape[axis], new_shape[axis]
        if o == n:
            continue
        keep = o - (n - o)  # 0 when the whole axis doubled
        head, tail = w.narrow(axis, 0, keep), w.narrow(axis, keep, o - keep)
        tail = tail.repeat_interleave(2, dim=axis)
        if axis == 1 and old.dim() >= 2:
            noise = 0.05 * tail.std() * torch.randn(tail.narrow(axis, 0, tail.shape[axis] // 2).shape, generator=gen)
            sign = torch.tensor([1.0, -1.0]).repeat(tail.shape[axis] // 2)
            shape = [1] * tail.dim()
            shape[axis] = -1
            tail = tail / 2 + noise.repeat_interleave(2, dim=axis) * sign.view(shape)
        w = torch.cat([head, tail], dim=axis)
    if level0_attention and name.endswith(("attn1.to_q.weight", "attn2.to_q.weight")):
        # Head width doubles with each query and key entry copied: the
        # dot product doubles while its 1/sqrt(d) scale shrinks by sqrt(2).
        w = w / math.sqrt(2.0)
    return w


def widen_unet(args):
    """Net2Net-style widening of the UNet's first level (16x16 latents, where
    the outline is drawn) from 32 to 64 channels, keeping the function: the
    trained UNet's knowledge is kept and the new width only adds capacity.
    Exact but for two kinds of block, which training absorbs: the first
    resnet of level 1 (32 -> 64 channels had a 1x1 shortcut convolution; at
    64 -> 64 diffusers' resnet has an identity shortcut), and the two
    up-block resnets whose input concatenates a 64-channel feature with a
    level-0 skip (their GroupNorm groups mix the two differently once the
    skip doubles)."""
    from diffusers import UNet2DConditionModel
    old = UNet2DConditionModel.from_pretrained(os.path.join(args.work, "unet"))
    cfg = dict(old.config)
    c0 = cfg["block_out_channels"][0]
    cfg["block_out_channels"] = [2 * c0] + list(cfg["block_out_channels"][1:])
    cfg["time_embedding_dim"] = cfg.get("time_embedding_dim") or 4 * c0
    new = UNet2DConditionModel.from_config(cfg)
    gen = torch.Generator().manual_seed(args.seed + 10)
    old_sd, new_sd = old.state_dict(), new.state_dict()
    out = {}
    for name, target in new_sd.items():
        src = old_sd[name]
        if name == "time_embedding.linear_1.weight":
            # Sinusoidal features [cos f_0..f_{h-1}, sin ...] with f_j =
            # 10000^(-j/h): at twice the width, feature 2j has the old
            # feature j's frequency; the in-between ones start unused.
            h = src.shape[1] // 2
            w = torch.zeros(target.shape)
            w[:, 0:2 * h:2], w[:, 2 * h::2] = src[:, :h], src[:, h:]
            out[name] = w
            continue
        level0 = name.startswith(("down_blocks.0.attentions", f"up_blocks.{len(cfg['block_out_channels']) - 1}.attentions"))
        out[name] = widened_value(name, src, target.shape, gen, level0)
    new.load_state_dict(out)
    x = torch.randn(4, cfg["in_channels"], 16, 16, generator=gen)
    t = torch.tensor([50, 300, 600, 950])
    cond = torch.randn(4, 77, cfg["cross_attention_dim"], generator=gen)
    with torch.no_grad():
        a, b = old(x, t, cond).sample, new(x, t, cond).sample
    log(f"widened first level {c0} -> {2 * c0}: {sum(p.numel() for p in old.parameters())} -> "
        f"{sum(p.numel() for p in new.parameters())} parameters; output change rms {(a - b).pow(2).mean().sqrt():.4f} "
        f"of {a.pow(2).mean().sqrt():.4f}")
    new.save_pretrained(os.path.join(args.work, "unet"))


def random_masks(n, images_attrs_boxes, g):
    """Half rectangles anywhere, a third boxes around the shape, the rest
    the whole image (so the 9-channel model can still draw from nothing)."""
    m = torch.zeros(n, 1, 64, 64)
    for i in range(n):
        r = torch.rand(1, generator=g).item()
        if r < 0.15:
            m[i] = 1
            continue
        if r < 0.55 and images_attrs_boxes is not None:
            x0, y0, x1, y1 = images_attrs_boxes[i]
        else:
            w, h = torch.randint(12, 48, (2,), generator=g).tolist()
            x0, y0 = torch.randint(0, 64 - w, (1,), generator=g).item(), torch.randint(0, 64 - h, (1,), generator=g).item()
            x1, y1 = x0 + w, y0 + h
        m[i, :, y0:y1, x0:x1] = 1
    return m


def shape_boxes(images):
    """Bounding box (with margin) of pixels that differ from the border colour."""
    boxes = []
    for img in images:
        border = np.median(np.concatenate([img[0], img[-1], img[:, 0], img[:, -1]]), axis=0)
        diff = np.abs(img.astype(np.int32) - border).sum(axis=2) > 60
        ys, xs = np.nonzero(diff)
        if len(xs) == 0:
            boxes.append((16, 16, 48, 48))
            continue
        boxes.append((max(0, xs.min() - 4), max(0, ys.min() - 4), min(64, xs.max() + 5), min(64, ys.max() + 5)))
    return boxes


def train_inpaint(args, images, caps):
    from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTokenizer
    torch.manual_seed(args.seed + 4)
    tok = CLIPTokenizer.from_pretrained(TOKENIZER_DIR)
    vae = AutoencoderKL.from_pretrained(os.path.join(args.work, "vae")).eval().requires_grad_(False)
    text = CLIPTextModel.from_pretrained(os.path.join(args.work, "text_encoder")).eval().requires_grad_(False)
    base = UNet2DConditionModel.from_pretrained(os.path.join(args.work, "unet"))
    cfg = dict(base.config)
    cfg["in_channels"] = 9
    unet = UNet2DConditionModel.from_config(cfg)
    sd = base.state_dict()
    w = torch.zeros(unet.conv_in.weight.shape)
    w[:, :4] = sd["conv_in.weight"]
    sd["conv_in.weight"] = w
    unet.load_state_dict(sd)
    lat_all = torch.load(os.path.join(args.work, "latents.pt"))
    scale = vae.config.scaling_factor
    sched = DDPMScheduler(**SCHEDULER)
    ids_all = tokenize(tok, caps)
    empty = tokenize(tok, [""])[0]
    opt = torch.optim.AdamW(unet.parameters(), lr=args.lr * 0.5, weight_decay=0.01)
    ema = Ema([unet], 0.998)
    g = torch.Generator().manual_seed(args.seed + 5)
    t0 = time.time()
    for step in range(args.inpaint_steps):
        for group in opt.param_groups:
            group["lr"] = lr_at(step, args.inpaint_steps, args.lr * 0.5)
        idx = torch.randint(0, len(lat_all), (args.batch,), generator=g)
        imgs = images[idx.numpy()]
        x = to_tensor(imgs)
        mask = random_masks(args.batch, shape_boxes(imgs), g)
        with torch.no_grad():
            masked = vae.encode(x * (mask < 0.5)).latent_dist.mean * scale
        mask_lat = F.interpolate(mask, size=(16, 16))
        ids = ids_all[idx].clone()
        ids[torch.rand(args.batch, generator=g) < 0.1] = empty
        with torch.no_grad():
            cond = text(ids).last_hidden_state
        loss = diffusion_loss(unet, cond, sched, lat_all[idx], g, extra=torch.cat([mask_lat, masked], dim=1),
                              snr_floor=args.snr_floor)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(unet.parameters(), 1.0)
        opt.step()
        ema.update([unet], step)
        if step % 50 == 0 or step == args.inpaint_steps - 1:
            log(f"inpaint step {step} loss {loss.item():.4f} ({(time.time() - t0) / (step + 1):.2f} s/step)")
        if (step + 1) % 250 == 0 or step == args.inpaint_steps - 1:
            ema.shadow[0].save_pretrained(os.path.join(args.work, "unet-inpaint"))


def export(args):
    from diffusers import (AutoencoderKL, DDIMScheduler, StableDiffusionInpaintPipeline, StableDiffusionPipeline,
                           UNet2DConditionModel)
    from transformers import CLIPTextModel, CLIPTokenizer
    tok = CLIPTokenizer.from_pretrained(TOKENIZER_DIR)
    decoder = os.path.join(args.work, "vae-decoder")
    vae = AutoencoderKL.from_pretrained(decoder if os.path.exists(decoder) else os.path.join(args.work, "vae"))
    text = CLIPTextModel.from_pretrained(os.path.join(args.work, "text_encoder"))
    sched = DDIMScheduler(**SCHEDULER, set_alpha_to_one=False)
    for name, sub, cls in (("sdcl-demo", "unet", StableDiffusionPipeline),
                           ("sdcl-demo-inpaint", "unet-inpaint", StableDiffusionInpaintPipeline)):
        path = os.path.join(args.work, sub)
        if not os.path.exists(path):
            log(f"skip {name}: no {path}")
            continue
        unet = UNet2DConditionModel.from_pretrained(path)
        pipe = cls(vae=vae, text_encoder=text, tokenizer=tok, unet=unet, scheduler=sched, safety_checker=None,
                   feature_extractor=None, requires_safety_checker=False)
        pipe.to(torch.float16)
        out = os.path.join(args.out, name)
        pipe.save_pretrained(out, safe_serialization=True)
        # transformers 5 writes only tokenizer.json; loaders that read the
        # classic CLIP files (sdcl among them) want vocab.json and merges.txt.
        for f in ("vocab.json", "merges.txt", "special_tokens_map.json"):
            shutil.copy(os.path.join(TOKENIZER_DIR, f), os.path.join(out, "tokenizer", f))
        log(f"exported {out}")


def int_tuple(value):
    """'64,64,128' -> (64, 64, 128)"""
    return tuple(int(x) for x in value.split(","))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", required=True)
    ap.add_argument("--out", default=os.path.join(HERE, "..", "..", "data", "models"))
    ap.add_argument("--phases", default="vae,encode,decoder,text,unet,inpaint,export")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--images", type=int, default=50000)
    ap.add_argument("--vae-steps", type=int, default=3000)
    ap.add_argument("--vae-batch", type=int, default=8)
    ap.add_argument("--decoder-steps", type=int, default=2000)
    ap.add_argument("--text-steps", type=int, default=1500)
    ap.add_argument("--unet-steps", type=int, default=3500)
    ap.add_argument("--inpaint-steps", type=int, default=600)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=6e-4)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--unet-channels", type=int_tuple, default=(64, 64, 128),
                    metavar="C0,C1,C2", help="unet phase from scratch: channels of the three levels")
    ap.add_argument("--ranks", type=int, default=1,
                    help="unet phase: data-parallel processes sharing --threads and each batch")
    ap.add_argument("--stop-at", type=int, default=0, help="unet phase: stop after this step (schedule unchanged)")
    ap.add_argument("--resume", action="store_true",
                    help="unet phase: start from the saved EMA weights; decoder phase: from vae-decoder")
    ap.add_argument("--text-lr-scale", type=float, default=1.0, help="unet phase with --joint")
    ap.add_argument("--joint", action="store_true",
                    help="unet phase: train the text encoder with the UNet (the first recipe) instead of freezing it")
    ap.add_argument("--high-t", dest="focus_t", action="store_const", const=(600, 1000),
                    help="unet phase: half of each batch at t >= 600 (= --focus-t 600,1000)")
    ap.add_argument("--focus-t", type=int_tuple, metavar="LO,HI",
                    help="unet phase: half of each batch at LO <= t < HI")
    ap.add_argument("--wrong-caption-rate", type=float, default=0.0,
                    help="unet phase: share of captions swapped for another image's, so that where the noisy "
                         "latent already shows the image (img2img, the kept area in inpainting) the UNet trusts "
                         "it over a prompt that contradicts it")
    ap.add_argument("--snr-floor", type=float, default=0.0,
                    help="unet/inpaint phases: least x0-loss weight of a step (see diffusion_loss)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    os.makedirs(args.work, exist_ok=True)
    phases = args.phases.split(",")
    images, caps = dataset(args.work, args.images, args.seed)
    if "vae" in phases:
        train_vae(args, images)
    if "encode" in phases:
        encode_latents(args, images)
    if "decoder" in phases:
        train_decoder(args)
    if "text" in phases:
        train_text(args, caps)
    if "widen" in phases:
        widen_unet(args)
    if "unet" in phases:
        train_unet(args, caps)
    if "inpaint" in phases:
        train_inpaint(args, images, caps)
    if "export" in phases:
        export(args)


if __name__ == "__main__":
    main()
