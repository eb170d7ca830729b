#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-3.0-or-later
"""The sdcl GEGL operations inside GIMP 3, as a script drives them.

Installs the GEGL module per user (tools/stage-user.py gegl into a fresh
$XDG_DATA_HOME: no GEGL_PATH, no library path) and runs one gimp-console-3.0
session whose Script-Fu applies sdcl:img2img with
gimp-drawable-merge-new-filter:

  * with an empty prompt the layer is unchanged, pixel for pixel;
  * with a prompt (and the sampler set by its name) it changes: every
    property reaches the operation, which a file-path property would have
    prevented (libgimp 3.0.4 drops the config's properties after one it
    cannot describe).
"""
import argparse
import os
import shutil
import subprocess
import sys

from batch_tests import Checks, read_png
from user_install_tests import clean_env


SCRIPT = r'''
(let* ((image (car (gimp-file-load RUN-NONINTERACTIVE "%(image)s")))
       (layer (vector-ref (car (gimp-image-get-layers image)) 0)))
  (gimp-file-save RUN-NONINTERACTIVE image "%(out)s/before.png" -1)
  (gimp-drawable-merge-new-filter layer "sdcl:img2img" 0 LAYER-MODE-REPLACE 1.0
                                  "prompt" "" "steps" 2)
  (gimp-file-save RUN-NONINTERACTIVE image "%(out)s/empty.png" -1)
  (gimp-drawable-merge-new-filter layer "sdcl:img2img" 0 LAYER-MODE-REPLACE 1.0
                                  "prompt" "a red circle" "steps" 2 "strength" 0.9
                                  "sampler" "euler" "seed" 1)
  (gimp-file-save RUN-NONINTERACTIVE image "%(out)s/prompt.png" -1)
  (gimp-message "SDCL-RESULT done"))
'''


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gimp", required=True)
    ap.add_argument("--build-root", required=True)
    ap.add_argument("--source-root", required=True)
    ap.add_argument("--image", required=True)
    ap.add_argument("--workdir", required=True)
    args = ap.parse_args()

    work = os.path.abspath(args.workdir)
    shutil.rmtree(work, ignore_errors=True)
    out = os.path.join(work, "out")
    os.makedirs(out)
    c = Checks()
    profile = os.path.join(work, "profile")
    staged = subprocess.run([sys.executable,
                             os.path.join(args.source_root, "tools", "stage-user.py"), "gegl",
                             args.build_root, args.source_root,
                             os.path.join(profile, "xdg-data")],
                            capture_output=True, text=True)
    print("# " + (staged.stdout + staged.stderr).strip().replace("\n", "\n# "))
    if not c.ok(staged.returncode == 0, "tools/stage-user.py lays out the GEGL module"):
        print(f"1..{c.count}")
        return 1
    env = clean_env(profile, 3, {"LC_ALL": "C.UTF-8"})
    script = SCRIPT % {"image": args.image, "out": out}
    log_path = os.path.join(work, "gimp.log")
    with open(log_path, "w") as log:
        rc = subprocess.run([args.gimp, "-i", "-d", "-f", "--quit",
                             "--batch-interpreter=plug-in-script-fu-eval", "-b", script],
                            env=env, stdout=log, stderr=subprocess.STDOUT, timeout=900).returncode
    with open(log_path, encoding="utf-8", errors="replace") as f:
        log = f.read()
    print(f"# gimp-console log: {log_path}")
    c.ok(rc == 0, f"gimp-console-3.0 exit status 0 (got {rc})")
    c.ok("SDCL-RESULT done" in log, "the script ran to its end")
    c.ok("unsupported" not in log and "has no property named" not in log,
         "GIMP passes every property of sdcl:img2img to the filter")
    try:
        before, empty, prompt = (read_png(os.path.join(out, n))
                                 for n in ("before.png", "empty.png", "prompt.png"))
        c.ok(before == empty, "an empty prompt leaves the layer unchanged, pixel for pixel")
        c.ok(before[:2] == prompt[:2] and before != prompt, "a prompt redraws the layer")
    except (OSError, ValueError) as e:
        c.ok(False, f"the exported images: {e}")
    print(f"1..{c.count}")
    if c.failed:
        print("\n".join("# " + line for line in log.splitlines()[-30:]))
    return 1 if c.failed else 0


if __name__ == "__main__":
    sys.exit(main())
