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
expect catalog-gpu-json 0 '"attention_full_fwd_efficiency": 0.628' -- "$W" catalog gpu h100 --json
expect catalog-list-json 0 '"mixtral-8x7b"' -- "$W" catalog --json
# --catalog: an entry changes only the fields it gives (a price here: the default run's cost
# at 1.90 instead of 2.50 USD per GPU-hour, the step unchanged); a new gpu may start from a base.
printf 'gpus:\n  - {name: h100-sxm, price_per_gpu_hour_usd: 1.9}\n  - {name: my-h100, base: h100-sxm, hbm_gib: 96}\n' > "$tmp/cat.yaml"
expect catalog-override-price 0 "at 1.90 USD per GPU-hour" -- "$W" estimate --catalog "$tmp/cat.yaml"
expect catalog-override-step 0 "step time +4.305 s" -- "$W" estimate --catalog "$tmp/cat.yaml"
expect catalog-override-base 0 "96 GiB" -- "$W" catalog gpu my-h100 --catalog "$tmp/cat.yaml"
"$W" catalog gpu h100 --json > "$tmp/h100.json"
expect catalog-json-roundtrip 0 "step time +4.305 s" -- "$W" estimate --catalog "$tmp/h100.json"
printf 'gpus:\n  - {name: x, base: h100-sxn}\n' > "$tmp/cat-bad.yaml"
expect catalog-bad-base 2 "gpus\[0\]\.base: unknown gpu 'h100-sxn' \(closest: h100-sxm" -- "$W" estimate --catalog "$tmp/cat-bad.yaml"
printf 'calibration:\n  h100-sxm: {hbm_efficiency: 2}\n' > "$tmp/cat-range.yaml"
expect catalog-bad-range 2 "calibration\.h100-sxm\.hbm_efficiency: value 2 is out of range" -- "$W" plan --catalog "$tmp/cat-range.yaml"
expect unknown-gpu 2 "closest: .*h100" -- "$W" estimate --gpu h10
expect unknown-model 2 "unknown model 'llama3-7b'.*closest" -- "$W" estimate --model llama3-7b
expect tp-heads 2 "parallel.tp: 3 does not divide heads" -- "$W" estimate --set parallel.tp=3 --gpus 768
expect bad-product 2 "parallel" -- "$W" estimate --gpus 1000
expect zero-gpus 2 "cluster.num_gpus" -- "$W" estimate --gpus 0
expect absurd-gpus 2 "cluster.num_gpus.*out of range" -- "$W" estimate --gpus 1e30
expect negative-seq 2 "training.seq_len" -- "$W" estimate --seq-len -5
expect not-number 2 "parallel.tp.*not a number" -- "$W" estimate --tp eight
expect empty-flag-value 2 "^wanka: error: --tp: empty value" -- "$W" estimate --tp= --pp 4
expect bad-dispatcher 2 "parallel.ep_dispatcher: unknown EP dispatcher 'nccl'" -- "$W" estimate --set parallel.ep_dispatcher=nccl
expect bad-moe-groups 2 "model.moe.groups: must divide experts" -- "$W" estimate --model mixtral-8x7b --set model.moe.groups=3 --set model.moe.topk_groups=1
expect unknown-key 2 "parallel.tpp: unknown key 'tpp' \(closest: .*tp" -- "$W" estimate --set parallel.tpp=2
expect bad-recompute 2 "parallel.recompute" -- "$W" estimate --recompute sometimes
expect recompute-modules 0 "recompute selective \(layernorm, mla_up_proj, moe_act\)" -- "$W" estimate --model deepseek-v3 --gpus 2048 --tp 1 --pp 16 --vpp 1 --ep 64 --set parallel.allow_uneven_stages=true --recompute-modules moe_act,layernorm,mla_up_proj
expect stage-layers 2 "parallel.first_stage_layers: 70 layers on the edge stages leave 10 of the model's 80 for the other 18" -- "$W" estimate --set parallel.first_stage_layers=40 --set parallel.last_stage_layers=30
expect stage-layers-json 0 '"last_stage_layers": 1' -- "$W" estimate "$SRC/examples/deepseek-v3-2048-h800.yaml" --json
expect read-error-reason 2 "cannot read scenario file '/nonexistent-dir/x.yaml': No such file or directory" -- "$W" estimate /nonexistent-dir/x.yaml
expect serve-set-training 2 "training.seq_len: not used by wanka serve" -- "$W" serve --set training.seq_len=100
expect reliability-split-line 0 "  split      TP[0-9]+" -- "$W" reliability --model llama3-8b --gpus 64 --tp 1 --pp 1 --set parallel.vpp=1 --days 5 --set reliability.runs=20
expect deadline-cost-cheapest 0 "1024 x h100-sxm \(cheapest found\)" -- "$W" plan --tokens 2e12 --days 30 --objective cost
expect set-nested-no-conflict 0 "step time" -- "$W" estimate --tp 8 --set 'parallel={pp: 4, overlap: {tp: false}}'
expect set-json-key-conflict 2 "^wanka: error: --set: parallel is also given by --tp" -- "$W" estimate --tp 8 --set 'parallel={"tp": 2}'
expect set-twice 2 "^wanka: error: --set: parallel.tp is given twice" -- "$W" estimate --set parallel.tp=2 --set parallel.tp=4
expect set-mapping-and-name 0 "model     llama3-8b" -- "$W" estimate --model llama3-8b --gpus 8 --tp 8 --pp 1 --set parallel.vpp=1 --set 'model={layers: 48}'
expect empty-document-value 2 "^wanka: error: --seq-len: training.seq_len: empty value '#8192'" -- "$W" estimate --seq-len '#8192'
# a field a flag gave is named by the flag too, by --set only by its path
expect flag-named-in-error 2 "^wanka: error: --tp: parallel.tp: 'abc' is not a number" -- "$W" estimate --tp abc
expect set-named-by-path 2 "^wanka: error: parallel.tp: 'abc' is not a number" -- "$W" estimate --set parallel.tp=abc
# a usage error is one line on stderr, exit 2
"$W" estimate --bogus > /dev/null 2>"$tmp/usage.err"; rc=$?
if [ "$rc" = 2 ] && [ "$(wc -l < "$tmp/usage.err")" = 1 ] && grep -q "^wanka: error: .*--bogus" "$tmp/usage.err"; then pass=$((pass+1))
else echo "FAIL usage-error-one-line: rc=$rc"; sed 's/^/  | /' "$tmp/usage.err"; fail=$((fail+1)); fi
# a scalar for a block without a name: not read as {name: 4}
expect set-scalar-on-block 2 "^wanka: error: parallel: is a mapping: set its fields" -- "$W" estimate --set parallel=4
printf 'id,submit_s,gpus,duration_s,gpu_type\na,0,8,3600,h100-sxm\nb,10,8,3600,h100-sxm\n' > "$tmp/typed.csv"
expect cluster-gpu-alias 0 "fifo +2 " -- "$W" cluster --trace "$tmp/typed.csv" --gpu h100 --nodes 2 --gpus-per-node 8
printf 'id,submit_s,gpus,duration_s\n3,0,1,10\n,0,1,4\n' > "$tmp/blank-id.csv"
expect cluster-blank-id 2 "job id '3' \(its line number: the row gives no id\) is already used on line 2" -- "$W" cluster --trace "$tmp/blank-id.csv"
printf 'scale_up:\n  - {gbytes_per_s: 900}\n' > "$tmp/link-noname.yaml"
expect catalog-link-noname 2 "scale_up\[0\].name: must be given" -- "$W" catalog --catalog "$tmp/link-noname.yaml"
expect catalog-read-field 2 "^wanka: error: --catalog: cannot read" -- "$W" estimate --catalog "$tmp/nope-catalog.yaml"
expect list-item-spaces 0 "fifo" -- "$W" cluster --trace "$tmp/typed.csv" --gpu h100 --nodes 2 --gpus-per-node 8 --policy 'fifo, sjf'
# an arrival decades after the first is named by its line, not blamed on durations
printf 'id,submit_s,gpus,duration_s\nj1,0,1,10\nj2,4e9,1,10\n' > "$tmp/late.csv"
expect cluster-late-arrival 2 "late.csv:3: job 'j2' arrives 4e\+09 s \(127 years\) after the first one" -- "$W" cluster --trace "$tmp/late.csv" --nodes 2 --gpus-per-node 8 --policy fifo
expect seed-beyond-double 2 "reliability.seed: value 9223372036854775807 is out of range" -- "$W" reliability --seed 9223372036854775807 --set reliability.runs=20
expect cluster-pool-label-with-speed 0 "2 x 8 foo \(speed 2\)" -- "$W" cluster --trace "$SRC/../shared/data/traces/tiresias-sample/60_job.csv" --format tiresias --pools v100:4x8,foo:2x8:2
expect serve-plan-set-gpus 2 "^wanka: error: cluster.num_gpus: not used by wanka serve --plan" -- "$W" serve --plan --users 10 --user-rate 1 --set cluster.num_gpus=16
expect serve-plan-set-mapping 2 "^wanka: error: serving.requests: not used by wanka serve --plan .*\(given in --set serving\)" -- "$W" serve --plan --users 10 --user-rate 1 --set 'serving={input_len: 512, requests: 100}'
expect serve-capacity-without-plan 2 "^wanka: error: --users: not used by wanka serve without --plan" -- "$W" serve --users 5
expect plan-failures-days 2 "^wanka: error: reliability.days: not used by wanka plan --failures" -- "$W" plan --failures --set reliability.days=3
expect set-gpu-base-conflict 2 "^wanka: error: --set: cluster.gpu.base is also given by --gpu" -- "$W" estimate --gpu h100-sxm --set cluster.gpu.base=a100-80g
expect null-unset-unread 0 "ETTR" -- "$W" estimate --failures --set reliability.days=null --set reliability.runs=20
expect bool-any-case 0 "SP off" -- "$W" estimate --set parallel.sequence_parallel=FALSE
expect scale-json-scenario 0 '"scenario": \{' -- "$W" scale --counts 1024 --json
expect catalog-mtp 0 "MTP +1 multi-token-prediction module \(11.61B parameters" -- "$W" catalog model deepseek-v3
expect mtp-layers-range 2 "model.mtp_layers" -- "$W" estimate --set model.mtp_layers=65
expect recompute-modules-brackets 0 "recompute selective \(moe\)" -- "$W" estimate --model mixtral-8x7b --gpus 64 --tp 2 --pp 1 --vpp 1 --ep 8 --recompute-modules " [moe] "
expect recompute-modules-empty-item 2 "parallel.recompute_modules: unknown recompute module ''" -- "$W" estimate --model mixtral-8x7b --gpus 64 --tp 2 --pp 1 --vpp 1 --ep 8 --recompute-modules "moe,,moe_act"
expect bad-recompute-module 2 "parallel.recompute_modules: unknown recompute module 'attn' \(closest" -- "$W" estimate --recompute-modules attn
expect mla-module-dense 2 "parallel.recompute_modules: mla_up_proj needs a model with multi-head latent attention" -- "$W" estimate --recompute-modules mla_up_proj
expect cp-comm-a2a 0 "CP8 \(a2a\)" -- "$W" estimate --model llama2-7b --gpus 64 --tp 1 --pp 1 --vpp 1 --cp 8 --seq-len 32768 --global-batch 8 --cp-comm a2a
expect cp-comm-heads 2 "parallel.cp: cp = 16 must divide the query and KV heads" -- "$W" estimate --model llama2-7b --gpus 128 --tp 4 --pp 1 --vpp 1 --cp 16 --seq-len 32768 --global-batch 8 --cp-comm a2a
expect bad-cp-comm 2 "parallel.cp_comm_type: unknown context-parallel exchange 'ring'" -- "$W" estimate --cp-comm ring
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
# every example scenario runs (planner examples leave the split open)
for f in "$SRC"/examples/*.yaml; do
  if [[ "$(basename "$f")" == serve-* ]]; then
    expect "example-$(basename "$f")" 0 "best replica|TTFT" -- "$W" serve "$f" $(grep -q '^capacity:' "$f" && echo --plan)
  elif grep -q '^parallel:' "$f"; then
    expect "example-$(basename "$f")" 0 "step time" -- "$W" estimate "$f"
  else
    expect "example-$(basename "$f")" 0 "parallel plan" -- "$W" plan "$f" --top 1
  fi
done
# planner
expect plan-default 0 "Pareto front" -- "$W" plan --top 3
expect plan-json 0 '"plans"' -- "$W" plan --json --top 2 --tp 8
expect plan-pinned-empty 2 "parallel.tp: the pins and --exclude leave no possible value .tp divides the 64 heads" -- "$W" plan --tp 3
expect plan-pinned-invalid 2 "parallel: no valid split of llama3-70b on 1024 GPUs within the pinned dimensions .[0-9]+ combinations tried, all invalid: " -- "$W" plan --pp 7
expect plan-pinned-nothing 2 "parallel: the pins and --exclude leave no split" -- "$W" plan --micro-batch 3
# Huge pinned ranges keep only their possible values (they were enumerated one invalid split at a time: over 15 minutes).
expect plan-huge-pinned-ranges 0 "searched" -- timeout 60 "$W" plan --model llama3-8b --gpus 64 --vpp 1..10000 --micro-batch 1..100000 --top 1
expect plan-bad-range 2 "\-\-pp: empty range" -- "$W" plan --pp 8..2
expect plan-cp-comm-both 0 "Ulysses \(a2a\) splits not built" -- "$W" plan --model llama3-8b --gpus 64 --seq-len 8192 --global-batch 256 --pp 1,2 --cp-comm p2p,a2a
expect plan-cp-comm-bad 2 "^wanka: error: --cp-comm: unknown CP exchange .ring." -- "$W" plan --cp-comm ring
expect plan-cost-front 0 "step time vs cost per step" -- "$W" plan --model llama3-8b --gpus 96 --max-idle 0.5 --price 2 --pp 1,3 --tp 1
expect plan-cost-front-json 0 "\"cost_front\": \[" -- "$W" plan --model llama3-8b --gpus 96 --max-idle 0.5 --pp 1,3 --tp 1 --json
expect plan-prime-batch-no-hang 2 "does not fit on 8 x h100-sxm in any allowed split" -- timeout 60 "$W" plan --model llama3-8b --gpus 8 --global-batch 999999937
expect plan-exclude-cp-comm 0 "CP[0-9]+\(a2a\)" -- "$W" plan --model llama3-8b --gpus 64 --seq-len 8192 --global-batch 256 --pp 1 --cp 4 --tp 1 --exclude cp_comm=p2p
expect plan-bad-objective 2 "objective" -- "$W" plan --objective speed
expect plan-bad-exclude 2 "\-\-exclude" -- "$W" plan --exclude foo=1
expect plan-no-fit 2 "smallest cluster on which it fits is [0-9]+ GPUs" -- "$W" plan --model llama3-405b --gpus 8
expect plan-deadline-impossible 2 "\-\-days" -- "$W" plan --model llama3-8b --global-batch 16 --tokens 1.5e13 --days 1
expect plan-deadline-no-tokens 2 "training.tokens" -- "$W" plan --model llama3-8b --set training.tokens=0 --days 30
expect plan-deadline 0 "deadline 30 days" -- "$W" plan --model llama3-8b --gpu h100-sxm --tokens 1.5e12 --days 30 --top 1
# training.tokens and training.flops size the run two ways: a flag for one replaces the other from
# the scenario (the built-in default has a token budget); both at once are refused.
expect flops-replaces-tokens 0 "run: 2.08e\+12 tokens \(1e\+24 FLOPs\)" -- "$W" estimate --flops 1e24
expect tokens-replaces-flops 0 "run: 1e\+12 tokens" -- "$W" estimate "$SRC/examples/gpt4-class-25k-a100.yaml" --tokens 1e12
expect tokens-and-flops-flags 2 "training\.(tokens|flops): given with training.(tokens|flops): they both size the run: give one" -- "$W" estimate --flops 1e24 --tokens 1e12
printf 'model: llama3-8b\ncluster: {gpu: h100-sxm, num_gpus: 8}\ntraining: {seq_len: 4096, global_batch: 64, tokens: 1e12, flops: 1e24}\n' > "$tmp/tf.yaml"
expect tokens-and-flops-file 2 "training\.flops: training.flops and training.tokens both size the run: give one \(line 3" -- "$W" estimate "$tmp/tf.yaml"
expect tokens-and-flops-unset 0 "run: 1e\+12 tokens" -- "$W" estimate "$tmp/tf.yaml" --set training.flops=null
# wanka reliability: a FLOP budget runs like a token budget; a budget flag replaces the file's
# window; a window and a budget as flags are refused.
expect rel-flops-budget 0 "llama3-70b for 2.08e\+10 tokens" -- "$W" reliability --gpus 64 --flops 1e22 --runs 20
expect rel-window-and-budget 2 "^wanka: error: --(days|tokens): (reliability.days|training.tokens): .* are a wall-clock window and a token budget: give one" -- "$W" reliability --gpus 64 --days 5 --tokens 1e10 --runs 20
printf 'model: llama3-8b\ncluster: {gpu: h100-sxm, num_gpus: 64}\ntraining: {seq_len: 4096, global_batch: 256, tokens: 1e10}\nreliability: {days: 5, runs: 20}\n' > "$tmp/relw.yaml"
expect rel-file-window 0 "llama3-8b for a 5-day window" -- "$W" reliability "$tmp/relw.yaml"
expect rel-budget-flag-over-window 0 "llama3-8b for 2e\+10 tokens" -- "$W" reliability "$tmp/relw.yaml" --tokens 2e10
# two fields for the NIC bandwidth: a flag for one replaces the other, both in one file or as
# flags are refused
expect network-flag-over-nic 0 "NIC 200 Gb/s" -- "$W" estimate "$SRC/examples/llama3-405b-16k-h100.yaml" --network ib-hdr-200
expect network-and-nic-flags 2 "^wanka: error: --network: cluster.network: given with cluster.nic_gbps: they both set the NIC bandwidth" -- "$W" estimate --network ib-hdr-200 --nic-gbps 800
printf 'model: llama3-8b\ncluster: {gpu: h100-sxm, num_gpus: 8, network: ib-hdr-200, nic_gbps: 800}\ntraining: {seq_len: 4096, global_batch: 64}\n' > "$tmp/nn.yaml"
expect network-and-nic-file 2 "^wanka: error: cluster.nic_gbps: .*both set the NIC bandwidth: give one \(line 2" -- "$W" estimate "$tmp/nn.yaml"
# a moe field on a dense model is refused, not dropped
expect dense-moe-field 2 "^wanka: error: model.moe.groups: '4' on a dense model: give moe.experts" -- "$W" estimate --model llama3-8b --gpus 8 --tp 1 --pp 1 --set parallel.vpp=1 --set model.moe.groups=4
# a dense model derived from a mixture of experts by experts: 0 drops the base's expert figures
expect dense-from-moe-base 0 "mixtral-8x7b: 7.24B params \(7.24B active\)" -- "$W" estimate --set 'model={base: mixtral-8x7b, moe: {experts: 0}}' --gpus 64 --set parallel.vpp=1 --set parallel.pp=1
# --tokens 0 unsets: --flops then sizes the run; a window set before a budget flag is named as such
expect tokens-zero-and-flops 0 "run: 2.08e\+12 tokens \(1e\+24 FLOPs\)" -- "$W" estimate --tokens 0 --flops 1e24
expect window-then-budget 2 "training.tokens: given with reliability.days: they are a wall-clock window and a token budget" -- "$W" reliability --gpus 64 --set reliability.days=30 --tokens 1e12 --runs 10
# a budget too long to simulate is named by the field (and flag) that gave it
expect rel-budget-too-long 2 "^wanka: error: --tokens: training.tokens: .* failure-free days is beyond what can be simulated" -- "$W" reliability --gpus 64 --tokens 1e14 --runs 10
# estimate --failures applies its goodput to the run it reports: a file's reliability.tokens is
# not read (days with failures were below the failure-free days), and --set of it is refused
printf 'model: {name: llama3-8b}\ncluster: {gpu: h100-sxm, num_gpus: 64}\nparallel: {tp: 1, pp: 1, vpp: 1}\ntraining: {seq_len: 4096, global_batch: 256, tokens: 1e10}\nreliability: {tokens: 5e9, runs: 20}\n' > "$tmp/rt2.yaml"
expect failures-run-budget 0 "for 1e\+10 tokens" -- "$W" estimate "$tmp/rt2.yaml" --failures
expect failures-set-rel-tokens 2 "^wanka: error: reliability.tokens: not used by wanka estimate --failures" -- "$W" estimate --failures --set reliability.tokens=5e9
# uneven stages are named by what was given: vpp, or the edge count
expect uneven-names-vpp 2 "^wanka: error: --vpp: parallel.vpp: pp x vpp = 12 does not divide layers \(80\)" -- "$W" estimate --vpp 3
# a scalar replaces a nested field's mapping (a length distribution), and a --set inside a flag's
# block is named by its path, not the flag
expect set-scalar-on-nested-map 0 "wanka serve" -- "$W" serve "$SRC/examples/serve-llama3-70b-disaggregated.yaml" --set serving.input_len=1000 --set serving.requests=20
expect set-inside-flag-block 2 "^wanka: error: model.moe.groups" -- "$W" estimate --model llama3-8b --set model.moe.groups=4
# serving: a data-parallel degree must agree with the replicas; energy inputs are not read
expect serve-dp-disagrees 2 "^wanka: error: parallel.dp: 1000 replicas of tp x pp = 1 GPUs is not cluster.num_gpus \(8\)" -- "$W" serve --model llama3-8b --gpus 8 --tp 1 --set parallel.dp=1000 --set serving.requests=10
expect serve-dp-agrees 0 "8 replica\(s\) of tp 1 x pp 1" -- "$W" serve --model llama3-8b --gpus 8 --tp 1 --set parallel.dp=8 --set serving.requests=10
expect serve-pue 2 "^wanka: error: cluster.pue: not used by wanka serve \(it reports no energy\)" -- "$W" serve --model llama3-8b --gpus 8 --set cluster.pue=2
expect serve-plan-dp 2 "^wanka: error: parallel.dp: not used by wanka serve --plan" -- "$W" serve --plan --model llama3-8b --set parallel.dp=2
expect scale-csv 0 "^num_gpus,global_batch,feasible,tp,sp,pp,vpp,cp,cp_exchange,ep," -- "$W" scale --counts 64,128 --model llama3-8b --format csv
# every CSV row, feasible (8, 64 GPUs) or not (1 GPU: Llama 3 8B does not fit), has the header's
# 31 columns; the lighter last stage the search may pick fills last_stage_layers
"$W" scale --counts 1,8,64 --model llama3-8b --format csv > "$tmp/scale.csv" 2>/dev/null
if [ "$(awk -F, '{print NF}' "$tmp/scale.csv" | sort -u)" = "31" ] && grep -q '^1,.*,false,' "$tmp/scale.csv" && [ "$(wc -l < "$tmp/scale.csv")" = 4 ]; then pass=$((pass+1))
else echo "FAIL scale-csv-columns"; sed 's/^/  | /' "$tmp/scale.csv" | head -5; fail=$((fail+1)); fi
expect scale-json 0 '"points"' -- "$W" scale --counts 64..256 --model llama3-8b --json
expect scale-bad-counts 2 "\-\-counts" -- "$W" scale --counts 0..4
# the plan is byte-identical whatever the thread count
"$W" plan --json --no-timing --threads 1 > "$tmp/p1.json"; "$W" plan --json --no-timing --threads 2 > "$tmp/p2.json"
if cmp -s "$tmp/p1.json" "$tmp/p2.json"; then pass=$((pass+1)); else echo "FAIL plan-deterministic"; fail=$((fail+1)); fi
# reliability: Monte Carlo of failures and checkpoints (small job, few runs)
R=(--gpus 64 --days 2 --runs 20)
expect rel-text 0 "ETTR +p10" -- "$W" reliability "${R[@]}"
"$W" reliability "${R[@]}" --json > "$tmp/r.json" 2>"$tmp/err"; rc=$?
miss=""; for k in '"ettr"' '"wall_clock_days"' '"interruptions"' '"lost_gpu_hours"' '"by_cause"' '"expected_ettr"'; do
  grep -q -- "$k" "$tmp/r.json" || miss="$miss $k"; done
if [ "$rc" = 0 ] && [ -z "$miss" ]; then pass=$((pass+1)); else echo "FAIL rel-json: rc=$rc, missing$miss"; fail=$((fail+1)); fi
# byte-identical for a seed, whatever the thread count
"$W" reliability "${R[@]}" --seed 7 --json > "$tmp/r1.json"; "$W" reliability "${R[@]}" --seed 7 --json > "$tmp/r2.json"
"$W" reliability "${R[@]}" --seed 7 --json --threads 1 > "$tmp/r3.json"
if [ -s "$tmp/r1.json" ] && cmp -s "$tmp/r1.json" "$tmp/r2.json" && cmp -s "$tmp/r1.json" "$tmp/r3.json"; then pass=$((pass+1)); else echo "FAIL rel-deterministic"; fail=$((fail+1)); fi
# ... and a different seed gives different runs
"$W" reliability "${R[@]}" --seed 8 --json > "$tmp/r4.json"
if ! cmp -s "$tmp/r1.json" "$tmp/r4.json"; then pass=$((pass+1)); else echo "FAIL rel-seed-matters"; fail=$((fail+1)); fi
expect rel-tokens 0 "failure-free days" -- "$W" reliability --gpus 64 --tokens 1e10 --runs 20
expect rel-tier-peer 0 "tier peer" -- "$W" reliability "${R[@]}" --tier peer
expect rel-negative-rate-scale 2 "reliability.rate_scale" -- "$W" reliability "${R[@]}" --set reliability.rate_scale=-1
expect rel-negative-rate 2 "reliability.rates.faulty_gpu" -- "$W" reliability "${R[@]}" --set reliability.rates.faulty_gpu=-1
expect rel-bad-tier 2 "reliability.checkpoint.tier: unknown checkpoint tier 'tape' \(one of: storage, nvme, cpu, peer\)" -- "$W" reliability "${R[@]}" --tier tape
expect rel-storage-full 2 "reliability.checkpoint.storage_capacity_tb" -- "$W" reliability "${R[@]}" --set reliability.checkpoint.storage_capacity_tb=0.001
expect rel-peer-replicas-over-nodes 2 "reliability.checkpoint.replicas: 2 replicas need as many nodes; the job has 1" -- "$W" reliability --model llama3-8b --gpus 8 --days 1 --runs 5 --tier peer
expect rel-host-memory 2 "reliability.checkpoint.host_memory_gb" -- "$W" reliability "${R[@]}" --tier cpu --set reliability.checkpoint.host_memory_gb=1
expect rel-short-interval 2 "reliability.checkpoint.interval_s: .*(shorter than a checkpoint write|below 1 s)" -- "$W" reliability "${R[@]}" --tier peer --set reliability.checkpoint.interval_s=0.5
expect rel-unknown-cause 2 "reliability.rates.gpu: unknown failure cause 'gpu' \(closest: .*faulty_gpu" -- "$W" reliability "${R[@]}" --set reliability.rates.gpu=1
expect rel-no-budget 2 "reliability.days" -- "$W" reliability --gpus 64 --runs 20 --set training.tokens=0
expect rel-work-bound 2 "reliability.runs: .*expected failure arrivals" -- "$W" reliability --gpus 64 --days 365 --rate-scale 10000
expect rel-bad-runs 2 "reliability.runs" -- "$W" reliability --gpus 64 --days 2 --runs 0
# nothing half-written on a reliability error
"$W" reliability "${R[@]}" --tier tape -o "$tmp/rel-out.json" 2>/dev/null
if [ ! -e "$tmp/rel-out.json" ]; then pass=$((pass+1)); else echo "FAIL rel-no-partial-output"; fail=$((fail+1)); fi
# estimate --failures: goodput beside the failure-free run
"$W" estimate --gpus 64 --tokens 1e10 --failures --json --set reliability.runs=20 > "$tmp/ef.json" 2>"$tmp/err"; rc=$?
if [ "$rc" = 0 ] && grep -q '"goodput": {' "$tmp/ef.json" && grep -q '"failure_free": {' "$tmp/ef.json"; then pass=$((pass+1))
else echo "FAIL estimate-failures-json: rc=$rc"; sed 's/^/  | /' "$tmp/err" | head -5; fail=$((fail+1)); fi
# estimate-failures-json-echoes-simulated-inputs: a scenario with reliability.days runs the token
# budget (days 0); the echoed inputs are those simulated, not the file's 5-day window.
printf 'model: llama3-8b\ncluster: {gpu: h100-sxm, num_gpus: 64}\ntraining: {seq_len: 4096, global_batch: 256, tokens: 1e10}\nreliability: {days: 5, runs: 20}\n' > "$tmp/rel5.yaml"
"$W" estimate "$tmp/rel5.yaml" --failures --json > "$tmp/ef5.json" 2>"$tmp/err"; rc=$?
if [ "$rc" = 0 ] && grep -q '"mode": "tokens"' "$tmp/ef5.json" && grep -q '^      "days": 0.0,' "$tmp/ef5.json" && ! grep -q '"days": 5.0' "$tmp/ef5.json"; then pass=$((pass+1))
else echo "FAIL estimate-failures-json-echoes-simulated-inputs: rc=$rc"; fail=$((fail+1)); fi
# the --json scenario of estimate --failures and of reliability carries the reliability block
# (GEMINI's peer tier): read back, the same days and ETTR
"$W" estimate "$SRC/examples/reliability-gemini-100b-128-a100.yaml" --failures --json --set reliability.runs=50 > "$tmp/efg.json"
python3 -c "import json,sys; json.dump(json.load(open(sys.argv[1]))['scenario'], open(sys.argv[2], 'w'))" "$tmp/efg.json" "$tmp/efg-scenario.json"
expect estimate-failures-scenario-round-trip 0 "^same$" -- python3 -c "import json,subprocess,sys; a=json.load(open(sys.argv[1]))['run']['days']; b=json.loads(subprocess.run([sys.argv[3], 'estimate', sys.argv[2], '--failures', '--json'], capture_output=True, text=True).stdout)['run']['days']; print('same' if a == b else f'{a} != {b}')" "$tmp/efg.json" "$tmp/efg-scenario.json" "$W"
"$W" reliability "$SRC/examples/reliability-gemini-100b-128-a100.yaml" --json --set reliability.runs=50 > "$tmp/rg.json"
python3 -c "import json,sys; json.dump(json.load(open(sys.argv[1]))['scenario'], open(sys.argv[2], 'w'))" "$tmp/rg.json" "$tmp/rg-scenario.json"
expect reliability-scenario-round-trip 0 "^same$" -- python3 -c "import json,subprocess,sys; a=json.load(open(sys.argv[1]))['ettr']; b=json.loads(subprocess.run([sys.argv[3], 'reliability', sys.argv[2], '--json'], capture_output=True, text=True).stdout)['ettr']; print('same' if a == b else f'{a} != {b}')" "$tmp/rg.json" "$tmp/rg-scenario.json" "$W"
expect set-reliability-without-failures 2 "^wanka: error: reliability.runs: not used by wanka estimate without --failures" -- "$W" estimate --set reliability.runs=5
expect set-reliability-days-estimate 2 "^wanka: error: reliability.days: not used by wanka estimate --failures" -- "$W" estimate --failures --set reliability.days=5
expect estimate-failures-text 0 "with failures: ETTR" -- "$W" estimate --gpus 64 --tokens 1e10 --failures --set reliability.runs=20
# plan --failures: every entry carries its expected ETTR
"$W" plan --failures --top 2 --json --model llama3-8b --gpus 64 > "$tmp/pf.json" 2>"$tmp/err"; rc=$?
n=$(grep -c '"expected_ettr": 0\.[0-9]' "$tmp/pf.json")
if [ "$rc" = 0 ] && [ "$n" = 2 ]; then pass=$((pass+1)); else echo "FAIL plan-failures-json: rc=$rc, $n expected_ettr"; fail=$((fail+1)); fi
# plan --failures: splits whose checkpoint does not fit are dropped; none left is exit 2 naming the field
expect plan-failures-no-checkpoint-fits 2 "reliability.checkpoint.host_memory_gb: the checkpoint of none of the" -- "$W" plan --failures --model llama3-8b --gpus 64 --set reliability.checkpoint.tier=cpu --set reliability.checkpoint.host_memory_gb=1
# plan and scale refuse the recompute modules estimate refuses (a dense model has no MoE modules)
expect plan-dense-moe-modules 2 "^wanka: error: --recompute-modules: parallel.recompute_modules: moe_act, moe and shared_experts apply to MoE models" -- "$W" plan --recompute selective --recompute-modules moe_act
expect scale-dense-mla-modules 2 "^wanka: error: --recompute-modules: parallel.recompute_modules: mla_up_proj needs a model with multi-head latent attention" -- "$W" scale --model llama3-70b --recompute-modules mla_up_proj --counts 64
# plan --failures: splits on which interruptions come faster than a recovery are dropped (as
# estimate --failures refuses them); none left is exit 2
expect plan-failures-no-progress 2 "^wanka: error: reliability: none of the 50 best plans makes progress" -- "$W" plan --failures --model llama3-8b --gpus 64 --set reliability.rate_scale=5000
expect plan-days-gpus 2 "^wanka: error: --gpus: conflicts with --days: the reverse solve sizes the cluster" -- "$W" plan --days 30 --gpus 4096
expect reliability-does-not-fit 0 "note: this split does not fit in memory" -- "$W" reliability "$SRC/examples/reliability-gemini-100b-128-a100.yaml" --gpus 16 --dp 16 --tier storage --set reliability.runs=10
# plan --days --failures holds the days with failures against the deadline: 112 GPUs meet 11
# days failure-free (10.5) but not with 100x the failure rates (12.2), so 128 are needed
expect plan-days-failure-free 0 "^deadline 11 days for 1e\+12 tokens: 112 x h100-sxm" -- "$W" plan --model llama3-8b --tokens 1e12 --days 11
expect plan-days-failures 0 "^deadline 11 days for 1e\+12 tokens: 128 x h100-sxm \(smallest\), best plan 9.2 days, .* with failures \(expected ETTR" -- "$W" plan --model llama3-8b --tokens 1e12 --days 11 --failures --set reliability.rate_scale=100
# serving (issue 5)
expect serve-default 0 "TTFT" -- "$W" serve
expect serve-json 0 '"output_tokens_per_s_per_gpu"' -- "$W" serve --json --requests 200
expect serve-offline 0 "50 \(offline\), 50 completed" -- "$W" serve --offline --requests 50
expect serve-iteration-limit 2 "^wanka: error: serving.max_batch: these requests need at least 4.1e\+10 scheduler iterations" -- timeout 60 "$W" serve --set serving.requests=10000000 --set serving.max_batch=1 --set serving.output_len=4096
expect serve-rate 0 "Poisson 2/s" -- "$W" serve --rate 2 --requests 50
expect serve-bad-rate 2 "serving.arrival_rate_per_s" -- "$W" serve --rate -1
expect serve-bad-kv-pool 2 "serving.kv_pool: unknown KV pool rule 'sglang'" -- "$W" serve --set serving.kv_pool=sglang
expect serve-adp-dense 2 "serving.attention_dp: attention data parallelism is modelled for mixture-of-experts models only" -- "$W" serve --set serving.attention_dp=true
expect serve-disagg 0 "1 prefill \+ 1 decode" -- "$W" serve --gpus 8 --tp 4 --prefill-replicas 1 --requests 100
expect serve-len-override 0 "200 completed" -- "$W" serve "$SRC/examples/serve-llama3-70b-disaggregated.yaml" --input-len 300 --requests 200
expect serve-bad-len 2 "serving.input_len.mean: expected an integer" -- "$W" serve --input-len 1.5
expect serve-no-fit 2 "parallel: llama3-405b does not fit" -- "$W" serve --model llama3-405b --gpus 1 --tp 1
expect serve-bad-precision 2 "serving.weight_precision: unknown weight precision 'int3'" -- "$W" serve --weight-precision int3
expect serve-bad-tp 2 "parallel.tp" -- "$W" serve --tp 3 --gpus 3
expect serve-bad-disagg 2 "serving.disaggregation.prefill_replicas" -- "$W" serve --prefill-replicas 1
printf '0,100,10\n0.5,200,20\n1.0,abc,5\n' > "$tmp/bad.csv"
expect serve-trace-malformed 2 "serving.trace: .*bad.csv:3: cannot parse input length 'abc'" -- "$W" serve --trace "$tmp/bad.csv"
printf 'arrival_s,input,output\n0,100,10\n0.5,200,20\n' > "$tmp/ok.csv"
expect serve-trace 0 "2 completed" -- "$W" serve --trace "$tmp/ok.csv"
printf '\xef\xbb\xbf0,100,10\n0.5,200,20\n' > "$tmp/bom.csv"
expect serve-trace-bom 0 "2 completed" -- "$W" serve --trace "$tmp/bom.csv"
printf '0,100,10\n11900,200,20\n' > "$tmp/long.csv"
expect serve-trace-scale 2 "^wanka: error: serving.trace_time_scale: stretches the trace's 1.19e\+04 s to 1.19e\+10 s" -- "$W" serve --trace "$tmp/long.csv" --set serving.trace_time_scale=1e6
expect serve-set-below-scalar 2 "^wanka: error: serving.max_batch_tokens: is a value \('8192'\), not a mapping: cannot set serving.max_batch_tokens.x" -- "$W" serve --set serving.max_batch_tokens.x=3
expect serve-set-length-field 2 "^wanka: error: serving.output_len.max: a fixed length has no max" -- "$W" serve --set serving.output_len.max=64
expect serve-set-length-dist 0 "200 completed" -- "$W" serve --requests 200 --set serving.output_len.dist=exponential
expect serve-workspace 2 "^wanka: error: --max-batch: serving.max_batch: max_batch 200000 sizes an activation workspace" -- "$W" serve --model llama3-8b --gpus 1 --tp 1 --max-batch 200000
expect serve-context-note 0 "note +requests reach 31999 positions \(input \+ output - 1\), beyond llama2-7b's context of 4096" -- "$W" serve --model llama2-7b --gpus 1 --tp 1 --input-len 30000 --output-len 2000 --requests 2 --offline
expect serve-fleet-few-requests 0 "1 completed" -- "$W" serve --model llama3-8b --tp 1 --gpus 10000000 --requests 1
"$W" serve --offline --requests 20 --json > "$tmp/serve.json"
python3 -c "import json,sys; json.dump(json.load(open(sys.argv[1]))['scenario'], open(sys.argv[2], 'w'))" "$tmp/serve.json" "$tmp/serve-scenario.json"
expect serve-json-scenario-round-trip 0 "20 \(offline\), 20 completed" -- "$W" serve "$tmp/serve-scenario.json"
"$W" serve --plan --model llama3-8b --users 1000 --user-rate 2 --json > "$tmp/plan.json"
python3 -c "import json,sys; json.dump(json.load(open(sys.argv[1]))['scenario'], open(sys.argv[2], 'w'))" "$tmp/plan.json" "$tmp/plan-scenario.json"
expect serve-plan-json-scenario-round-trip 0 "best replica" -- "$W" serve --plan "$tmp/plan-scenario.json"
expect serve-speculative 0 "speculative +1 draft\(s\) per step by mtp, acceptance 0.875: 1.8[0-9] tokens per verification step \(1.88 expected when every draft is proposed\)" -- "$W" serve "$SRC/examples/serve-deepseek-v3-mtp.yaml" --set serving.requests=8
expect serve-speculative-vocab 2 "^wanka: error: serving.speculative.draft: llama2-7b's vocabulary \(32000\) is not llama3-70b's \(128256\)" -- "$W" serve --set 'serving.speculative={tokens: 2, acceptance: 0.7, draft: llama2-7b}'
expect serve-trace-requests 2 "^wanka: error: --requests: conflicts with --trace" -- "$W" serve --trace "$tmp/ok.csv" --requests 5
expect serve-plan-max-batch-pinned 0 "max_batch 4:" -- "$W" serve --plan --model llama3-8b --users 10000 --user-rate 2 --max-batch 4
"$W" serve --trace "$tmp/ok.csv" --json > "$tmp/trace.json"
python3 -c "import json,sys; json.dump(json.load(open(sys.argv[1]))['scenario'], open(sys.argv[2], 'w'))" "$tmp/trace.json" "$tmp/trace-scenario.json"
expect serve-trace-json-round-trip 0 "2 completed" -- "$W" serve "$tmp/trace-scenario.json"
# an inline GPU (a changed catalog entry) is written out whole, on its base's calibration
"$W" estimate --set 'cluster.gpu={base: h100-sxm, hbm_gib: 40, peak_tflops: {bf16: 1200}}' --json > "$tmp/gpu.json"
python3 -c "import json,sys; json.dump(json.load(open(sys.argv[1]))['scenario'], open(sys.argv[2], 'w'))" "$tmp/gpu.json" "$tmp/gpu-scenario.json"
expect estimate-inline-gpu-round-trip 0 "capacity 40.0 GiB" -- "$W" estimate "$tmp/gpu-scenario.json"
expect estimate-inline-gpu-same-mfu 0 "^same$" -- python3 -c "import json,subprocess,sys; a=json.load(open(sys.argv[1]))['mfu']; b=json.loads(subprocess.run([sys.argv[3], 'estimate', sys.argv[2], '--json'], capture_output=True, text=True).stdout)['mfu']; print('same' if a == b else f'{a} != {b}')" "$tmp/gpu.json" "$tmp/gpu-scenario.json" "$W"
expect estimate-catalog-gpu-by-name 0 '"gpu": "h100-sxm"' -- "$W" estimate --json
expect serve-plan-json-no-parallel-pin 0 "^no pin$" -- python3 -c "import json,sys; print('pinned' if 'parallel' in json.load(open(sys.argv[1])) else 'no pin')" "$tmp/plan-scenario.json"
printf 'gpus: []\nmodels:\n  - {name: short-draft, base: llama3-8b, max_seq_len: 2048}\n' > "$tmp/short-draft.yaml"
expect serve-draft-context-note 0 "note +requests reach 3099 positions, beyond the draft short-draft's context of 2048" -- "$W" serve --catalog "$tmp/short-draft.yaml" --input-len 3000 --output-len 100 --requests 4 --offline --set 'serving.speculative={tokens: 2, acceptance: 0.7, draft: short-draft}'
printf 'model: llama3-8b\ncluster: {gpu: h100-sxm, num_gpus: 1}\nparallel: {tp: 1}\nserving: {trace: ok.csv, arrival_rate_per_s: 5}\n' > "$tmp/trace-rate.yaml"
expect serve-file-trace-and-rate 2 "^wanka: error: serving.arrival_rate_per_s: not used with serving.trace" -- "$W" serve "$tmp/trace-rate.yaml"
printf 'model: llama3-8b\ncluster: {gpu: h100-sxm, num_gpus: 1}\nparallel: {tp: 1}\nserving: {arrival_rate_per_s: 5}\n' > "$tmp/rate.yaml"
expect serve-flag-trace-replaces-rate 0 "2 \(trace .*ok.csv\), 2 completed" -- "$W" serve "$tmp/rate.yaml" --trace "$tmp/ok.csv"
expect serve-slo-unmeetable 2 "serving.slo: no configuration meets" -- "$W" serve --plan --users 1000 --user-rate 1 --ttft 0.001
expect serve-plan-no-users 2 "capacity.users" -- "$W" serve --plan --user-rate 1
expect validate-serving 0 "all throughput" -- "$W" validate --serving --worst 0
expect validate-kernels 0 "gemm-deepgemm" -- "$W" validate --kernels --worst 0
expect validate-kernels-plan 2 "excludes" -- "$W" validate --kernels --plan
printf 'id,source,model,kind,gpu,precision,m,n,k,groups,metric,value,unit,trust,citation\nbad,s,x,gemm,h100-sxm,bf16,0,8,8,1,tflops,100,TFLOP/s,,\n' > "$tmp/kern.csv"
expect validate-kernels-bad-row 0 "FAILED: m: expected a positive number, got '0'" -- "$W" validate --kernels --file "$tmp/kern.csv"
expect validate-plan-json 0 "\"in_top_same_recompute\"" -- "$W" validate --plan --json
expect serve-plan 0 "best replica" -- "$W" serve --plan --model llama3-8b --users 10000 --user-rate 2
"$W" serve --json --requests 300 > "$tmp/s1.json"; "$W" serve --json --requests 300 > "$tmp/s2.json"
if [ -s "$tmp/s1.json" ] && cmp -s "$tmp/s1.json" "$tmp/s2.json"; then pass=$((pass+1)); else echo "FAIL serve-deterministic"; fail=$((fail+1)); fi
"$W" serve --trace "$tmp/bad.csv" -o "$tmp/serve-out.json" 2>/dev/null
if [ ! -e "$tmp/serve-out.json" ]; then pass=$((pass+1)); else echo "FAIL serve-no-partial-output"; fail=$((fail+1)); fi

# cluster: trace replay under scheduling policies
TR="$SRC/../shared/data/traces"
printf 'id,submit_s,gpus,duration_s\nA,0,1,10\nB,0,1,4\nC,0,1,1\n' > "$tmp/jobs.csv"
expect cluster-table 0 "sjf .* 7 " -- "$W" cluster --trace "$tmp/jobs.csv" --nodes 1 --gpus-per-node 1 --policy fifo,sjf
expect cluster-json 0 '"avg_jct_s": 13' -- "$W" cluster --trace "$tmp/jobs.csv" --nodes 1 --gpus-per-node 1 --json
"$W" cluster --trace "$tmp/jobs.csv" --nodes 1 --gpus-per-node 1 --policy fifo,sjf --json > "$tmp/cj.json"
n=0; for k in name jobs avg_jct_s p50_jct_s p99_jct_s avg_queue_s utilization makespan_s elapsed_s; do grep -q "\"$k\": " "$tmp/cj.json" && n=$((n+1)); done
if [ "$n" = 9 ] && grep -q '"policies": \[' "$tmp/cj.json"; then pass=$((pass+1)); else echo "FAIL cluster-json-contract ($n of 9 keys)"; fail=$((fail+1)); fi
expect cluster-unknown-policy 2 "\-\-policy: unknown policy 'fif' \(closest: fifo" -- "$W" cluster --trace "$tmp/jobs.csv" --policy fif
expect cluster-unknown-format 2 "\-\-format: unknown trace format" -- "$W" cluster --trace "$tmp/jobs.csv" --format yarn
printf 'id,submit_s,gpus,duration_s\nA,0,1,10\nB,0,1,-4\n' > "$tmp/neg.csv"
expect cluster-negative 2 "neg.csv:3: duration_s: -4 is negative" -- "$W" cluster --trace "$tmp/neg.csv"
printf 'id,submit_s,gpus,duration_s\nA,0,1,10\nB,0,64,4\n' > "$tmp/big.csv"
printf '\xEF\xBB\xBFid,submit_s,gpus,duration_s\nA,0,1,10\n' > "$tmp/bom.csv"
expect cluster-trace-bom 0 "fifo +1 +10" -- "$W" cluster --trace "$tmp/bom.csv" --nodes 1 --gpus-per-node 1 --policy fifo
expect cluster-policy-twice 2 "^wanka: error: --policy: 'fifo' is listed twice" -- "$W" cluster --trace "$tmp/bom.csv" --nodes 1 --gpus-per-node 1 --policy fifo,sjf,fifo
printf 'id,submit_s,gpus,duration_s,gpu_type\nA,0,1,10,v10O\nB,0,1,10,v100\n' > "$tmp/typo.csv"
expect cluster-gpu-type-typo 0 "note: 1 job\(s\) of gpu_type 'v10O', which no pool has, are skipped \(unknown pool 'v10O' \(closest: v100\)\)" -- "$W" cluster --trace "$tmp/typo.csv" --nodes 1 --gpus-per-node 1 --gpu v100 --policy fifo
expect cluster-no-timing-text 0 "^fifo .* 0 +-$" -- "$W" cluster --trace "$tmp/bom.csv" --nodes 1 --gpus-per-node 1 --policy fifo --no-timing
# the CSV files keep every digit (were 6 significant: 1e+06, 1.23457e+06)
printf 'id,submit_s,gpus,duration_s\nA,0,1,1234567\nB,1000003,1,7654321\n' > "$tmp/prec.csv"
"$W" cluster --trace "$tmp/prec.csv" --nodes 1 --gpus-per-node 1 --policy fifo --jobs "$tmp/prec-jobs.csv" > /dev/null
expect cluster-jobs-csv-precision 0 "^fifo,B,1000003,1,7654321,234564,7888885$" -- cat "$tmp/prec-jobs.csv"
expect cluster-oversize-skip 0 "1 jobs larger than the cluster were skipped" -- "$W" cluster --trace "$tmp/big.csv" --nodes 2 --gpus-per-node 8
expect cluster-oversize-refuse 2 "job B: needs 64 GPUs" -- "$W" cluster --trace "$tmp/big.csv" --nodes 2 --gpus-per-node 8 --oversize refuse
expect cluster-missing-trace 2 "cannot read" -- "$W" cluster --trace "$tmp/nope.csv"
expect cluster-oversub-alone 2 "\-\-rack-oversubscription: needs \-\-slowdown-model" -- "$W" cluster --trace "$tmp/jobs.csv" --rack-oversubscription 4
expect cluster-slowdown-model 0 '"cross_rack_slowdown_by_gpus"' -- "$W" cluster --trace "$tmp/big.csv" --nodes 8 --gpus-per-node 8 --nodes-per-rack 2 --slowdown-model gpt-1.7b --rack-oversubscription 4 --json
printf 'id,submit_s,gpus,duration_s\nA,0,1,1e30\nB,5,1,5\n' > "$tmp/huge.csv"
expect cluster-huge-times 2 "\-\-trace: 1 of 2 jobs did not finish" -- "$W" cluster --trace "$tmp/huge.csv"
"$W" cluster --trace "$tmp/neg.csv" -o "$tmp/cl-out.json" --json 2>/dev/null
if [ ! -e "$tmp/cl-out.json" ]; then pass=$((pass+1)); else echo "FAIL cluster-no-partial-output"; fail=$((fail+1)); fi
"$W" cluster --trace "$tmp/jobs.csv" --policy all --json --no-timing --series "$tmp/s.csv" > "$tmp/c1.json"
"$W" cluster --trace "$tmp/jobs.csv" --policy all --json --no-timing --threads 1 > "$tmp/c2.json"
if cmp -s "$tmp/c1.json" "$tmp/c2.json" && grep -q '^fifo,' "$tmp/s.csv"; then pass=$((pass+1)); else echo "FAIL cluster-deterministic"; fail=$((fail+1)); fi
if [ -d "$TR" ]; then
  expect cluster-tiresias 0 "tiresias +60 " -- "$W" cluster --trace "$TR/tiresias-sample/60_job.csv" --format tiresias --nodes 4 --gpus-per-node 4 --policy fifo,tiresias
  expect cluster-pollux 0 '"name": "tiresias"' -- "$W" cluster --trace "$TR/pollux-workloads/workloads/workload-1.csv" --format pollux --nodes 16 --gpus-per-node 4 --policy fifo,tiresias --json
fi
# Files: a directory is no input and no output (it crashed: "internal error"); a symlinked
# output is written through, the link kept; several outputs are written all or none.
expect input-directory 2 "cannot read scenario file '.*': it is a directory" -- "$W" estimate "$tmp"
mkdir -p "$tmp/outdir"
expect output-directory 2 "^wanka: error: --output: cannot write '.*outdir': it is a directory" -- "$W" estimate -o "$tmp/outdir"
[ -z "$(ls -A "$tmp/outdir")" ] && pass=$((pass+1)) || { echo "FAIL output-directory-left-files"; fail=$((fail+1)); }
echo old > "$tmp/target.txt"; ln -s "$tmp/target.txt" "$tmp/link.txt"
"$W" estimate -o "$tmp/link.txt" && [ -L "$tmp/link.txt" ] && grep -q "step time" "$tmp/target.txt" && pass=$((pass+1)) || { echo "FAIL output-symlink"; fail=$((fail+1)); }
printf 'id,submit_s,gpus,duration_s\nA,0,1,10\nB,0,1,4\n' > "$tmp/jobs.csv"
expect cluster-series-unwritable 2 "^wanka: error: --series: cannot write '.*s.csv': No such file or directory" -- "$W" cluster --trace "$tmp/jobs.csv" --format csv --nodes 1 --gpus-per-node 1 --gpu h100-sxm --series "$tmp/no/such/dir/s.csv" -o "$tmp/cluster-main.txt"
[ ! -e "$tmp/cluster-main.txt" ] && pass=$((pass+1)) || { echo "FAIL cluster-series-unwritable-half-written"; fail=$((fail+1)); }
expect cluster-infinite-failure-rate 2 "failure-rate-scale: must be in" -- "$W" cluster --trace "$tmp/jobs.csv" --format csv --nodes 1 --gpus-per-node 1 --gpu h100-sxm --failures interrupt --failure-rate-scale inf
expect cluster-negative-seed 2 "^wanka: error: --seed: must be an integer in \[0, 18446744073709551615\], got '-1'" -- "$W" cluster --trace "$tmp/jobs.csv" --format csv --nodes 1 --gpus-per-node 1 --gpu h100-sxm --seed -1
expect cluster-seed-too-large 2 "^wanka: error: --seed: must be an integer in \[0, " -- "$W" cluster --trace "$tmp/jobs.csv" --seed 18446744073709551616
expect cluster-seed-exponent 2 "^wanka: error: --seed: must be an integer in \[0, " -- "$W" cluster --trace "$tmp/jobs.csv" --seed 1e30
# Silent defaults are refused: an empty argument, a duplicate key, a second YAML document.
expect empty-argument 2 "^wanka: error: --seq-len: empty value" -- "$W" estimate --seq-len ""
expect empty-set-value 2 "^wanka: error: --set: empty value for parallel.tp" -- "$W" estimate --set parallel.tp=
printf 'model: {name: llama3-8b}\ncluster: {gpu: h100-sxm, num_gpus: 8, num_gpus: 16}\n' > "$tmp/dup.yaml"
expect yaml-duplicate-key 2 "^wanka: error: cluster.num_gpus: duplicate key .line 2" -- "$W" estimate "$tmp/dup.yaml"
printf 'model: {name: llama3-8b}\ncluster: {gpu: h100-sxm, num_gpus: 8}\n---\nmodel: {name: llama3-70b}\n' > "$tmp/two.yaml"
expect yaml-two-documents 2 "2 YAML documents; give one" -- "$W" estimate "$tmp/two.yaml"
printf 'foo,bar\n1,2\n' > "$tmp/notvalidation.csv"
expect validate-wrong-columns 2 "^wanka: error: --file: missing columns: id, source, metric, value" -- "$W" validate --file "$tmp/notvalidation.csv"
expect plan-infinite-days 2 "^wanka: error: --days: must be in" -- "$W" plan --model llama3-8b --tokens 1e12 --days inf
expect serve-capacity-without-plan 2 "^wanka: error: parallel: the scenario has a capacity block and no split: add --plan" -- "$W" serve "$SRC/examples/serve-gpt4-25-messages-per-3h.yaml"
expect serve-plan-with-trace 2 "^wanka: error: (--trace: )?serving.trace: capacity planning simulates Poisson arrivals" -- "$W" serve --plan --model llama3-8b --users 100 --user-rate 1 --trace "$tmp/notvalidation.csv"
# A vanishing failure rate caps the checkpoint interval at the run (it was infinite: NaN ETTRs).
expect reliability-vanishing-rate 0 "ETTR +p10 100.0%" -- "$W" reliability --gpus 64 --days 2 --runs 20 --rate-scale 1e-300
"$W" reliability --gpus 64 --days 2 --runs 20 --rate-scale 1e-300 --json | grep -Eq '"(p10|p50|p90|useful_gpu_hours|mean)": null' && { echo "FAIL reliability-vanishing-rate-json"; fail=$((fail+1)); } || pass=$((pass+1))
# Two outputs naming one file are refused (both wrote one temporary); a dangling symlink's target is created.
expect output-same-file-twice 2 "^wanka: error: --series: cannot write '.*same.out': the same file as --output" -- "$W" cluster --trace "$tmp/jobs.csv" --format csv --nodes 1 --gpus-per-node 1 --gpu h100-sxm -o "$tmp/same.out" --series "$tmp/same.out"
[ ! -e "$tmp/same.out" ] && pass=$((pass+1)) || { echo "FAIL output-same-file-twice-written"; fail=$((fail+1)); }
mkdir -p "$tmp/d1"; ln -s d1/new.json "$tmp/dangling"
"$W" estimate --json -o "$tmp/dangling" && [ -L "$tmp/dangling" ] && [ -s "$tmp/d1/new.json" ] && pass=$((pass+1)) || { echo "FAIL output-dangling-symlink"; fail=$((fail+1)); }
# A YAML stream of one byte made yaml-cpp's LoadAll loop forever (fuzzing); a trailing --- is harmless.
printf ',' > "$tmp/comma.yaml"
expect yaml-comma 2 "^wanka: error: " -- timeout 20 "$W" estimate "$tmp/comma.yaml"
printf -- '---\nmodel: {name: llama3-8b}\ncluster: {gpu: h100-sxm, num_gpus: 8}\n---\n' > "$tmp/trailing.yaml"
expect yaml-trailing-marker 0 "step time" -- "$W" estimate "$tmp/trailing.yaml"
expect plan-exclude-repeated 0 "TP1 " -- "$W" plan --exclude tp=2 --exclude tp=4 --exclude tp=8 --top 1
# A malformed first data line is reported, not skipped as a header; impossible dates are refused.
printf 'abc,100,10\n1,100,10\n' > "$tmp/badfirst.csv"
expect serve-trace-bad-first-line 2 "badfirst.csv:1: cannot parse arrival time 'abc'" -- "$W" serve --trace "$tmp/badfirst.csv"
printf 'TIMESTAMP,ContextTokens,GeneratedTokens\n2023-02-30 18:15:50.0,100,10\n' > "$tmp/feb30.csv"
expect serve-trace-impossible-date 2 "feb30.csv:2: cannot parse arrival time" -- "$W" serve --trace "$tmp/feb30.csv"
# A capacity block beside disaggregation plans colocated replicas; a BOM before a comment and ---
# is one document; two spellings of one output path are one file.
expect serve-plan-disaggregated-example 0 "best replica" -- "$W" serve "$SRC/examples/serve-llama3-70b-disaggregated.yaml" --plan --users 200 --user-rate 10
printf '\xEF\xBB\xBF# c\n---\nmodel: {name: llama3-8b}\ncluster: {gpu: h100-sxm, num_gpus: 8}\n' > "$tmp/bom.yaml"
expect yaml-bom-comment-marker 0 "step time" -- "$W" estimate "$tmp/bom.yaml"
WA="$W"; case "$WA" in /*) ;; *) WA="$PWD/$WA" ;; esac
(cd "$tmp" && "$WA" cluster --trace jobs.csv --format csv --nodes 1 --gpus-per-node 1 --gpu h100-sxm -o ./twice.txt --series twice.txt 2>/dev/null); [ $? -eq 2 ] && [ ! -e "$tmp/twice.txt" ] && pass=$((pass+1)) || { echo "FAIL output-same-file-two-spellings"; fail=$((fail+1)); }
# Conflicting flags are refused, an unknown command gets the closest ones, CLI11's messages
# read like wanka's, and scale's counts are sorted once each.
expect unknown-command 2 "^wanka: error: unknown command 'estimat' .closest: estimate" -- "$W" estimat
expect cli11-message-prefix 2 "^wanka: error: Could not convert: --top" -- "$W" plan --top 1e9
expect serve-offline-and-rate 2 "^wanka: error: --offline: conflicts with --rate" -- "$W" serve --offline --rate 2
expect scale-json-and-csv 2 "^wanka: error: --json: conflicts with --format csv" -- "$W" scale --format csv --json
expect cluster-json-and-csv 2 "^wanka: error: --json: conflicts with --csv" -- "$W" cluster --trace "$tmp/jobs.csv" --format csv --nodes 1 --gpus-per-node 1 --gpu h100-sxm --csv --json
"$W" scale --model llama3-8b --counts 4096,1024,1024 --format csv | awk -F, 'NR>1 {print $1}' | tr '\n' ' ' | grep -qx "1024 4096 " && pass=$((pass+1)) || { echo "FAIL scale-counts-sorted-once"; fail=$((fail+1)); }
expect plan-sp-yes 0 "TP[0-9]+\+SP" -- "$W" plan --model llama3-8b --gpus 64 --sp yes --top 1
expect reliability-window-under-a-minute 2 "^wanka: error: (--days: )?reliability.days: 1e-09 days is shorter than a minute" -- "$W" reliability --days 1e-9
expect cluster-pools-node-count 2 "^wanka: error: --pools: 0 is outside" -- "$W" cluster --trace "$tmp/jobs.csv" --format csv --pools v100:0x4
# No output replaces an input, whitespace is an empty value, a curve without a feasible point
# is an input error (as plan), and serve refuses flags its mode would ignore.
cp "$SRC/examples/gpt3-175b-single-v100.yaml" "$tmp/own.yaml"
expect output-is-input 2 "^wanka: error: --output: cannot write '.*own.yaml': it is the input scenario" -- "$W" estimate "$tmp/own.yaml" -o "$tmp/own.yaml"
grep -q "gpt3-175b" "$tmp/own.yaml" && pass=$((pass+1)) || { echo "FAIL output-is-input-kept"; fail=$((fail+1)); }
expect cluster-jobs-is-trace 2 "^wanka: error: --jobs: cannot write .*: it is the input --trace" -- "$W" cluster --trace "$tmp/jobs.csv" --format csv --nodes 1 --gpus-per-node 1 --gpu h100-sxm --jobs "$tmp/jobs.csv"
expect whitespace-value 2 "^wanka: error: --tokens: empty value" -- "$W" estimate --tokens " "
expect scale-nothing-feasible 2 "^wanka: error: parallel.tp: the pins and --exclude leave no possible value" -- "$W" scale --model llama3-8b --counts 8,64 --tp 8 --exclude tp=8
expect scale-fits-nowhere 2 "^wanka: error: cluster.num_gpus: llama3-405b fits in memory at none of the counts" -- "$W" scale --model llama3-405b --counts 1,2
expect serve-plan-ignored-flag 2 "^wanka: error: --rate: is not used by --plan" -- "$W" serve --plan --model llama3-8b --users 100 --user-rate 1 --rate 5
expect serve-trace-and-offline 2 "^wanka: error: --offline: conflicts with --trace" -- "$W" serve --trace "$tmp/badfirst.csv" --offline
# An empty item in a list-valued flag is refused (a trailing comma was dropped, an inner one
# too in cluster's lists).
expect list-trailing-comma 2 "^wanka: error: --tp: empty item in the list '4,'" -- "$W" plan --tp 4, --top 1
expect list-empty-item 2 "^wanka: error: --policy: empty item in the list 'fifo,,sjf'" -- "$W" cluster --trace "$tmp/jobs.csv" --policy fifo,,sjf
expect counts-trailing-comma 2 "^wanka: error: --counts: empty item" -- "$W" scale --counts 1024,
# Tiresias's thresholds must increase, whatever the policies run (equal ones were accepted, and
# a decreasing list was refused only when tiresias ran).
expect las-thresholds-equal 2 "^wanka: error: --las-thresholds: thresholds must increase, got 100 then 100" -- "$W" cluster --trace "$tmp/jobs.csv" --policy tiresias --las-thresholds 100,100
expect las-thresholds-unused 2 "^wanka: error: --las-thresholds: thresholds must increase" -- "$W" cluster --trace "$tmp/jobs.csv" --policy fifo --las-thresholds 1000,100
# A fleet shared by a billion users: the rate limit is 0.0029 per user-hour (it printed 0.00);
# a fleet without users says what the users are for.
expect serve-plan-tiny-rate-limit 0 "rate limit +0\.0029[0-9]? requests per user per hour .*\(0\.008[0-9]{2} per 3 hours\)" -- "$W" serve --plan --fleet 16 --model llama3-8b --users 1e9
expect serve-plan-fleet-no-users 2 "^wanka: error: capacity.users: missing: the number of users sharing the fleet" -- "$W" serve --plan --fleet 16 --model llama3-8b
# A write that fails says why (the operating system's reason); it is still exit code 2.
expect output-os-reason 2 "^wanka: error: --output: cannot write '/nonexistent-dir/x.json': No such file or directory$" -- "$W" estimate -o /nonexistent-dir/x.json
[ -w /dev/full ] && expect output-device-full 2 "^wanka: error: --output: cannot write '/dev/full': No space left on device$" -- "$W" estimate -o /dev/full
# One name twice in one catalog file is refused (the second entry silently won).
printf 'gpus:\n  - {name: my-gpu, base: h100-sxm, hbm_gib: 96}\n  - {name: my-gpu, base: h100-sxm, hbm_gib: 141}\n' > "$tmp/cat-dup.yaml"
expect catalog-duplicate-name 2 "^wanka: error: gpus\[1\]\.name: gpu 'my-gpu' is already given by gpus\[0\]" -- "$W" catalog gpu my-gpu --catalog "$tmp/cat-dup.yaml"
# A pool's GPU type is a catalog gpu or a type of the trace (it was taken unchecked: a typo ran).
expect cluster-unknown-gpu 2 "^wanka: error: --gpu: unknown gpu 'nosuchgpu'.*: neither a catalog gpu nor a type in the trace" -- "$W" cluster --trace "$tmp/jobs.csv" --gpu nosuchgpu
printf 'id,submit_s,gpus,duration_s,gpu_type\nA,0,1,10,k80\nB,0,1,4,\n' > "$tmp/typed.csv"
expect cluster-trace-gpu-label 0 "16 x 8 k80" -- "$W" cluster --trace "$tmp/typed.csv" --gpu k80
expect cluster-pools-unknown-gpu 2 "^wanka: error: --pools: unknown gpu 'nosuch'" -- "$W" cluster --trace "$tmp/jobs.csv" --pools v100:2x8,nosuch:2x8
# `-o=x` wrote a file named "=x" (CLI11 takes the rest of a short option as its value).
(cd "$tmp" && "$WA" estimate -o=eq.txt > /dev/null 2> "$tmp/eq.err"); [ $? -eq 2 ] && [ ! -e "$tmp/=eq.txt" ] && grep -q "^wanka: error: -o: a short option takes its value after a space (-o eq.txt)" "$tmp/eq.err" && pass=$((pass+1)) || { echo "FAIL short-option-equals"; fail=$((fail+1)); }
# A serving field set on a training command was silently ignored.
expect estimate-set-serving 2 "^wanka: error: serving.max_batch: not used by wanka estimate" -- "$W" estimate --set serving.max_batch=4
expect plan-set-capacity 2 "^wanka: error: capacity: not used by wanka plan" -- "$W" plan --set 'capacity={users: 10}'
# A job id given twice in a trace is refused with its line (both jobs ran under one name).
printf 'id,submit_s,gpus,duration_s\nA,0,1,10\nB,0,1,4\nA,5,1,1\n' > "$tmp/dup-ids.csv"
expect cluster-duplicate-job-id 2 "^wanka: error: dup-ids.csv:4: job id 'A' is already used on line 2" -- "$W" cluster --trace "$tmp/dup-ids.csv"
# A '...' before the content ended an empty first document, which yaml-cpp read: the content
# was ignored ("model: missing"). It is refused; a file of only '...' is empty, like an empty file.
printf '...\nmodel: {name: llama3-8b}\ncluster: {gpu: h100-sxm, num_gpus: 8}\n' > "$tmp/dots.yaml"
expect yaml-leading-document-end 2 "^wanka: error: .*dots.yaml:1: '...' ends an empty YAML document before the content" -- "$W" estimate "$tmp/dots.yaml"
printf -- '---\n...\nmodel: {name: llama3-8b}\n' > "$tmp/dots2.yaml"
expect yaml-empty-document-first 2 "dots2.yaml:2: '...' ends an empty YAML document" -- "$W" estimate "$tmp/dots2.yaml"
printf '...\n' > "$tmp/dots3.yaml"
expect yaml-only-document-end 2 "^wanka: error: model: missing" -- "$W" estimate "$tmp/dots3.yaml"
# Only close names are suggested (three far ones were listed for any typo).
expect unknown-gpu-nothing-close 2 "^wanka: error: (--gpu: )?cluster.gpu: unknown gpu 'xyzzy-9000' \(see .wanka catalog.\)" -- "$W" estimate --gpu xyzzy-9000
expect unknown-enum-nothing-close 2 "^wanka: error: (--recompute: )?parallel.recompute: unknown recompute mode 'sometimes' \(one of: none, selective, full\)" -- "$W" estimate --recompute sometimes
# A field given by a flag and by --set is refused, naming both (the flag won silently); a flag
# naming a catalog entry still composes with --set fields inside it.
expect flag-and-set-same-field 2 "^wanka: error: --set: parallel.tp is also given by --tp: give one of them" -- "$W" estimate --tp 4 --set parallel.tp=2
expect flag-and-set-mapping 2 "^wanka: error: --set: parallel is also given by --tp" -- "$W" estimate --set 'parallel={tp: 2, pp: 4}' --tp 4
expect plan-pin-and-set 2 "^wanka: error: --set: parallel.tp is also given by --tp: give one of them" -- "$W" plan --tp 4,8 --set parallel.tp=2
expect flag-replaces-set-block 2 "^wanka: error: --set: serving.input_len.max is also given by --input-len" -- "$W" serve --set serving.input_len.max=9 --input-len 5
expect flag-and-set-other-field 0 "TP8 PP2" -- "$W" estimate --set 'parallel={tp: 8}' --pp 2 --set parallel.vpp=1
expect flag-model-composes-with-set 0 "llama3-8b.*48 layers" -- "$W" estimate --model llama3-8b --gpus 8 --tp 8 --pp 1 --set parallel.vpp=1 --set model.layers=48
# A relative trace in a scenario file is read beside the file, from any working directory.
mkdir -p "$tmp/sv"; printf 'arrival_s,input,output\n0,100,10\n1,100,10\n' > "$tmp/sv/tr.csv"
printf 'model: {name: llama3-8b}\ncluster: {gpu: h100-sxm, num_gpus: 1}\nparallel: {tp: 1}\nserving: {trace: tr.csv}\n' > "$tmp/sv/s.yaml"
WA="$W"; case "$WA" in /*) ;; *) WA="$PWD/$WA" ;; esac
(cd / && "$WA" serve "$tmp/sv/s.yaml" > "$tmp/sv/out.txt" 2>&1); grep -q "2 (trace" "$tmp/sv/out.txt" && pass=$((pass+1)) || { echo "FAIL serve-relative-trace-beside-scenario"; sed 's/^/  | /' "$tmp/sv/out.txt" | head -3; fail=$((fail+1)); }
# Catalog files: an entry needs a name (a nameless one silently edited its base), names and
# aliases may not shadow other entries, a base must come before its users, links need their
# bandwidth, and zero peaks or efficiencies are refused (they crashed the simulators).
printf 'gpus: [{base: h100, hbm_gib: 40}]\n' > "$tmp/cat-noname.yaml"
expect catalog-entry-needs-name 2 "^wanka: error: gpus\[0\]\.name: a gpu entry needs a name" -- "$W" estimate --catalog "$tmp/cat-noname.yaml"
printf 'gpus: [{name: h100, base: a100-80g}]\n' > "$tmp/cat-shadow.yaml"
expect catalog-name-shadows-alias 2 "^wanka: error: gpus\[0\]\.name: 'h100' is already the gpu 'h100-sxm'" -- "$W" estimate --catalog "$tmp/cat-shadow.yaml"
printf 'gpus: [{name: g1, base: a100-80g, aliases: [h100]}]\n' > "$tmp/cat-alias.yaml"
expect catalog-alias-clash 2 "^wanka: error: gpus\[0\]\.aliases\[0\]: 'h100' already names the gpu 'h100-sxm'" -- "$W" estimate --catalog "$tmp/cat-alias.yaml"
printf 'gpus: [{name: g2, base: g1}, {name: g1, base: h100}]\n' > "$tmp/cat-later.yaml"
expect catalog-base-defined-later 2 "^wanka: error: gpus\[0\]\.base: 'g1' is defined later in this file" -- "$W" estimate --catalog "$tmp/cat-later.yaml"
printf 'scale_out: [{name: mynet}]\n' > "$tmp/cat-net.yaml"
expect catalog-network-needs-gbps 2 "^wanka: error: scale_out\[0\]\.gbps: must be given" -- "$W" estimate --catalog "$tmp/cat-net.yaml"
printf 'calibration: {h100-sxm: {matmul_efficiency: {bf16: 0}}}\n' > "$tmp/cat-eff0.yaml"
expect catalog-zero-efficiency 2 "^wanka: error: calibration\.h100-sxm\.matmul_efficiency\.bf16: value 0 is out of range" -- "$W" plan --catalog "$tmp/cat-eff0.yaml"
printf 'scale_up: [{name: nvlink4, gbytes_per_s: 45}]\n' > "$tmp/cat-link.yaml"
expect catalog-link-override-reaches-gpus 0 "scale-up +nvlink4 45 GB/s" -- "$W" catalog gpu h100 --catalog "$tmp/cat-link.yaml"
printf 'scale_up: [{name: slow, gbytes_per_s: 10, domain: 4}]\ngpus: [{name: g1, base: h100, scale_up: {link: slow}}]\n' > "$tmp/cat-link2.yaml"
expect catalog-gpu-takes-named-link 0 "scale-up +slow 10 GB/s per GPU \(one direction\), domain 4" -- "$W" catalog gpu g1 --catalog "$tmp/cat-link2.yaml"
# A simulated time past the clock's range is bad input (it overflowed: "event scheduled in the past", exit 1).
expect sim-clock-range 2 "^wanka: error: .*beyond the simulators' clock" -- "$W" estimate "$SRC/examples/gpt3-175b-single-v100.yaml" --global-batch 100 --seq-len 100000000
# serve --plan needs a TTFT target: without one an overloaded replica "met" the SLO.
expect serve-plan-needs-ttft 2 "^wanka: error: --ttft: serving.slo.ttft_s: capacity planning needs a TTFT target" -- "$W" serve --plan --users 1000 --user-rate 10 --ttft 0
# A TP group that does not divide the domain: a 48-GPU fleet holds one 48-chip replica.
expect serve-plan-fleet-partial-domain 0 "fleet +48 GPUs = 1 replicas" -- "$W" serve --plan "$SRC/examples/serve-palm-540b-tpu-v4.yaml" --ttft 5 --tpot 0.1 --users 1000 --fleet 48
# --set of an arrival mode replaces the file's (the built-in default is Poisson).
expect serve-set-offline 0 "\(offline\)" -- "$W" serve --set serving.offline=true --set serving.requests=50
expect serve-set-offline-and-rate 2 "^wanka: error: serving.arrival_rate_per_s: given with serving.offline: they both say how requests arrive" -- "$W" serve --set serving.offline=true --set serving.arrival_rate_per_s=3
printf 'model: llama3-8b\ncluster: {gpu: h100-sxm, num_gpus: 1}\nparallel: {tp: 1}\nserving: {input_len: {dist: lognormal, mean: 1000, stddev: 100, max: 10}}\n' > "$tmp/mean-out.yaml"
expect serve-length-mean-outside-bounds 2 "^wanka: error: serving.input_len.mean: 1000 lies outside \[min, max\] = \[1, 10\]" -- "$W" serve "$tmp/mean-out.yaml"
# The smallest cluster hint counts GPUs below a node and follows pins.
expect plan-smallest-below-node 2 "the smallest cluster on which it fits is 2 GPUs" -- "$W" plan --model llama3-8b --gpus 1
expect plan-smallest-with-pins 2 "the smallest cluster on which it fits is 144 GPUs" -- "$W" plan --model llama3-405b --gpus 72 --tp 8 --pp 9
if [ -w /dev/full ]; then
  expect stdout-write-failure 2 "^wanka: error: cannot write the result to standard output" -- sh -c "\"$W\" catalog > /dev/full"
fi
# Resolved scenarios read back to the same answers: plan's echo keeps the pins and the parallel
# settings the input gave, serve --plan's leaves out an unpinned batch cap, a --catalog
# calibration travels inline with the gpu, and a trace path is written absolute.
"$W" plan --model llama3-8b --tp 8 --json --no-timing > "$tmp/pin.json"
python3 -c "import json,sys; json.dump(json.load(open(sys.argv[1]))['scenario'], open(sys.argv[2],'w'))" "$tmp/pin.json" "$tmp/pin-scenario.json"
expect plan-echo-keeps-pins 0 "^ +1 +TP8" -- "$W" plan "$tmp/pin-scenario.json"
"$W" serve --plan --model llama3-8b --users 1000 --user-rate 2 --json > "$tmp/splan.json"
expect serve-plan-echo-no-max-batch 0 "^False$" -- python3 -c "import json,sys; print('max_batch' in json.load(open(sys.argv[1]))['scenario']['serving'])" "$tmp/splan.json"
printf 'calibration:\n  h100-sxm:\n    matmul_efficiency: {bf16: 0.4}\n' > "$tmp/cal04.yaml"
"$W" estimate --catalog "$tmp/cal04.yaml" --json > "$tmp/cal-est.json"
python3 -c "import json,sys; j=json.load(open(sys.argv[1])); json.dump(j['scenario'], open(sys.argv[2],'w')); print('%.9g' % j['step_time_s'])" "$tmp/cal-est.json" "$tmp/cal-scenario.json" > "$tmp/cal-step.txt"
expect calibration-echo-round-trip 0 "\"step_time_s\": $(cut -c1-8 "$tmp/cal-step.txt")" -- "$W" estimate "$tmp/cal-scenario.json" --json
# Links and networks are shown one at a time too; names match without regard to case in hints.
expect catalog-network 0 "ib-ndr-400 \(scale-out network\)" -- "$W" catalog network ib-ndr-400
expect catalog-link-json 0 '"scale_up": \[' -- "$W" catalog link nvlink4 --json
expect catalog-case-hint 2 "unknown gpu 'H100-SXM' \(closest: h100-sxm\)" -- "$W" catalog gpu H100-SXM
# A model no cluster can hold is refused at once from its optimizer state (it searched for minutes).
printf 'models:\n  - name: huge\n    base: llama3-8b\n    layers: 100000\n    hidden: 1000000\n' > "$tmp/huge.yaml"
expect plan-optimizer-floor 2 "its Adam state alone, sharded over every GPU, needs .* it fits on no cluster of this GPU up to 1e7 GPUs" -- "$W" plan --catalog "$tmp/huge.yaml" --model huge
# The built-in default split does not suit every model: the error says where it comes from.
expect estimate-default-split-hint 2 "the built-in default split TP8 PP4 VPP5 is Llama-3-70B's" -- "$W" estimate --model llama3-8b
# An option given twice is named plainly (CLI11 said "At Most 1 required but received 2").
expect option-given-twice 2 "^wanka: error: --tp: given 2 times; give it once" -- "$W" estimate --tp 8 --tp 4
# A tab in the indentation is named as the likely cause of yaml-cpp's "illegal map value".
printf 'model:\n\tname: llama3-8b\n' > "$tmp/tab.yaml"
expect yaml-tab-hint 2 "illegal map value \(a tab in the indentation\? YAML indents with spaces\)" -- "$W" estimate "$tmp/tab.yaml"
# The KV cache a replica stores: MLA's latent is kept whole on each of 8 TP ranks.
expect serve-kv-stored 0 "69 KiB/token \(55[0-9] KiB stored per replica\)" -- "$W" serve "$SRC/examples/serve-deepseek-v3-mtp.yaml" --set serving.requests=16
# Names are printed in tables: a newline in one is refused (it broke the layout).
printf 'model: {name: "a\\nb", layers: 2, hidden: 256, heads: 4, ffn_hidden: 1024, vocab: 1000}\ncluster: {gpu: h100, num_gpus: 8}\nparallel: {tp: 1, pp: 1}\n' > "$tmp/nl-name.yaml"
expect model-name-control-char 2 "^wanka: error: model.name: contains a control character" -- "$W" estimate "$tmp/nl-name.yaml"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
