#!/usr/bin/env bash
# test/fuzz/run.sh SECONDS BIN...: runs each libFuzzer harness for SECONDS on
# a working copy of its seeds and prints one line per harness (executions,
# coverage, features, corpus size, result).  Exits 1 when any harness found
# a crash, a leak or a timeout; the reproducer is kept and named.
#
# Seeds: test/fuzz/corpus/<name>/ (committed, made by make_seeds.py) plus,
# made here from files in the repository: the shipped model configs (json),
# their weights (safetensors), config + NUL + weights pairs (model_load) and
# the ONNX fixture (onnx_import).
set -uo pipefail
cd "$(dirname "$0")/../.."
secs=$1; shift
work=$(mktemp -d /tmp/siamese_fuzz.XXXXXX)
status=0
printf '%-22s %12s %8s %8s %8s  %s\n' harness executions cov features corpus result
for bin in "$@"; do
  name=$(basename "$bin"); short=${name#fuzz_}
  corpus="$work/$short"; mkdir -p "$corpus"
  [ -d "test/fuzz/corpus/$short" ] && cp test/fuzz/corpus/"$short"/* "$corpus"/ 2>/dev/null
  case $short in
    json) cp models/*.json "$corpus"/ ;;
    safetensors) for f in models/*.safetensors; do [ "$(stat -c %s "$f")" -lt 2000000 ] && cp "$f" "$corpus/"; done ;;
    model_load)
      for j in models/*.json; do
        w=${j%.json}.safetensors
        [ "$(stat -c %s "$w")" -lt 2000000 ] && { cat "$j"; printf '\0'; cat "$w"; } >"$corpus/$(basename "$j" .json)"
      done ;;
    onnx_import) cp test/fixtures/onnx/*.onnx "$corpus"/ ;;
  esac
  dict=(); [ "$short" = json ] || [ "$short" = model_load ] && dict=(-dict=test/fuzz/json.dict)
  log="$work/$short.log"
  "$bin" -max_total_time="$secs" -rss_limit_mb=2048 -timeout=25 -print_final_stats=1 "${dict[@]}" \
    -artifact_prefix="$work/$short-" "$corpus" >"$log" 2>&1
  rc=$?
  execs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$')
  cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -1 | grep -oE '[0-9]+')
  ft=$(grep -oE 'ft: [0-9]+' "$log" | tail -1 | grep -oE '[0-9]+')
  n=$(ls "$corpus" | wc -l)
  if [ $rc -eq 0 ]; then result=ok; else
    result="FAILED (rc $rc): $(ls "$work" | grep "^$short-" | head -1)"; status=1
    grep -E 'ERROR: |SUMMARY: ' "$log" | head -3 | sed 's/^/    /'
  fi
  printf '%-22s %12s %8s %8s %8s  %s\n' "$name" "${execs:-?}" "${cov:-?}" "${ft:-?}" "$n" "$result"
done
[ $status -eq 0 ] && rm -rf "$work" || echo "fuzz artifacts and logs kept in $work"
exit $status
