#!/usr/bin/env bash
# Runs every libFuzzer harness of tests/fuzz for a set time, one after the
# other (one process each: -jobs is not used, so a 2-core machine keeps a
# core for everything else), or FUZZ_JOBS of them at a time.
#
#   [FUZZ_JOBS=N] tools/run-fuzzers.sh [SECONDS] [BUILD_DIR] [FUZZER...]
#
# SECONDS    time per fuzzer (default 30; the issue's acceptance run is 600)
# BUILD_DIR  clang build with the harnesses (default build-fuzz); configured
#            here when missing:
#              CC=clang CXX=clang++ meson setup BUILD_DIR -Dfuzzing=true \
#                -Db_sanitize=address,undefined -Db_lundef=false \
#                -Dc_args=-fsanitize=fuzzer-no-link -Dcpp_args=-fsanitize=fuzzer-no-link
#            (fuzzer-no-link instruments the engine itself for coverage.)
# FUZZ_JOBS  harnesses running at once (default 1; CI uses 2, one per core:
#            each harness still gets SECONDS, the wall time halves)
# FUZZER     names to run (default: all eleven: fuzz_safetensors fuzz_configs
#            fuzz_ldm_map fuzz_tokenizer_files fuzz_prompt fuzz_png fuzz_cli
#            fuzz_gemm_config fuzz_prompt_syntax fuzz_embedding fuzz_lora)
#
# The committed seeds (tests/fuzz/corpus/NAME) are copied to
# BUILD_DIR/fuzz-corpus/NAME, which grows run after run; the seeds in the
# source tree are never written.  Crashes, leaks and timeouts are written
# to BUILD_DIR/fuzz-artifacts/NAME/ and make the script fail; the log of
# each run is BUILD_DIR/fuzz-logs/NAME.log.  The last line per fuzzer gives
# executions, coverage (edges) and features.
#
# Reproduce a finding:  BUILD_DIR/tests/fuzz/NAME ARTIFACT
set -uo pipefail
cd "$(dirname "$0")/.."
src=$PWD
seconds=${1:-30}
build=${2:-build-fuzz}
shift 2 2>/dev/null || shift $#
all=(fuzz_safetensors fuzz_configs fuzz_ldm_map fuzz_tokenizer_files fuzz_prompt fuzz_png fuzz_cli
     fuzz_gemm_config fuzz_prompt_syntax fuzz_embedding fuzz_lora)
names=("$@")
[ ${#names[@]} -eq 0 ] && names=("${all[@]}")

if ! command -v clang >/dev/null; then
  echo "run-fuzzers: clang is needed (tools/install-deps.sh installs it)" >&2
  exit 2
fi
if [ ! -f "$build/build.ninja" ]; then
  # clang++ too: with CLBlast's tuner libsdcl has a C++ file, and C++ links it.
  CC=clang CXX=clang++ meson setup "$build" -Dfuzzing=true -Db_sanitize=address,undefined \
    -Db_lundef=false -Dc_args=-fsanitize=fuzzer-no-link -Dcpp_args=-fsanitize=fuzzer-no-link \
    -Dgimp=disabled -Dgegl=disabled \
    >/dev/null || exit 2
fi
# Absolute from here on: fuzz_cli works inside a private temporary folder, so
# a relative corpus path would not resolve there.
build=$(cd "$build" && pwd)
targets=()
for n in "${names[@]}"; do targets+=("tests/fuzz/$n"); done
ninja -C "$build" "${targets[@]}" >/dev/null || { echo "run-fuzzers: build failed" >&2; exit 2; }

export SDCL_DATA_DIR="$src/data"
export SDCL_CACHE_DIR=""
# Leaks are findings; UBSan stops at the first report (-fno-sanitize-recover).
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

# One harness: its run, then its summary line in BUILD_DIR/fuzz-logs/NAME.result
# ("ok ..." or "FAIL ..." and the report's first lines).
fuzz_one() {
  local n=$1
  local corpus="$build/fuzz-corpus/$n" artifacts="$build/fuzz-artifacts/$n"
  local log="$build/fuzz-logs/$n.log" result="$build/fuzz-logs/$n.result"
  mkdir -p "$corpus" "$artifacts" "$(dirname "$log")"
  cp -n "$src/tests/fuzz/corpus/$n"/* "$corpus"/ 2>/dev/null
  # -rss_limit_mb/-malloc_limit_mb: a hostile size field must be refused
  # before allocating, so anything over 1 GiB is a finding.
  "$build/tests/fuzz/$n" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -malloc_limit_mb=1024 -max_len=65536 -print_final_stats=1 -close_fd_mask=1 \
    -artifact_prefix="$artifacts/" "$corpus" >"$log" 2>&1
  local rc=$?
  local execs cov ft files
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$')
  cov=$(grep -E '^#[0-9]+' "$log" | tail -1 | grep -o 'cov: [0-9]*' | grep -o '[0-9]*')
  ft=$(grep -E '^#[0-9]+' "$log" | tail -1 | grep -o 'ft: [0-9]*' | grep -o '[0-9]*')
  files=$(ls "$corpus" | wc -l)
  if [ $rc -ne 0 ]; then
    { echo "FAIL $n (exit $rc): see $log and $artifacts"
      grep -E 'ERROR: |runtime error|SUMMARY' "$log" | head -5; } >"$result"
  else
    echo "ok   $n: ${seconds}s, ${execs:-?} executions, cov ${cov:-?} edges, ft ${ft:-?}, corpus $files" \
      >"$result"
  fi
}

jobs_max=${FUZZ_JOBS:-1}
for n in "${names[@]}"; do
  rm -f "$build/fuzz-logs/$n.result"
  while [ "$(jobs -rp | wc -l)" -ge "$jobs_max" ]; do wait -n; done
  fuzz_one "$n" &
done
wait
# The summaries in the order of the names, whatever order the runs ended in.
failed=0
for n in "${names[@]}"; do
  result="$build/fuzz-logs/$n.result"
  [ -f "$result" ] || echo "FAIL $n: no result (see $build/fuzz-logs/$n.log)" >"$result"
  cat "$result"
  grep -q '^ok ' "$result" || failed=$((failed + 1))
done
echo "run-fuzzers: ${#names[@]} fuzzers, $failed failed"
[ $failed -eq 0 ]
