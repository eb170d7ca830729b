#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-3.0-or-later
"""The per-user install of the GIMP plug-in, as a user gets it.

Lays out the plug-in folder with tools/stage-user.py (what
tools/install-user.sh copies), puts it alone into a fresh GIMP profile and
starts gimp-console the way a desktop menu does: no LD_LIBRARY_PATH, no
SDCL_* variable, nothing pointing at the build or the source tree.  Under
a real de_DE.UTF-8 and ko_KR.UTF-8 locale (generated with localedef into a
private LOCPATH when the system lacks it) it checks that

  * the folder needs no libsdcl.so (ldd) and holds catalogs and demo model;
  * GIMP registers every procedure of the plug-in;
  * the plug-in speaks the locale: an error made inside the plug-in
    process arrives translated, and the menu label is the catalog's (GIMP
    3.0: as the PDB reports it; GIMP 2.10 translates labels itself, with
    the catalog folder the plug-in registered: that folder must be the
    copied one and translate the label);
  * Text to Image with no model named runs the demo model found beside the
    plug-in, at the model's native size (64x64) when no size is given.
"""
import argparse
import gettext
import os
import re
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
PROCEDURES = ("plug-in-sdcl-txt2img", "plug-in-sdcl-img2img", "plug-in-sdcl-inpaint",
              "plug-in-sdcl-outpaint", "plug-in-sdcl-release-memory")
BAD_MODEL = "/nonexistent/sdcl-model"
LOCALES = (("de_DE", "de"), ("ko_KR", "ko"))


class Checks:
    def __init__(self):
        self.count = 0
        self.failed = 0

    def ok(self, cond, what):
        self.count += 1
        print(("ok %d - " if cond else "not ok %d - ") % self.count + what)
        self.failed += 0 if cond else 1
        return cond

    def skip(self, what, reason):
        self.count += 1
        print("ok %d - %s # SKIP %s" % (self.count, what, reason))


def system_has_locale(name):
    try:
        out = subprocess.run(["locale", "-a"], capture_output=True, text=True).stdout
    except OSError:
        return False
    want = name.lower().replace("-", "")
    return any(line.strip().lower().replace("-", "") == want for line in out.splitlines())


def make_locale(territory, work):
    """Environment additions for a real <territory>.UTF-8 locale, or a
    reason why there is none: the system's when it has it, else one made
    with localedef into a private folder (LOCPATH; no root needed)."""
    name = territory + ".UTF-8"
    if system_has_locale(name):
        return {"LC_ALL": name}, None
    locpath = os.path.join(work, "locales")
    os.makedirs(locpath, exist_ok=True)
    try:
        proc = subprocess.run(["localedef", "-i", territory, "-f", "UTF-8",
                               os.path.join(locpath, name)], capture_output=True, text=True)
    except OSError as e:
        return None, f"no {name} locale and localedef cannot run ({e})"
    if proc.returncode not in (0, 1):  # 1: made, with warnings
        return None, (f"no {name} locale and localedef failed (install the locales package): "
                      + proc.stderr.strip()[-200:])
    return {"LC_ALL": name, "LOCPATH": locpath}, None


