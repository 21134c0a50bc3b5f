#!/usr/bin/env bash
# CLI contract tests: exit codes, one clear message naming the field, byte-identical JSON,
# nothing half-written. Usage: cli_test.sh WANKA_BINARY SOURCE_DIR
set -u
W="$1"; SRC="$2"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fail=0; pass=0
expect() {  # expect NAME RC PATTERN -- command...
  local name="$1" rc="$2" pat="$3"; shift 4
  "$@" >"$tmp/out" 2>"$tmp/err"; local got=$?
  if [ "$got" != "$rc" ] || ! grep -qE -- "$pat" "$tmp/out" "$tmp/err"; then
    echo "FAIL $name: rc=$got (want $rc), pattern '$pat'"; sed 's/^/  | /' "$tmp/err" | head -5; fail=$((fail+1))
  else pass=$((pass+1)); fi
}
expect default-runs 0 "step time" -- "$W" estimate
expect default-json 0 '"step_time_s"' -- "$W" estimate --json
expect catalog-list 0 "h100-sxm" -- "$W" catalog
expect catalog-gpu 0 "datasheet|source" -- "$W" catalog gpu h100-sxm
expect catalog-alias 0 "llama3-405b" -- "$W" catalog model llama-3.1-405b
expect unknown-gpu 2 "closest: .*h100" -- "$W" estimate --gpu h10
expect unknown-model 2 "unknown model 'llama3-7b'.*closest" -- "$W" estimate --model llama3-7b
expect tp-heads 2 "parallel.tp: 3 does not divide heads" -- "$W" estimate --set parallel.tp=3 --gpus 768
expect bad-product 2 "parallel" -- "$W" estimate --gpus 1000
expect zero-gpus 2 "cluster.num_gpus" -- "$W" estimate --gpus 0
expect absurd-gpus 2 "cluster.num_gpus.*out of range" -- "$W" estimate --gpus 1e30
expect negative-seq 2 "training.seq_len" -- "$W" estimate --seq-len -5
expect not-number 2 "parallel.tp.*not a number" -- "$W" estimate --tp eight
expect unknown-key 2 "parallel.tpp: unknown key 'tpp' \(closest: .*tp" -- "$W" estimate --set parallel.tpp=2
expect bad-recompute 2 "parallel.recompute" -- "$W" estimate --recompute sometimes
expect missing-file 2 "cannot read" -- "$W" estimate "$tmp/nope.yaml"
printf 'model: {name: llama3-70b\ncluster: [1,\n' > "$tmp/bad.yaml"
expect malformed-yaml 2 "bad.yaml:[0-9]+:[0-9]+: malformed YAML" -- "$W" estimate "$tmp/bad.yaml"
expect bad-flag 2 "" -- "$W" estimate --no-such-flag
expect no-subcommand 2 "" -- "$W"
# byte-identical JSON for the same input
"$W" estimate --json > "$tmp/a.json"; "$W" estimate --json > "$tmp/b.json"
if cmp -s "$tmp/a.json" "$tmp/b.json"; then pass=$((pass+1)); else echo "FAIL json-deterministic"; fail=$((fail+1)); fi
# nothing half-written on error
"$W" estimate --gpus 1000 -o "$tmp/out.json" 2>/dev/null
if [ ! -e "$tmp/out.json" ] && [ -z "$(ls "$tmp" | grep wanka-tmp)" ]; then pass=$((pass+1)); else echo "FAIL no-partial-output"; fail=$((fail+1)); fi
"$W" estimate -o "$tmp/ok.txt" && grep -q "step time" "$tmp/ok.txt" && pass=$((pass+1)) || { echo "FAIL output-file"; fail=$((fail+1)); }
# every example scenario runs
for f in "$SRC"/examples/*.yaml; do
  expect "example-$(basename "$f")" 0 "step time" -- "$W" estimate "$f"
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
