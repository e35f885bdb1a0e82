#!/usr/bin/env bash
# One prepared run for a lent GPU (issue 25): device and JAX version, sweep throughput of the Gaussian,
# categorical and GMM families at 1e4-1e6 chains (compilation apart), the 1 == N devices check, and the
# 20-generation `--preset small` GPT-2 loop (as many generations as fit). Ends within its budget (default
# 450 s, under the 8 minutes a lent window allows for one command) and writes ONE results file, also when a
# section is cut off at its limit (that section then holds what it measured up to then).
#
#   benchmarks/gpu.sh                    # on the GPU machine, from the repository root
#   benchmarks/gpu.sh --smoke            # the same sections at tiny sizes, on a CPU (58 s budget)
#   benchmarks/gpu.sh --out FILE --budget SECONDS
#   benchmarks/gpu.sh --only gpt2        # some sections only (devices,sweep_gaussian,sweep_categorical,
#                                        # sweep_gmm,gpt2; info always), e.g. the GPT-2 loop with a whole budget
#   PYTHON=/path/to/python benchmarks/gpu.sh   # the interpreter with JAX (default: python on PATH)
#
# Results: FILE, else $OUT/gpu_results.json when $OUT is set, else benchmarks/gpu_results.json (smoke:
# gpu_smoke_results.json, so a smoke run never overwrites measured numbers). Logs of every section beside
# it in a folder named like the file with .logs. The GPT-2 base model is cached in $COLLAPSIM_CACHE (default
# ~/.cache/collapsim): a second run on the same machine skips its pretraining.
set -u

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export PYTHONPATH="$ROOT/src:$ROOT/benchmarks${PYTHONPATH:+:$PYTHONPATH}"
PY="${PYTHON:-python}"

MODE=gpu OUTFILE="" BUDGET="" ONLY=""
while [ $# -gt 0 ]; do
  case "$1" in --out|--budget|--only) [ $# -ge 2 ] || { echo "gpu.sh: $1 needs a value" >&2; exit 2; } ;; esac
  case "$1" in
    --smoke) MODE=smoke ;;
    --out) OUTFILE="$2"; shift ;;
    --budget) BUDGET="$2"; shift ;;
    --only) ONLY=",$2,"; shift ;;
    -h|--help) awk 'NR > 1 && /^#/ { print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "gpu.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
  esac
  shift
done
case "$BUDGET" in ''|*[!0-9]*) [ -n "$BUDGET" ] && { echo "gpu.sh: --budget takes whole seconds, got $BUDGET" >&2; exit 2; } ;; esac

NAME=gpu_results.json
[ "$MODE" = smoke ] && NAME=gpu_smoke_results.json
if [ -z "$OUTFILE" ]; then
  if [ -n "${OUT:-}" ]; then OUTFILE="$OUT/$NAME"; else OUTFILE="$ROOT/benchmarks/$NAME"; fi
fi
WORK="${OUTFILE%.json}.logs"
# The logs folder is ours only if an earlier run marked it: never delete a folder we did not make.
if [ -e "$WORK" ] && [ ! -f "$WORK/.gpu_sh_logs" ]; then
  echo "gpu.sh: $WORK exists and was not written by gpu.sh; choose another --out" >&2; exit 2
fi
rm -rf "$WORK"
mkdir -p "$WORK" 2>/dev/null && : > "$WORK/.gpu_sh_logs" || { echo "gpu.sh: cannot create the logs folder $WORK" >&2; exit 2; }

# Seconds per section: a cap each, in percent of the budget (sweeps stop growing earlier, at their share),
# GPT-2 whatever is left. --smoke: tiny sizes, whose cost on a CPU is JAX start-up and compilation, and two
# sections at a time (a CPU has cores to share; on the GPU one process at a time holds the device).
if [ "$MODE" = smoke ]; then
  BUDGET="${BUDGET:-58}"; SMOKE=--smoke; HOSTDEV=2
  P_INFO=25; P_DEVICES=50; P_SWEEP=40; P_SHARE=20; RESERVE=3; MIN_GPT2=5
else
  BUDGET="${BUDGET:-450}"; SMOKE=; HOSTDEV=4
  P_INFO=7; P_DEVICES=12; P_SWEEP=12; P_SHARE=7; RESERVE=10; MIN_GPT2=30
fi
START=$(date +%s)
left() { echo $(( BUDGET - RESERVE - ($(date +%s) - START) )); }
cap() { echo $(( BUDGET * $1 / 100 )); }

# run NAME CAP CMD...: CMD under `timeout`, its limit the smaller of CAP and the time left; records
# "EXIT-CODE LIMIT" in NAME.status for the merge (no status file: not run).
run() {
  local name="$1" cap="$2"; shift 2
  case "${ONLY:-,$name,},info," in *",$name,"*) ;; *) echo "- not selected" >"$WORK/$name.status"; return ;; esac
  local limit; limit=$(left)
  [ "$limit" -gt "$cap" ] && limit=$cap
  if [ "$limit" -lt 3 ]; then echo "$name: skipped, no time left" >&2; return; fi
  echo "$name: up to ${limit}s" >&2
  timeout -k 5 "$limit" "$@" >"$WORK/$name.log" 2>&1
  echo "$? $limit" >"$WORK/$name.status"
}

S="benchmarks/gpu_sections.py"
section() {
  case "$1" in
    info) run info "$(cap $P_INFO)" "$PY" "$S" info --json "$WORK/info.json" ;;
    devices) run devices "$(cap $P_DEVICES)" "$PY" "$S" devices --json "$WORK/devices.json" --host-devices "$HOSTDEV" $SMOKE ;;
    sweep_*) run "$1" "$(cap $P_SWEEP)" "$PY" "$S" sweep --family "${1#sweep_}" --share "$(cap $P_SHARE)" --json "$WORK/$1.json" $SMOKE ;;
    gpt2) [ "$(left)" -ge "$MIN_GPT2" ] && run gpt2 "$BUDGET" "$PY" "$S" gpt2 --json "$WORK/gpt2.json" $SMOKE ;;
  esac
}
if [ "$MODE" = smoke ]; then
  # two lanes of about equal CPU time (mostly compilation): the device check's three compilations and the
  # GMM's and categorical's programs beside the Gaussian's and GPT-2's (pretraining, sampler, train step)
  { for s in info devices sweep_gmm sweep_categorical; do section $s; done; } &
  for s in sweep_gaussian gpt2; do section $s; done
  wait
else
  for s in info devices sweep_gaussian sweep_categorical sweep_gmm gpt2; do section $s; done
fi

"$PY" "$S" merge --json "$OUTFILE" --work "$WORK" --budget "$BUDGET" --elapsed "$(( $(date +%s) - START ))" --mode "$MODE"