def clean_env(profile, api, extra):
    """The environment a desktop launcher gives GIMP: nothing of ours."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("SDCL_") and k not in ("LD_LIBRARY_PATH", "LANGUAGE", "LANG",
                                                      "DISPLAY", "GEGL_PATH", "LOCPATH")
           and not k.startswith("LC_")}
    env["GIMP2_DIRECTORY" if api == 2 else "GIMP3_DIRECTORY"] = profile
    for var, sub in (("XDG_CONFIG_HOME", "xdg-config"), ("XDG_DATA_HOME", "xdg-data"),
                     ("XDG_CACHE_HOME", "xdg-cache")):
        env[var] = os.path.join(profile, sub)
    env.update(extra)
    return env


SCRIPT_COMMON = r'''
(define (sd-report . xs) (gimp-message (apply string-append "SDCL-RESULT " xs)))
(define (sd-bool v) (if (sd-true? v) "1" "0"))
(for-each (lambda (p) (sd-report "registered " p "=" (sd-bool (car (sd-exists p)))))
          (list %(procs)s))
(catch (sd-report "badmodel failed=1")
  (let* ((image (sd-load "%(image)s")) (src (car (sd-layers image))))
    (sd-img2img image src "%(bad)s" "x" 1)
    (sd-report "badmodel failed=0")))
(catch (sd-report "demo status=error")
  (let* ((image (sd-load "%(image)s")) (src (car (sd-layers image)))
         (r (sd-txt2img image src "" "a red circle" 3 0 0)))
    (sd-report "demo status=ok w=" (number->string (sd-width (car r)))
               " h=" (number->string (sd-height (car r))))))
(sd-report "done ok=1")
'''


def script_for(api, image):
    with open(os.path.join(HERE, "gimp%d.scm" % api)) as f:
        prelude = f.read()
    if api == 2:
        exists = "(define (sd-exists p) (gimp-procedural-db-proc-exists p))\n"
    else:
        exists = "(define (sd-exists p) (gimp-pdb-procedure-exists p))\n"
    body = SCRIPT_COMMON % {"procs": " ".join('"%s"' % p for p in PROCEDURES),
                            "image": image, "bad": BAD_MODEL}
    return "(begin\n" + prelude + exists + body + "\n)"


# GIMP 3.0's Script-Fu cannot read a procedure's menu label or paths;
# Python can.  The paths show the [sdcl-N] sections that order the menu.
PYTHON_LABELS = """
from gi.repository import Gimp
for name in %r:
    proc = Gimp.get_pdb().lookup_procedure(name)
    print("SDCL-RESULT menu-" + name + ' label="' + proc.get_menu_label() + '" paths="'
          + ",".join(proc.get_menu_paths()) + '"', flush=True)
