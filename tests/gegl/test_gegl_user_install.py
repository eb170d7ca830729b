#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-3.0-or-later
"""The per-user install of the GEGL module, as a user gets it.

Lays out $XDG_DATA_HOME with tools/stage-user.py (what `tools/install-user.sh
gegl` copies to ~/.local/share): the module with its catalogs in
gegl-0.4/plug-ins/sdcl-gegl, the demo model in sdcl/.  Then a GEGL program
(gegl-user-probe) runs with that XDG_DATA_HOME and nothing else: no
GEGL_PATH, no LD_LIBRARY_PATH, no SDCL_* variable, under a real
de_DE.UTF-8 and ko_KR.UTF-8 locale (localedef into a private LOCPATH when
the system lacks one).  It must find the operations, show their titles and
menu labels translated from the copied catalogs, and render Text to Image
with the demo model at its native size (64x64); with an empty prompt, a
transparent image at once.

usage: test_gegl_user_install.py PROBE BUILD_ROOT SOURCE_ROOT WORKDIR
"""
import gettext
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "gimp"))
from user_install_tests import Checks, make_locale  # noqa: E402

TITLE = "Stable Diffusion: Text to Image Filter"
LABEL = "_Text to Image Filter…"


def main():
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    probe, build, source, work = sys.argv[1:]
    work = os.path.abspath(work)
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    c = Checks()
    xdg = os.path.join(work, "xdg-data")
    staged = subprocess.run([sys.executable, os.path.join(source, "tools", "stage-user.py"),
                             "gegl", build, source, xdg], capture_output=True, text=True)
    print("# " + (staged.stdout + staged.stderr).strip().replace("\n", "\n# "))
    if not c.ok(staged.returncode == 0, "tools/stage-user.py lays out the GEGL module"):
        print(f"1..{c.count}")
        return 1
    folder = os.path.join(xdg, "gegl-0.4", "plug-ins", "sdcl-gegl")
    ldd = subprocess.run(["ldd", os.path.join(folder, "sdcl-gegl.so")],
                         capture_output=True, text=True).stdout
    c.ok("libsdcl" not in ldd and "not found" not in ldd,
         "the module needs no libsdcl.so and every library it needs is found (ldd)")
    catalogs = os.path.join(folder, "locale")

    base = {k: v for k, v in os.environ.items()
            if not k.startswith(("SDCL_", "LC_", "GEGL_")) and
            k not in ("LD_LIBRARY_PATH", "LANGUAGE", "LANG", "LOCPATH")}
    base.update(XDG_DATA_HOME=xdg, XDG_CACHE_HOME=os.path.join(work, "cache"),
                GEGL_SWAP=os.path.join(work, "swap"))
    for territory, lang in (("de_DE", "de"), ("ko_KR", "ko")):
        extra, reason = make_locale(territory, work)
        if reason:
            c.skip(f"[{lang}] the module under {territory}.UTF-8", reason)
            continue
        tr = gettext.translation("sdcl", catalogs, [lang])
        for prompt, steps in (("a red circle", "2"), ("", "2")):
            tag = f"[{lang}{', no prompt' if not prompt else ''}]"
            p = subprocess.run([probe, prompt, steps], env=dict(base, **extra),
                               capture_output=True, text=True, timeout=600)
            out = p.stdout
            print("# " + (out + p.stderr[-2000:]).strip().replace("\n", "\n# "))
            ops = {m.group(1): m.groups()[1:] for m in
                   re.finditer(r'op (\S+) has=(\d) title="([^"]*)" label="([^"]*)"', out)}
            c.ok(all(ops.get(o, ("0",))[0] == "1" for o in ("sdcl:txt2img", "sdcl:img2img",
                                                           "sdcl:inpaint")),
                 f"{tag} the three operations are found")
            title, label = ops.get("sdcl:txt2img", ("0", "", ""))[1:]
            want_title, want_label = tr.gettext(TITLE), tr.gettext(LABEL)
            c.ok(want_title != TITLE and title == want_title,
                 f"{tag} the title is translated ({title!r}, want {want_title!r})")
            c.ok(want_label != LABEL and label == want_label,
                 f"{tag} the GIMP menu label is translated ({label!r}, want {want_label!r})")
            m = re.search(r"render w=(\d+) h=(\d+) max-alpha=(\S+)", out)
            c.ok(m is not None and (m.group(1), m.group(2)) == ("64", "64"),
                 f"{tag} Text to Image renders at the demo model's native size 64x64 "
                 f"({m.groups() if m else 'no render'})")
            opaque = m is not None and float(m.group(3)) > 0
            c.ok(opaque if prompt else (m is not None and not opaque),
                 f"{tag} " + ("the demo model drew an image" if prompt
                              else "an empty prompt gives a transparent image"))
    print(f"1..{c.count}")
    return 1 if c.failed else 0


if __name__ == "__main__":
    sys.exit(main())
