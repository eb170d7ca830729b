#!/usr/bin/env bash
# A report on one OpenCL device for a bug report or BENCHMARKS.md: builds
# sdcl, lists the devices, says which kernels sdcl picks there and why,
# runs the kernel tests on the device and times sdcl-bench on a random SD
# 1.5-shaped checkpoint with each GEMM backend (and, where the portable
# kernels run, once more with convolutions gathered instead of conv_tiled:
# backend "own-gather").  Everything goes to one
# file (Markdown, paste it into an issue) and to the terminal.
#
#   tools/device-report.sh [--device D] [--build DIR] [--out FILE]
#                          [--size PX] [--model PATH] [--no-tests] [--no-bench]
#
#   --device   sdcl's device choice (index or part of the name, as
#              `sdcl devices` lists them); default: the first GPU, else any
#   --build    build folder (default build-report; configured if missing)
#   --size     image side for sdcl-bench (default 512)
#   --model    checkpoint to time instead of the random one, which is
#              written once to BUILD/device-report/sd15-random (~2.1 GB)
#   --no-tests / --no-bench   leave out the kernel tests / the timings
#
# Needs what building sdcl needs, plus python3; clinfo is used if present.
# Takes a few minutes on a GPU (the kernel tests build many kernel
# variants once); on a CPU device the tests alone take 10-20 minutes.
# SPDX-License-Identifier: LGPL-3.0-or-later
set -uo pipefail
cd "$(dirname "$0")/.."

device="" build="build-report" out="" size=512 model="" tests=1 bench=1
while [ $# -gt 0 ]; do
  case "$1" in
    --device) device=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --size) size=$2; shift 2 ;;
    --model) model=$2; shift 2 ;;
    --no-tests) tests=0; shift ;;
    --no-bench) bench=0; shift ;;
    -h|--help) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "device-report.sh: unknown argument '$1' (--help lists them)" >&2; exit 2 ;;
  esac
done
out=${out:-sdcl-device-report-$(date -u +%Y%m%d-%H%M%S).md}
dev_args=()
if [ -n "$device" ]; then
  dev_args=(--device "$device")
  export SDCL_DEVICE="$device"   # the kernel tests read it
fi

# Appends a titled block to the report: the command's stdout and stderr.
section() {
  local title=$1; shift
  printf '\n## %s\n\n```\n' "$title" >>"$out"
  "$@" >>"$out" 2>&1
  local status=$?
  printf '```\n' >>"$out"
  echo "== $title: exit status $status" >&2
  return $status
}

: >"$out"
{
  echo "# sdcl device report"
  echo
  echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "- sdcl: $(git describe --always --dirty 2>/dev/null || echo 'not a git checkout')"
  echo "- system: $(uname -srm)"
  echo "- device choice: ${device:-default (first GPU, else any)}"
} >>"$out"

if [ -f "$build/build.ninja" ]; then
  meson setup --reconfigure "$build" >/dev/null || exit 1
else
  meson setup "$build" -Dbuildtype=release >/dev/null || exit 1
fi
ninja -C "$build" >/dev/null || { echo "device-report.sh: the build failed" >&2; exit 1; }

clinfo_essentials() {
  if ! command -v clinfo >/dev/null; then
    echo "(clinfo is not installed)"
    return 0
  fi
  clinfo --raw | grep -E 'CL_PLATFORM_(NAME|VERSION)|CL_DEVICE_(NAME|TYPE|VERSION|OPENCL_C_VERSION|MAX_COMPUTE_UNITS|MAX_CLOCK_FREQUENCY|MAX_WORK_GROUP_SIZE|LOCAL_MEM_SIZE|LOCAL_MEM_TYPE|GLOBAL_MEM_SIZE|MAX_MEM_ALLOC_SIZE|MAX_NUM_SUB_GROUPS|HALF_FP_CONFIG|NATIVE_VECTOR_WIDTH_(FLOAT|HALF))\b|CL_DRIVER_VERSION'
}
section "OpenCL devices (clinfo)" clinfo_essentials
section "Devices as sdcl sees them" "$build/tools/sdcl" devices
section "Kernels sdcl picks on the device, and why" "$build/tools/sdcl-bench" --kernels "${dev_args[@]}"

