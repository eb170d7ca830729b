"""How strongly a demo model's UNet follows a caption, matching or not.

    python caption_response.py MODEL_DIR [MODEL_DIR ...]

For 128 freshly drawn training-distribution images, noised to several
timesteps, prints in clean-latent units (root mean square):
  cond      the error of the clean latent predicted with the image's caption
  diff      how far the prediction with that caption is from the prediction
            with the empty caption (what classifier-free guidance multiplies)
  mismatch  the same with another image's caption: how hard the UNet pulls
            towards a prompt that contradicts what the noisy latent shows
            (img2img and the kept area of masked inpainting are that case)
"""
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import shapes  # noqa: E402
import train  # noqa: E402

N = 128
TIMESTEPS = (100, 300, 500, 700, 900)


@torch.no_grad()
def main():
    from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTokenizer
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    torch.set_num_threads(2)
    images, caps, _ = shapes.make_dataset(N, seed=4321)
    others = caps[1:] + caps[:1]
    tok = CLIPTokenizer.from_pretrained(train.TOKENIZER_DIR)
    sched = DDPMScheduler(**train.SCHEDULER)
    g = torch.Generator().manual_seed(7)
    noise = torch.randn((N, 4, 16, 16), generator=g)
    rms = lambda a: a.pow(2).mean().sqrt().item()  # noqa: E731
    for path in sys.argv[1:]:
        vae = AutoencoderKL.from_pretrained(os.path.join(path, "vae")).float().eval()
        unet = UNet2DConditionModel.from_pretrained(os.path.join(path, "unet")).float().eval()
        text = CLIPTextModel.from_pretrained(os.path.join(path, "text_encoder")).float().eval()
        x0 = vae.encode(train.to_tensor(images)).latent_dist.mean * vae.config.scaling_factor
        emb = {k: text(train.tokenize(tok, c)).last_hidden_state
               for k, c in (("cond", caps), ("mismatch", others), ("empty", [""] * N))}
        print(path)
        for t in TIMESTEPS:
            tt = torch.full((N,), t)
            xt = sched.add_noise(x0, noise, tt)
            ac = sched.alphas_cumprod[t]
            to_x0 = ((1 - ac) / ac).sqrt().item()  # an epsilon error in clean-latent units
            eps = {k: unet(xt, tt, e).sample for k, e in emb.items()}
            print(f"  t={t:3d}  cond {to_x0 * rms(eps['cond'] - noise):.3f}"
                  f"  diff {to_x0 * rms(eps['cond'] - eps['empty']):.3f}"
                  f"  mismatch {to_x0 * rms(eps['mismatch'] - eps['empty']):.3f}")


if __name__ == "__main__":
    main()
