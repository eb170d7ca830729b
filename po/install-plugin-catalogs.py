#!/usr/bin/env python3
"""Install step: copies the installed sdcl.mo catalogs into the GIMP
plug-in's own locale/ folder.  GIMP 3 looks for a plug-in's translations
there (GimpPlugIn::set_i18n takes a folder relative to the plug-in), and the
GIMP 2.10 plug-in prefers it too, so a plug-in folder copied into a user's
profile carries its translations along.

usage: install-plugin-catalogs.py LOCALEDIR PLUGIN_DIR DOMAIN LANG...
"""
import os
import shutil
import sys


def staged(path):
    # Honour DESTDIR for packaging, like meson's own install does.
    destdir = os.environ.get("DESTDIR", "")
    return os.path.join(destdir, path.lstrip(os.sep)) if destdir else path


def main():
    if len(sys.argv) < 5:
        sys.exit(__doc__)
    localedir, plugin_dir, domain, langs = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
    for lang in langs:
        src = staged(os.path.join(localedir, lang, "LC_MESSAGES", domain + ".mo"))
        if not os.path.isfile(src):
            sys.exit(f"install-plugin-catalogs: {src} was not installed")
        dest = staged(os.path.join(plugin_dir, "locale", lang, "LC_MESSAGES"))
        os.makedirs(dest, exist_ok=True)
        shutil.copy2(src, dest)
        print(f"Installing {src} to {dest}")


if __name__ == "__main__":
    main()
