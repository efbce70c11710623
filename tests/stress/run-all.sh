#!/usr/bin/env bash
# Runs every stress scenario in sequence (tests/stress/0*.sh), builds zcopy once first, prints each
# RESULT line and a summary, and exits 1 when any check failed or any scenario ended badly.
# The scenarios' env variables (STRESS_SECONDS, STRESS_ENGINES, ...) pass through; STRESS_ONLY
# picks scenarios by number ("1 3 6").
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=bench/lib.sh
source bench/lib.sh

bench_build
export ZCOPY_BIN=$zcopy
log=$(mktemp /tmp/zcopy-stress-results.XXXXXX)
status=0
for script in tests/stress/0*.sh; do
  n=$(basename "$script" | cut -c2)
  if [[ -n ${STRESS_ONLY:-} && " $STRESS_ONLY " != *" $n "* ]]; then continue; fi
  echo "== $script"
  start=$SECONDS
  if ! bash "$script" | tee -a "$log"; then status=1; fi
  echo "== $script: $((SECONDS - start)) s"
done
echo "== results"
grep '^RESULT' "$log" || true
pass=$(grep -c '^RESULT .* pass ' "$log" || true)
fail=$(grep -c '^RESULT .* FAIL ' "$log" || true)
echo "== $pass passed, $fail failed"
rm -f "$log"
((fail == 0 && status == 0))
