#!/usr/bin/env bash
# Installs what is missing, builds into build/, runs every test: the lit
# regression tests, then the unit and integration tests under ctest. The last
# line is the total: "N passed, M failed".
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

"$root/utils/setup.sh" || { echo "setup failed"; echo "0 passed, 1 failed"; exit 1; }
if ! "$root/utils/build.sh"; then
  echo "build failed"
  echo "0 passed, 1 failed"
  exit 1
fi

export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
jobs=$(nproc)

lit_log=$(mktemp)
/usr/lib/llvm-22/bin/lit -sv -j "$jobs" "$root/build/test" | tee "$lit_log"
lit_count() { { grep -E "^\s+$1\s*:" "$lit_log" || true; } | awk -F: '{s+=$2} END {print s+0}'; }
lit_passed=$(( $(lit_count Passed) + $(lit_count 'Expectedly Failed') ))
lit_failed=$(( $(lit_count Failed) + $(lit_count Unresolved) + $(lit_count 'Timed Out') + $(lit_count 'Unexpectedly Passed') ))
if ! grep -qE "^\s+Passed\s*:" "$lit_log"; then lit_failed=$((lit_failed + 1)); fi
lit_skipped=$(lit_count Unsupported)
rm -f "$lit_log"

ctest_log=$(mktemp)
ctest --test-dir "$root/build" --output-on-failure -j "$jobs" | tee "$ctest_log"
summary=$(grep -E "tests passed, [0-9]+ tests? failed out of [0-9]+" "$ctest_log" || true)
if [[ -n "$summary" ]]; then
  ctest_failed=$(sed -E 's/.*tests passed, ([0-9]+) tests? failed out of ([0-9]+).*/\1/' <<<"$summary")
  ctest_total=$(sed -E 's/.*failed out of ([0-9]+).*/\1/' <<<"$summary")
  # A skipped test (its SKIP_RETURN_CODE) is neither passed nor failed.
  ctest_skipped=$(grep -cE "\*\*\*Skipped" "$ctest_log" || true)
  ctest_passed=$((ctest_total - ctest_failed - ctest_skipped))
else
  ctest_passed=0
  ctest_failed=1
  ctest_skipped=0
fi
rm -f "$ctest_log"

passed=$((lit_passed + ctest_passed))
failed=$((lit_failed + ctest_failed))
skipped=$((lit_skipped + ctest_skipped))
echo "${skipped} skipped"
echo "${passed} passed, ${failed} failed"
[[ $failed == 0 ]]
