#!/usr/bin/env python3
"""Every translatable message in the sources (po/POTFILES) has a finished
translation in the given .po: extracts a fresh template with xgettext and
lets msgcmp compare (fuzzy and untranslated entries count as missing)."""
import argparse
import os
import subprocess
import sys
import tempfile


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source-root", required=True)
    ap.add_argument("--po", required=True)
    args = ap.parse_args()

    with open(os.path.join(args.source_root, "po", "POTFILES")) as f:
        files = [line.strip() for line in f if line.strip() and not line.startswith("#")]
    # Files listed for other components may not exist yet in a partial tree.
    files = [p for p in files if os.path.exists(os.path.join(args.source_root, p))]
    with tempfile.TemporaryDirectory() as tmp:
        pot = os.path.join(tmp, "sdcl.pot")
        # The keywords of meson's "glib" preset.
        subprocess.run(["xgettext", "--from-code=UTF-8", "--add-comments", "-k_", "-kN_",
                        "-kC_:1c,2", "-kNC_:1c,2", "-kg_dngettext:2,3", "-kg_dpgettext2:2c,3",
                        "--flag=g_strdup_printf:1:c-format", "-D", args.source_root,
                        "-o", pot] + files, check=True)
        r = subprocess.run(["msgcmp", args.po, pot], capture_output=True, text=True)
        sys.stdout.write(r.stdout)
        sys.stderr.write(r.stderr)
        if r.returncode != 0:
            print(f"{args.po}: messages missing, untranslated or fuzzy "
                  f"(run `ninja sdcl-update-po` and translate them)")
            return 1
    print(f"{args.po}: complete ({len(files)} source files)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
