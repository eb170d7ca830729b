#!/usr/bin/env bash
# Optional: the kernel tests on a second OpenCL implementation, Mesa's
# rusticl on llvmpipe (a software rasteriser, reported as a CPU device),
# inside the Debian 13 chroot of tools/make-trixie-chroot.sh.  It runs
# the portable kernels (the GPUs' path: gemm_tiled, conv_tiled,
# attention_tiled, the split GroupNorm statistics) under a compiler other
# than PoCL's, with GPU-typical limits forced as on PoCL.
#
#   sudo bash tools/run-rusticl-tests.sh [CHROOT] [-- extra `meson test` args]
#
# It installs mesa-opencl-icd into the chroot when missing.  The source
# tree is bind-mounted read-only at /src-<name of its folder>; the build
# lives inside the chroot (/var/tmp/sdcl-build-rusticl-<name>).  Only the
# rusticl ICD is visible to the tests (OCL_ICD_VENDORS), with
# RUSTICL_ENABLE=llvmpipe.
# Exit status: that of `meson test` (0 = all passed), 2 for setup problems.
# SPDX-License-Identifier: LGPL-3.0-or-later
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
build=/var/tmp/sdcl-build-rusticl-$name
inner=/src-$name

if [ "$(id -u)" -ne 0 ]; then
  echo "run-rusticl-tests: needs root (mount and chroot)" >&2
  exit 2
fi
if [ ! -x "$root/usr/bin/meson" ]; then
  echo "run-rusticl-tests: no Debian 13 chroot at $root; make it with:" >&2
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
    [ "${3:-}" = ro ] && mount -o remount,bind,ro "$2"
  fi
  return 0
}
bind /proc "$root/proc"
bind /sys "$root/sys"
bind /dev "$root/dev"
bind "$src" "$root$inner" ro

if [ ! -f "$root/etc/OpenCL/vendors/rusticl.icd" ]; then
  chroot "$root" /usr/bin/env -i PATH=/usr/bin:/bin DEBIAN_FRONTEND=noninteractive \
    apt-get install -y --no-install-recommends mesa-opencl-icd || exit 2
fi

set +e
chroot "$root" /usr/bin/env -i \
  PATH=/usr/local/bin:/usr/bin:/bin HOME=/root LC_ALL=C.UTF-8 TERM=dumb \
  OCL_ICD_VENDORS=/etc/OpenCL/vendors/rusticl.icd RUSTICL_ENABLE=llvmpipe \
  /bin/bash -euo pipefail -c '
    build=$1; inner=$2; shift 2
    if [ ! -f "$build/build.ninja" ]; then
      meson setup "$build" "$inner" -Dgimp=disabled -Dgegl=disabled -Dclblast=disabled
    fi
    ninja -C "$build" build.ninja >/dev/null
    ninja -C "$build" tests/kernels/test-ops tests/kernels/test-clrt tests/kernels/test-gemm-config
    clinfo -l || true
    # The kernel tests of the default suite that do not need oclgrind
    # (the CPU kernels too: rusticl reports llvmpipe as a CPU).
    if [ $# -eq 0 ]; then
      set -- $(meson test -C "$build" --list 2>/dev/null | sed -n "s/^.*\(kernel-[a-z0-9-]*\)$/\1/p" \
               | grep -v oclgrind | grep -v clblast)
    fi
    meson test -C "$build" --no-rebuild --num-processes 1 --print-errorlogs "$@"
  ' run-rusticl-tests "$build" "$inner" "${test_args[@]}"
status=$?
set -e
echo "run-rusticl-tests: meson test exit status $status (logs: $root$build/meson-logs/testlog.txt)"
exit $status