if [ "$tests" = 1 ]; then
  run_kernel_tests() {
    meson test -C "$build" --suite kernels --no-rebuild --num-processes 1 >/dev/null 2>&1
    local status=$?
    grep -E '^ *[0-9]+/[0-9]+ ' "$build/meson-logs/testlog.txt" | sed 's/  */ /g'
    return $status
  }
  section "Kernel tests on the device (meson test --suite kernels)" run_kernel_tests
fi

# Backend label -> the environment it runs with.
backends=(own)
declare -A backend_env=([own]="SDCL_GEMM=own" [own-gather]="SDCL_GEMM=own SDCL_CONV=gather"
                        [clblast]="SDCL_GEMM=clblast")
"$build/tools/sdcl-bench" --kernels "${dev_args[@]}" 2>/dev/null | grep -q '^convolution tiled' \
  && backends+=(own-gather)
grep -q '^#define SDCL_HAVE_CLBLAST 1' "$build/config.h" && backends+=(clblast)
if [ "$bench" = 1 ]; then
  if [ -z "$model" ]; then
    model="$build/device-report/sd15-random"
    if [ ! -f "$model/model_index.json" ]; then
      mkdir -p "$build/device-report"
      "$build/tools/sdcl-mkmodel" "$model" >/dev/null || exit 1
    fi
  fi
  jsons=()
  mkdir -p "$build/device-report"
  for b in "${backends[@]}"; do
    json="$build/device-report/bench-$b.json"
    echo "== sdcl-bench, GEMM backend $b (${size}x${size})" >&2
    if env ${backend_env[$b]} "$build/tools/sdcl-bench" --model "$model" "${dev_args[@]}" \
         --width "$size" --height "$size" --no-startup --json >"$json" 2>"$json.log"; then
      jsons+=("$b=$json")
    else
      section "sdcl-bench with GEMM backend $b failed" tail -n 20 "$json.log"
    fi
  done
  summary() {
    python3 - "$@" <<'EOF'
import json, sys
rows = []
for arg in sys.argv[1:]:
    backend, path = arg.split('=', 1)
    with open(path) as f:
        r = json.load(f)
    ph = {p['name'].split(' (')[0]: p for p in r['phases']}
    rate = lambda n: '%.1f' % ph[n]['gflops'] if n in ph else '-'
    cfg = ph.get('CFG step')
    rows.append([r['device'], r['driver'], backend, rate('text encoder'),
                 rate('UNet evaluation'), rate('CFG step'), '%.3f' % cfg['seconds'] if cfg else '-',
                 rate('VAE decode'), '%.0f' % (r['peak_device_bytes'] / 2**20),
                 '%.1f' % r['fma_peak_gflops']])
head = ['device', 'driver', 'backend', 'text enc. GFLOP/s', 'UNet GFLOP/s', 'CFG step GFLOP/s',
        's per CFG step', 'VAE dec. GFLOP/s', 'peak device MiB', 'FMA peak GFLOP/s']
print('| ' + ' | '.join(head) + ' |')
print('|' + '---|' * len(head))
for row in rows:
    print('| ' + ' | '.join(row) + ' |')
print()
print('Per phase (seconds, GFLOP/s):')
for arg in sys.argv[1:]:
    backend, path = arg.split('=', 1)
    with open(path) as f:
        r = json.load(f)
    print('- %s: ' % backend + '; '.join('%s %.3f s, %.1f' % (p['name'], p['seconds'], p['gflops'])
                                        for p in r['phases']))
EOF
  }
  if [ ${#jsons[@]} -gt 0 ]; then
    {
      printf '\n## Summary (sdcl-bench, %sx%s, F16 weights)\n\n' "$size" "$size"
      summary "${jsons[@]}"
    } >>"$out"
  fi
fi

cat "$out"
echo "device-report.sh: report written to $out" >&2
