#!/usr/bin/env bash
# The default test suite under AddressSanitizer + UndefinedBehaviorSanitizer,
# then under valgrind memcheck.  Both must report nothing.
#
#   tools/run-sanitizers.sh [asan|valgrind|all]   (default all)
#
# asan      gcc build in build-asan (-Db_sanitize=address,undefined, UBSan
#           fatal) running `meson test --no-suite slow --no-suite realsize`
#           (the default suite, its oclgrind kernel tests included).
#           LeakSanitizer is on; tools/lsan-opencl.supp lists the OpenCL
#           stack's own exit-time allocations (libpocl, LLVM, ICD loader).
# valgrind  plain build in build-valgrind; memcheck (--leak-check=full,
#           --errors-for-leak-kinds=definite,indirect, error exit 99) wraps
#           every test of the suites that do not run OpenCL kernels
#           (model, tokenizer, sampling) and the bad-input test's API rows
#           (SDCL_BADINPUT_NO_CLI=1: the CLI rows spawn processes valgrind
#           would not follow usefully).  The other OpenCL tests are left to
#           the ASan run: under valgrind PoCL's JIT takes hours.
#           tools/valgrind-opencl.supp holds the PoCL/LLVM suppressions.
# Ends with the meson summary of each run; exit status non-zero on any
# report.
set -uo pipefail
cd "$(dirname "$0")/.."
what=${1:-all}
status=0

if [ "$what" = asan ] || [ "$what" = all ]; then
  b=build-asan
  [ -f "$b/build.ninja" ] || meson setup "$b" -Db_sanitize=address,undefined -Db_lundef=false \
    -Dgimp=disabled -Dgegl=disabled >/dev/null || exit 2
  ninja -C "$b" >/dev/null || { echo "run-sanitizers: asan build failed" >&2; exit 2; }
  start=$(date +%s)
  # verify_asan_link_order=0: the oclgrind tests run under oclgrind, which
  # preloads its own runtime ahead of ASan's.
  ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:detect_odr_violation=0:verify_asan_link_order=0" \
  LSAN_OPTIONS="suppressions=$PWD/tools/lsan-opencl.supp:print_suppressions=0" \
  UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" \
    meson test -C "$b" --num-processes 2 --print-errorlogs --no-suite slow --no-suite realsize \
    || status=1
  echo "run-sanitizers: asan+ubsan suite took $(( $(date +%s) - start )) s"
fi

if [ "$what" = valgrind ] || [ "$what" = all ]; then
  b=build-valgrind
  [ -f "$b/build.ninja" ] || meson setup "$b" -Dgimp=disabled -Dgegl=disabled >/dev/null || exit 2
  ninja -C "$b" >/dev/null || { echo "run-sanitizers: valgrind build failed" >&2; exit 2; }
  vg="valgrind --tool=memcheck --leak-check=full --errors-for-leak-kinds=definite,indirect \
--error-exitcode=99 --suppressions=$PWD/tools/valgrind-opencl.supp --num-callers=30"
  start=$(date +%s)
  meson test -C "$b" --num-processes 2 --print-errorlogs --wrapper "$vg" --timeout-multiplier 20 \
    --suite model --suite tokenizer --suite sampling || status=1
  SDCL_BADINPUT_NO_CLI=1 meson test -C "$b" --print-errorlogs --wrapper "$vg" \
    --timeout-multiplier 20 badinput || status=1
  echo "run-sanitizers: valgrind runs took $(( $(date +%s) - start )) s"
fi
exit $status
