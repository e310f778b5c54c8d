#!/usr/bin/env bash
# Scale-out measurement for issue 13 (H3-scale): one worker vs two on one study, the tree
# before and after, interleaved, best of REPS.
#
#   bash benchmarks/bench_scaleout.sh            # ~12 min (REPS=2: 8.5 min at load 1-2.5 on the 2-core machine)
#   REPS=1 STUDIES="hw" bash benchmarks/bench_scaleout.sh    # a quick look
#
# Studies (STUDIES, default "hw demo ft"):
#   hw    examples/resnet18_xc7z045.toml, hardware only, HW_TRIALS (1000) trials
#   demo  the built-in digits demo (no config file; fine-tune ~0.3 s a trial), DEMO_TRIALS (60)
#   ft    examples/mnist1d.toml with [finetune] epochs = FT_EPOCHS (1) and FT_TRIALS (20) trials
#         (a fine-tune of ~0.6-1 s a trial)
# Modes, each on a fresh journal file:
#   jobs1  dse search CONFIG --storage S --study NAME --trials N --jobs 1 --no-report --quiet
#   jobs2  the same with --jobs 2
#   2w     two `dse worker --storage S --study NAME --trials N --quiet` started at the same
#          instant, on a copy of a journal a `dse search ... --trials 1` created (untimed)
# Wall = the whole command(s), from start to the last exit. Ratios: jobs1 / jobs2 and
# jobs1 / 2w (the 2w figure leaves out the creating run's start-up). CPU = user+sys of all
# processes (useful when the machine is shared: wall ratios are then meaningless).
# Every run is checked: exactly N trials, none left RUNNING, no point evaluated twice (among
# trials that are not replays, every point_key is unique); trials per worker pid are shown.
#
# Trees: BEFORE = `git archive $BEFORE_REV` of the repository (default 7d04ccb, the commit before
# H3-scale), AFTER = the working tree (AFTER_REV=<rev> archives that commit instead).
# Each tree is imported through PYTHONPATH (checked below). The FP32 cache (~/.cache/dse or
# $DSE_CACHE_DIR) is warmed for every tree and fine-tune study before timing.
set -u
REPO=${REPO:-$(cd "$(dirname "$0")/.." && pwd)}
BEFORE_REV=${BEFORE_REV:-7d04ccb}
AFTER_REV=${AFTER_REV:-}
REPS=${REPS:-3}
STUDIES=${STUDIES:-"hw demo ft"}
HW_TRIALS=${HW_TRIALS:-1000}
DEMO_TRIALS=${DEMO_TRIALS:-60}
FT_TRIALS=${FT_TRIALS:-20}
FT_EPOCHS=${FT_EPOCHS:-1}
WORK=${WORK:-$(mktemp -d /tmp/scaleout.XXXXXX)}
PY=${PY:-python}
mkdir -p "$WORK/before" "$WORK/runs" "$WORK/seed"
echo "scaleout: work dir $WORK; $(date -u +%H:%M:%S) UTC; $(nproc) CPUs; load: $(cut -d' ' -f1-3 /proc/loadavg)"

git -C "$REPO" archive "$BEFORE_REV" | tar -x -C "$WORK/before" || { echo "cannot archive $BEFORE_REV"; exit 1; }
if [ -n "$AFTER_REV" ]; then
  mkdir -p "$WORK/after"; git -C "$REPO" archive "$AFTER_REV" | tar -x -C "$WORK/after"; AFTER="$WORK/after"
else
  AFTER="$REPO"
fi
declare -A TREE=([before]="$WORK/before" [after]="$AFTER")
for t in before after; do
  got=$(cd "$WORK" && PYTHONPATH="${TREE[$t]}" $PY -c 'import dse, os; print(os.path.dirname(os.path.dirname(os.path.abspath(dse.__file__))))')
  [ "$got" = "$(cd "${TREE[$t]}" && pwd -P)" ] || [ "$got" = "${TREE[$t]}" ] \
    || { echo "tree $t: dse imports from $got, not ${TREE[$t]}"; exit 1; }
done

sed -e "s/^epochs = .*/epochs = $FT_EPOCHS/" -e "s/^trials = .*/trials = $FT_TRIALS/" \
    "$REPO/examples/mnist1d.toml" > "$WORK/ft.toml"
config() { case $1 in hw) echo "$REPO/examples/resnet18_xc7z045.toml";; demo) echo "";; ft) echo "$WORK/ft.toml";; esac; }
trials() { case $1 in hw) echo "$HW_TRIALS";; demo) echo "$DEMO_TRIALS";; ft) echo "$FT_TRIALS";; esac; }

dse() {  # dse TREE ARGS...: the tree's CLI, run from the work dir
  (cd "$WORK" && PYTHONPATH="${TREE[$1]}" $PY -m dse.cli "${@:2}")
}

# warm the caches (FP32 model, compiled kernels) and make the journals the 2-worker runs copy
for s in $STUDIES; do
  for t in before after; do
    dse $t search $(config $s) --storage "$WORK/seed/$s-$t.journal" --study so --trials 1 --no-report --quiet \
      >/dev/null 2>"$WORK/seed/$s-$t.err" || { echo "creating $s with $t failed:"; tail -3 "$WORK/seed/$s-$t.err"; exit 1; }
  done
done
echo "scaleout: caches warm, seed studies made; $(date -u +%H:%M:%S) UTC"