""" % (PROCEDURES,)


def run_gimp(args, env, script, log_path, interpreter="plug-in-script-fu-eval"):
    if args.api == 2:
        cmd = [args.gimp, "-i", "-d", "-f", "-b", script, "-b", "(gimp-quit 0)"]
    else:
        cmd = [args.gimp, "-i", "-d", "-f", "--quit",
               "--batch-interpreter=" + interpreter, "-b", script]
    with open(log_path, "w") as log:
        try:
            rc = subprocess.run(cmd, env=env, stdout=log, stderr=subprocess.STDOUT,
                                timeout=args.timeout).returncode
        except subprocess.TimeoutExpired:
            rc = None
    with open(log_path, encoding="utf-8", errors="replace") as f:
        return rc, f.read(16 << 20)


def results(log):
    found = {}
    for m in re.finditer(r"SDCL-RESULT (\S+) (.*)", log):
        fields = found.setdefault(m.group(1), {})
        for kv in re.finditer(r"([\w.-]+)=(\"[^\"]*\"|\S+)", m.group(2)):
            fields[kv.group(1)] = kv.group(2).strip('"')
    return found


def check_folder(c, folder):
    binary = os.path.join(folder, "sdcl-gimp")
    ldd = subprocess.run(["ldd", binary], capture_output=True, text=True).stdout
    c.ok("libsdcl" not in ldd and "not found" not in ldd,
         "the plug-in needs no libsdcl.so and every library it needs is found (ldd)")
    for lang in ("de", "ko"):
        c.ok(os.path.isfile(os.path.join(folder, "locale", lang, "LC_MESSAGES", "sdcl.mo")),
             f"the folder carries the {lang} catalog")
    c.ok(os.path.isfile(os.path.join(folder, "data", "models", "sdcl-demo", "model_index.json")),
         "the folder carries the demo model")


def check_session(c, args, api, lang, log, rc, catalog_dir, profile):
    tag = f"[{lang}]"
    r = results(log)
    if api == 3:
        c.ok(rc == 0, f"{tag} gimp-console-3.0 exit status 0 (got {rc})")
    c.ok("done" in r, f"{tag} the batch script ran to its end")
    reg = r.get("registered", {})
    for proc in PROCEDURES:
        c.ok(reg.get(proc) == "1", f"{tag} {proc} is registered")
    tr = gettext.translation("sdcl", catalog_dir, [lang])
    message = tr.gettext('The model "%s" does not exist.')
    c.ok(message != 'The model "%s" does not exist.', f"{tag} the catalog translates the error")
    c.ok(r.get("badmodel", {}).get("failed") == "1", f"{tag} a missing model fails")
    c.ok(message.replace("%s", BAD_MODEL) in log,
         f"{tag} the plug-in's error arrives translated: {message!r}")
    label = tr.gettext("_Text to Image…")
    c.ok(label != "_Text to Image…", f"{tag} the catalog translates the menu label")
    if api == 3:
        got = r.get("menu-plug-in-sdcl-txt2img", {}).get("label")
        c.ok(got == label, f"{tag} the PDB's menu label is the translation ({got!r}, want {label!r})")
        # The menu order: Text to Image, Image to Image, Inpaint, Release.
        paths = [r.get("menu-" + p, {}).get("paths") for p in PROCEDURES]
        want = ["<Image>/Filters/Generative/[sdcl-%d]" % (i + 1) for i in range(len(PROCEDURES))]
        c.ok(paths == want, f"{tag} the menu paths carry the sections that order them ({paths})")
    else:
        # GIMP 2.10 translates labels in the core, with the folder the
        # plug-in registered (gimp_plugin_domain_register); pluginrc keeps it.
        with open(os.path.join(profile, "pluginrc"), encoding="utf-8", errors="replace") as f:
            rc_text = f.read()
        m = re.search(r'\(locale-def "sdcl" "([^"]*)"\)', rc_text)
        got = m.group(1).replace("${gimp_dir}", profile) if m else None
        c.ok(got is not None and os.path.realpath(got) == os.path.realpath(catalog_dir),
             f"{tag} GIMP translates the menu with the copied folder's catalogs ({got})")
    demo = r.get("demo", {})
    c.ok(demo.get("status") == "ok", f"{tag} Text to Image runs the demo model ({demo.get('status')})")
    c.ok((demo.get("w"), demo.get("h")) == ("64", "64"),
         f"{tag} at the model's native size 64x64 (got {demo.get('w')}x{demo.get('h')})")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--api", type=int, choices=(2, 3), required=True)
    ap.add_argument("--gimp", required=True)
    ap.add_argument("--build-root", required=True)
    ap.add_argument("--source-root", required=True)
    ap.add_argument("--image", required=True)
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--timeout", type=int, default=900)
    args = ap.parse_args()

    work = os.path.abspath(args.workdir)
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    c = Checks()
    stage = os.path.join(work, "stage")
    staged = subprocess.run([sys.executable,
                             os.path.join(args.source_root, "tools", "stage-user.py"),
                             "gimp", args.build_root, args.source_root, stage],
                            capture_output=True, text=True)
    print("# " + (staged.stdout + staged.stderr).strip().replace("\n", "\n# "))
    if not c.ok(staged.returncode == 0, "tools/stage-user.py lays out the plug-in folder"):
        print(f"1..{c.count}")
        return 1
    check_folder(c, os.path.join(stage, "sdcl-gimp"))

    for territory, lang in LOCALES:
        extra, reason = make_locale(territory, work)
        if reason:
            c.skip(f"[{lang}] the plug-in under {territory}.UTF-8", reason)
            continue
        profile = os.path.join(work, "profile-" + lang)
        for sub in ("gradients", "brushes", "patterns", "palettes"):
            os.makedirs(os.path.join(profile, sub))
        # The user's copy: the staged folder, nothing else.
        shutil.copytree(os.path.join(stage, "sdcl-gimp"),
                        os.path.join(profile, "plug-ins", "sdcl-gimp"),
                        copy_function=shutil.copy)
        env = clean_env(profile, args.api, extra)
        log_path = os.path.join(work, f"gimp-{lang}.log")
        rc, log = run_gimp(args, env, script_for(args.api, args.image), log_path)
        print(f"# gimp-console log: {log_path}")
        if args.api == 3:
            _, py_log = run_gimp(args, env, PYTHON_LABELS, log_path + ".py.log", "python-fu-eval")
            log += py_log
        if not c.ok(rc is not None, f"[{lang}] gimp-console finished within {args.timeout} s"):
            continue
        catalog_dir = os.path.join(profile, "plug-ins", "sdcl-gimp", "locale")
        check_session(c, args, args.api, lang, log, rc, catalog_dir, profile)
        if c.failed:
            print("\n".join("# " + line for line in log.splitlines()[-30:]))

    print(f"1..{c.count}")
    return 1 if c.failed else 0


if __name__ == "__main__":
    sys.exit(main())
