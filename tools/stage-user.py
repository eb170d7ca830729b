#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-3.0-or-later
"""Lays out a per-user install of the GIMP plug-in or the GEGL module from
a build: the folder a user copies into their profile, nothing else to set.

usage: stage-user.py gimp|gegl BUILD_DIR SOURCE_DIR DEST

  gimp  DEST/sdcl-gimp/                  copy into <GIMP profile>/plug-ins/
          sdcl-gimp                      the plug-in (libsdcl linked in)
          locale/<lang>/LC_MESSAGES/sdcl.mo
          data/models/sdcl-demo[-inpaint], data/clip/
  gegl  DEST/ shaped like $XDG_DATA_HOME (~/.local/share):
          gegl-0.4/plug-ins/sdcl-gegl/sdcl-gegl.so, .../locale/...
          sdcl/models/sdcl-demo[-inpaint], sdcl/clip/

The plug-in finds locale/ and data/ beside itself (sdcl_plugin_localedir,
engine/base/data_dirs.c).  The GEGL module finds locale/ beside itself, but its
data goes to $XDG_DATA_HOME/sdcl: GEGL registers every *.json under its
plug-ins folder as an operation, and the models are full of them.

Files are copied with a fresh modification time: GIMP re-queries a plug-in
only when its time changes.  An existing sdcl-gimp / sdcl-gegl folder and
the demo models are replaced; other models in sdcl/models stay.
"""
import os
import shutil
import sys

DEMO_MODELS = ("sdcl-demo", "sdcl-demo-inpaint")


def copy_tree(src, dest):
    shutil.rmtree(dest, ignore_errors=True)
    shutil.copytree(src, dest, copy_function=shutil.copy)


def stage_catalogs(build, dest):
    po = os.path.join(build, "po")
    langs = []
    for lang in sorted(os.listdir(po)) if os.path.isdir(po) else []:
        mo = os.path.join(po, lang, "LC_MESSAGES", "sdcl.mo")
        if os.path.isfile(mo):
            target = os.path.join(dest, "locale", lang, "LC_MESSAGES")
            os.makedirs(target, exist_ok=True)
            shutil.copy(mo, target)
            langs.append(lang)
    if not langs:
        sys.exit(f"stage-user: no catalogs in {po} (build the sdcl-gmo target)")
    return langs


def stage_data(source, dest):
    data = os.path.join(source, "data")
    found = [m for m in DEMO_MODELS if os.path.isdir(os.path.join(data, "models", m))]
    if "sdcl-demo" not in found:
        sys.exit(f"stage-user: the demo model is missing from {data}/models "
                 "(tools/demo-model makes it)")
    for model in found:
        copy_tree(os.path.join(data, "models", model), os.path.join(dest, "models", model))
    copy_tree(os.path.join(data, "clip"), os.path.join(dest, "clip"))
    return found


def need(path, target):
    if not os.path.isfile(path):
        sys.exit(f"stage-user: {path} is not built (ninja -C BUILD {target})")
    return path


def main():
    if len(sys.argv) != 5 or sys.argv[1] not in ("gimp", "gegl"):
        sys.exit(__doc__)
    kind, build, source, dest = sys.argv[1:]
    if kind == "gimp":
        binary = need(os.path.join(build, "plugin", "gimp", "sdcl-gimp"), "plugin/gimp/sdcl-gimp")
        folder = os.path.join(dest, "sdcl-gimp")
        shutil.rmtree(folder, ignore_errors=True)
        os.makedirs(folder)
        shutil.copy(binary, folder)
        langs = stage_catalogs(build, folder)
        models = stage_data(source, os.path.join(folder, "data"))
    else:
        module = need(os.path.join(build, "plugin", "gegl", "sdcl-gegl.so"),
                      "plugin/gegl/sdcl-gegl.so")
        folder = os.path.join(dest, "gegl-0.4", "plug-ins", "sdcl-gegl")
        shutil.rmtree(folder, ignore_errors=True)
        os.makedirs(folder)
        shutil.copy(module, folder)
        langs = stage_catalogs(build, folder)
        models = stage_data(source, os.path.join(dest, "sdcl"))
    print(f"stage-user: {folder} (translations: {', '.join(langs)}; models: {', '.join(models)})")


if __name__ == "__main__":
    main()