RESULTS="$WORK/results.txt"; : > "$RESULTS"
run() {  # run TREE STUDY MODE REP
  local t=$1 s=$2 m=$3 r=$4 n; n=$(trials $s)
  local j="$WORK/runs/$s-$t-$m-$r.journal" tf="$WORK/runs/$s-$t-$m-$r.time"
  local t0 t1
  rm -f "$j"*
  case $m in
    jobs1|jobs2)
      t0=$(date +%s.%N)
      (cd "$WORK" && /usr/bin/time -f "%U %S" -o "$tf" env PYTHONPATH="${TREE[$t]}" $PY -m dse.cli search $(config $s) \
         --storage "$j" --study so --trials $n --jobs ${m#jobs} --no-report --quiet >/dev/null 2>"$j.err")
      t1=$(date +%s.%N);;
    2w)
      cp "$WORK/seed/$s-$t.journal" "$j"
      t0=$(date +%s.%N)
      (cd "$WORK" && /usr/bin/time -f "%U %S" -o "$tf" bash -c \
        "PYTHONPATH='${TREE[$t]}' $PY -m dse.cli worker --storage '$j' --study so --trials $n --quiet >/dev/null 2>'$j.err1' &
         PYTHONPATH='${TREE[$t]}' $PY -m dse.cli worker --storage '$j' --study so --trials $n --quiet >/dev/null 2>'$j.err2' &
         wait")
      t1=$(date +%s.%N);;
  esac
  local cpu; cpu=$(awk '{printf "%.2f", $1 + $2}' "$tf" 2>/dev/null || echo nan)
  echo "$s $t $m $r $(awk "BEGIN{printf \"%.3f\", $t1 - $t0}") $cpu $n $j" >> "$RESULTS"
  printf '  %-5s %-6s %-5s rep %s: %6.2f s wall, %6s s CPU\n' $s $t $m $r "$(awk "BEGIN{printf \"%.3f\", $t1 - $t0}")" "$cpu"
}

for r in $(seq 1 $REPS); do
  for s in $STUDIES; do
    for t in before after; do
      for m in jobs1 jobs2 2w; do run $t $s $m $r; done
    done
  done
done
echo "scaleout: runs done; $(date -u +%H:%M:%S) UTC; load: $(cut -d' ' -f1-3 /proc/loadavg)"

# check every run and print the table (with the after tree's Python path: it only reads journals)
cd "$WORK" && PYTHONPATH="$AFTER" $PY - "$RESULTS" <<'EOF'
import collections, sys
import optuna
from optuna.storages.journal import JournalFileBackend, JournalStorage
from optuna.trial import TrialState

optuna.logging.set_verbosity(optuna.logging.ERROR)
rows = [line.split() for line in open(sys.argv[1])]
bad, splits = [], collections.defaultdict(list)
for s, t, m, r, wall, cpu, n, path in rows:
    trials = optuna.load_study(study_name="so", storage=JournalStorage(JournalFileBackend(path))).get_trials(deepcopy=False)
    pids = collections.Counter((tr.user_attrs.get("worker") or {}).get("pid") for tr in trials)
    keys = collections.Counter(tr.user_attrs.get("point_key") for tr in trials
                               if tr.state in (TrialState.COMPLETE, TrialState.PRUNED)
                               and tr.user_attrs.get("duplicate_of") is None and tr.user_attrs.get("point_key"))
    twice = sum(1 for c in keys.values() if c > 1)
    running = sum(1 for tr in trials if tr.state == TrialState.RUNNING)
    splits[(s, t, m)].append("/".join(str(c) for _, c in pids.most_common()))
    if len(trials) != int(n) or twice or running:
        bad.append(f"{s} {t} {m} rep {r}: {len(trials)} trials of {n}, {twice} points evaluated twice, "
                   f"{running} left RUNNING ({path})")
best = collections.defaultdict(lambda: float("inf"))
cpus = collections.defaultdict(list)
for s, t, m, r, wall, cpu, n, path in rows:
    best[(s, t, m)] = min(best[(s, t, m)], float(wall))
    cpus[(s, t, m)].append(float(cpu))
names = {"hw": "hardware-only", "demo": "digits demo", "ft": "mnist1d fine-tune"}
print()
print("| study | trials | tree | --jobs 1 | --jobs 2 | ratio | 2 x dse worker | ratio | CPU s (jobs1 / jobs2 / 2w, median) |")
print("|---|---|---|---|---|---|---|---|---|")
for s in dict.fromkeys(r[0] for r in rows):
    n = next(r[6] for r in rows if r[0] == s)
    for t in ("before", "after"):
        j1, j2, w2 = (best[(s, t, m)] for m in ("jobs1", "jobs2", "2w"))
        med = lambda m: sorted(cpus[(s, t, m)])[len(cpus[(s, t, m)]) // 2]
        print(f"| {names.get(s, s)} | {n} | {t} | {j1:.2f} s | {j2:.2f} s | {j1 / j2:.2f}x | {w2:.2f} s | "
              f"{j1 / w2:.2f}x | {med('jobs1'):.1f} / {med('jobs2'):.1f} / {med('2w'):.1f} |")
print(f"\nwall: best of {max(int(r[3]) for r in rows)} per cell; ratio = --jobs 1 / the 2-worker run")
print("trials per worker pid (jobs2 and 2w, each rep; the creating run's trial is the 2w runs' third pid):")
for (s, t, m), v in splits.items():
    if m != "jobs1":
        print(f"  {s} {t} {m}: {', '.join(v)}")
print("checks:", "every run: exact trial count, none RUNNING, no point evaluated twice" if not bad else "FAILED")
for b in bad:
    print("  " + b)
sys.exit(1 if bad else 0)
EOF
rc=$?
echo "scaleout: done $(date -u +%H:%M:%S) UTC (journals and stderr of every run under $WORK/runs)"
exit $rc
