#!/usr/bin/env bash
# The second test suite: builds sdcl against GIMP 3.0 inside the Debian 13
# chroot made by tools/make-trixie-chroot.sh and runs the GIMP tests there
# (meson suite "gimp": the plug-in in gimp-console-3.0, translations).
#
#   sudo bash tools/run-gimp3-tests.sh [CHROOT] [-- extra `meson test` args]
#
# CHROOT defaults to $SDCL_TRIXIE_ROOT, else /var/tmp/sdcl-trixie.  The
# source tree is bind-mounted read-only at /src-<name of its folder>; the
# build lives inside the chroot (/var/tmp/sdcl-build-gimp3-<name>), so
# repeated runs are incremental and checkouts in differently named folders
# can use one chroot side by side.
# Exit status: that of `meson test` (0 = all passed), 2 for setup problems.
set -euo pipefail

root=${SDCL_TRIXIE_ROOT:-/var/tmp/sdcl-trixie}
if [ $# -gt 0 ] && [ "$1" != "--" ]; then
  root=$1
  shift
fi
[ "${1:-}" = "--" ] && shift
test_args=("$@")

src=$(cd "$(dirname "$0")/.." && pwd)
name=$(basename "$src" | tr -c 'A-Za-z0-9_.\n-' _)
build=/var/tmp/sdcl-build-gimp3-$name
inner=/src-$name

if [ "$(id -u)" -ne 0 ]; then
  echo "run-gimp3-tests: needs root (mount and chroot)" >&2
  exit 2
fi
if [ ! -x "$root/usr/bin/gimp-console-3.0" ]; then
  echo "run-gimp3-tests: no GIMP 3 chroot at $root; make it with:" >&2
  echo "  sudo bash tools/make-trixie-chroot.sh $root" >&2
  exit 2
fi

mounted=()
cleanup() {
  for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do
    umount -l "${mounted[$i]}" 2>/dev/null || true
  done
}
trap cleanup EXIT
bind() { # bind SOURCE TARGET [ro]
  mkdir -p "$2"
  if ! mountpoint -q "$2"; then
    mount --bind "$1" "$2"
    mounted+=("$2")
    # Read-only so nothing run in the chroot can touch the checkout.
    [ "${3:-}" = ro ] && mount -o remount,bind,ro "$2"
  fi
  return 0
}
bind /proc "$root/proc"
bind /sys "$root/sys"
bind /dev "$root/dev"
bind "$src" "$root$inner" ro

set +e
chroot "$root" /usr/bin/env -i \
  PATH=/usr/local/bin:/usr/bin:/bin HOME=/root LC_ALL=C.UTF-8 TERM=dumb \
  /bin/bash -euo pipefail -c '
    build=$1; inner=$2; shift 2
    if [ ! -f "$build/build.ninja" ]; then
      meson setup "$build" "$inner" -Dgimp=enabled
    fi
    # Only what the suite needs: the engine test programs are covered by
    # the default suite on the host.  gimp-batch compares a layer with the
    # sdcl tool'"'"'s image.
    targets=(plugin/gimp/sdcl-gimp tests/gimp/test-catalogs tests/gimp/test-settings
             tests/gimp/test-preview sdcl-gmo
             tools/sdcl)
    # The GEGL module'"'"'s per-user install test is in the suite too (GIMP 3'"'"'s GEGL).
    ninja -C "$build" build.ninja >/dev/null   # a changed meson.build adds targets
    if ninja -C "$build" -t query tests/gegl/gegl-user-probe >/dev/null 2>&1; then
      targets+=(plugin/gegl/sdcl-gegl.so tests/gegl/gegl-user-probe)
    fi
    ninja -C "$build" "${targets[@]}"
    gimp-console-3.0 --version
    meson test -C "$build" --no-rebuild --suite gimp --print-errorlogs "$@"
  ' run-gimp3-tests "$build" "$inner" "${test_args[@]}"
status=$?
set -e
echo "run-gimp3-tests: meson test exit status $status (logs: $root$build/meson-logs/testlog.txt)"
exit $status
