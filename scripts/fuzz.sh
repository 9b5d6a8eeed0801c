#!/usr/bin/env bash
# Run every cargo-fuzz target in fuzz/ for FUZZ_SECONDS seconds each, one after another; print
# each target's executions, coverage and corpus size; fail if any target found a crash.
#
#   scripts/fuzz.sh                       # every target, 15 s each
#   FUZZ_SECONDS=300 scripts/fuzz.sh      # the long run (see fuzz/README.md)
#   scripts/fuzz.sh intake limits         # some targets only
#
# FUZZ_SANITIZER (default address; `none` is faster and finds panics only), FUZZ_TARGET_DIR
# (default fuzz/target), FUZZ_CORPUS_DIR (default fuzz/corpus: grows between runs, not
# committed). A crash leaves its input in fuzz/artifacts/<target>/ and the command that replays it
# is printed. cargo-fuzz needs nightly flags: RUSTC_BOOTSTRAP=1 lets the stable toolchain take them.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
seconds=${FUZZ_SECONDS:-15}
sanitizer=${FUZZ_SANITIZER:-address}
target_dir=${FUZZ_TARGET_DIR:-$root/fuzz/target}
corpus_root=${FUZZ_CORPUS_DIR:-$root/fuzz/corpus}
export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi

if [ $# -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <(cd fuzz && cargo fuzz list)
fi

fixtures=$root/tests/fixtures
# The payload fixtures of one platform directory (not the headers, expected results or vectors).
payloads() {
  find "$fixtures/$1" -maxdepth 1 -type f -name '*.json' \
    ! -name '*.headers.json' ! -name '*.expected.json' | sort
}
# Write PREFIX-BYTES + FILE as a corpus entry (prefix given as printf escapes, e.g. '\x05\x00').
seed_with() {
  local dir=$1 prefix=$2 file=$3 name
  name=$(basename "$(dirname "$file")")_$(basename "$file" .json)_$(printf '%s' "$prefix" | tr -dc '0-9a-f')
  [ -e "$dir/$name" ] || { printf "$prefix"; cat "$file"; } >"$dir/$name"
}

# Fill a target's corpus with its committed seeds (fuzz/seeds/<target>) and, where the input is a
# request body, with the repository's fixtures, shaped the way the target reads them.
seed() {
  local t=$1 dir=$corpus_root/$1
  mkdir -p "$dir"
  if [ -d "fuzz/seeds/$t" ]; then
    cp -n fuzz/seeds/"$t"/* "$dir"/ 2>/dev/null || true
  fi
  case $t in
    intake)
      # Byte 0 picks the platform, in platforms::ALL order; byte 1 the Sentry-Hook-Resource header.
      local i=0 d f
      for d in pagerduty opsgenie servicenow datadog grafana alertmanager splunk aws_cloudwatch_sns \
        azure_monitor gcp_monitoring newrelic dynatrace sentry generic; do
        while read -r f; do
          seed_with "$dir" "$(printf '\\x%02x\\x00' "$i")" "$f"
          if [ "$d" = sentry ]; then
            for h in 01 02 03; do seed_with "$dir" "$(printf '\\x%02x\\x%s' "$i" "$h")" "$f"; done
          fi
        done < <(payloads "$d")
        i=$((i + 1))
      done
      ;;
    limits)
      # Byte 0: even = the real limits, odd = small ones.
      local f
      while read -r f; do
        seed_with "$dir" '\x00' "$f"
        seed_with "$dir" '\x51' "$f"
      done < <(for d in generic alertmanager grafana datadog; do payloads "$d"; done)
      ;;
    sns_envelope)
      local f
      while read -r f; do cp -n "$f" "$dir"/; done < <(payloads aws_cloudwatch_sns)
      ;;
  esac
}

build_log=$(mktemp)
echo "-- building ${#targets[@]} targets (sanitizer: $sanitizer)"
start=$SECONDS
(cd fuzz && cargo fuzz build -s "$sanitizer" --target-dir "$target_dir") >"$build_log" 2>&1 ||
  { cat "$build_log"; exit 1; }
echo "   built in $((SECONDS - start)) s"

failed=()
summary=()
for t in "${targets[@]}"; do
  seed "$t"
  log=$(mktemp)
  echo "-- $t: ${seconds} s"
  set +e
  (cd fuzz && cargo fuzz run -s "$sanitizer" --target-dir "$target_dir" "$t" "$corpus_root/$t" -- \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1) >"$log" 2>&1
  rc=$?
  set -e
  done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -1 || true)
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  corpus=$(find "$corpus_root/$t" -type f | wc -l)
  if [ $rc -ne 0 ]; then
    failed+=("$t")
    grep -E 'panicked at|ERROR: libFuzzer|SUMMARY|Test unit written to|assertion' "$log" | head -20 || true
    artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)
    [ -n "$artifact" ] && echo "   replay: (cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run -s $sanitizer $t $artifact)"
    [ -n "$artifact" ] || tail -40 "$log"
    summary+=("$(printf '%-18s FAILED (exit %s) after %s executions' "$t" "$rc" "${execs:-?}")")
  else
    cov=$(sed -n 's/.* cov: \([0-9]*\) ft: \([0-9]*\) .*/cov \1 ft \2/p' <<<"$done_line")
    rate=$(sed -n 's/.* exec\/s: \([0-9]*\).*/\1/p' <<<"$done_line")
    echo "   $done_line"
    summary+=("$(printf '%-18s %10s execs  %-18s %6s exec/s  corpus %s' "$t" "${execs:-?}" "${cov:-?}" "${rate:-?}" "$corpus")")
  fi
  rm -f "$log"
done

echo "-- fuzz summary (${seconds} s per target)"
printf '%s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
  echo "FAILED: ${failed[*]} (inputs in fuzz/artifacts/)"
  exit 1
fi
