#!/usr/bin/env bash
# Side-by-side comparison of heirloom with restic and borg on the same wedding folder.
#
#   benches/compare.sh [--size 3G] [--reps 5] [--work DIR] [--tools heirloom,restic,borg,cp]
#
# Generates the folder with ../shared/bench/gen_wedding.py (seed 42), then, in every
# repetition and for each tool in turn (the order rotates), from a fresh copy of day 1:
# full backup, no-change backup, incremental after --day2, full restore, and for heirloom a
# restore with 2 of its 5 locations removed. heirloom runs 3+2 over five local folders
# with encryption on (priority critical); restic and borg run with their default
# encryption, borg without compression; `cp` is the floor: `cp -r` + `sync` of the folder
# (as "backup") and back (as "restore"). The page cache is dropped before every timed run
# (root). Prints medians and heirloom/peer ratios as a markdown table.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SIZE=3G REPS=5 WORK=/tmp/heirloom-compare TOOLS=heirloom,restic,borg,cp
while [ $# -gt 0 ]; do
  case "$1" in
    --size) SIZE=$2; shift 2 ;;
    --reps) REPS=$2; shift 2 ;;
    --work) WORK=$2; shift 2 ;;
    --tools) TOOLS=$2; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
GEN="$ROOT/../shared/bench/gen_wedding.py"
[ -f "$GEN" ] || { echo "missing $GEN" >&2; exit 2; }
for t in restic borg; do
  if [[ ",$TOOLS," == *",$t,"* ]] && ! command -v $t >/dev/null; then
    apt-get update -qq && apt-get install -y -qq restic borgbackup >/dev/null
  fi
done
command -v /usr/bin/time >/dev/null || { apt-get update -qq && apt-get install -y -qq time >/dev/null; }
cargo build --release -q -p heirloom-cli
HEIRLOOM="$ROOT/target/release/heirloom"

mkdir -p "$WORK"
DAY1="$WORK/day1-$SIZE"
if [ ! -d "$DAY1/photos" ]; then python3 "$GEN" --size "$SIZE" --seed 42 --out "$DAY1" >/dev/null; fi
SRC="$WORK/src" OUT="$WORK/out" RESULTS="$WORK/results.tsv"
: > "$RESULTS"
export RESTIC_PASSWORD=bench BORG_PASSPHRASE=bench HEIRLOOM_PASSPHRASE=bench
export BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK=yes BORG_RELOCATED_REPO_ACCESS_IS_OK=yes

drop() { sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true; }
# timed TOOL METRIC CMD...: runs CMD after dropping caches, records seconds and peak RSS (KiB)
timed() {
  local tool=$1 metric=$2; shift 2
  drop
  /usr/bin/time -f "%e %M" -o "$WORK/time.out" "$@" >"$WORK/cmd.log" 2>&1 || { echo "$tool $metric failed:"; tail -5 "$WORK/cmd.log"; exit 1; }
  read -r secs rss < "$WORK/time.out"
  printf '%s\t%s\t%s\t%s\n' "$tool" "$metric" "$secs" "$rss" >> "$RESULTS"
  printf '  %-9s %-16s %7.2f s  %6d MiB\n' "$tool" "$metric" "$secs" $((rss / 1024))
}
record() { printf '%s\t%s\t%s\t0\n' "$1" "$2" "$3" >> "$RESULTS"; }

run_heirloom() {
  local R="$WORK/heirloom"; rm -rf "$R"; mkdir -p "$R"
  (cd "$R" && "$HEIRLOOM" -q init --locations 5 >/dev/null)
  local H=("$HEIRLOOM" -q --config "$R/heirloom.toml")
  timed heirloom full_backup "${H[@]}" backup w "$SRC" --priority critical
  timed heirloom nochange_backup "${H[@]}" backup w "$SRC" --priority critical
  local before; before=$(du -sb "$R/heirloom-data" | cut -f1)
  python3 "$GEN" --size "$SIZE" --seed 42 --out "$SRC" --day2 >/dev/null
  timed heirloom incr_day2 "${H[@]}" backup w "$SRC" --priority critical
  record heirloom day2_bytes_stored $(( $(du -sb "$R/heirloom-data" | cut -f1) - before ))
  rm -rf "$OUT"; timed heirloom full_restore "${H[@]}" recover w --to "$OUT" --urgency wedding_day_critical
  rm -rf "$OUT"; mv "$R/heirloom-data/loc-2" "$R/gone-2"; mv "$R/heirloom-data/loc-4" "$R/gone-4"
  timed heirloom restore_2_down "${H[@]}" recover w --to "$OUT" --urgency wedding_day_critical
  rm -rf "$OUT" "$R"
}

run_restic() {
  local R="$WORK/restic"; rm -rf "$R"; restic init -q -r "$R" >/dev/null
  timed restic full_backup restic -q -r "$R" backup "$SRC"
  timed restic nochange_backup restic -q -r "$R" backup "$SRC"
  local before; before=$(du -sb "$R" | cut -f1)
  python3 "$GEN" --size "$SIZE" --seed 42 --out "$SRC" --day2 >/dev/null
  timed restic incr_day2 restic -q -r "$R" backup "$SRC"
  record restic day2_bytes_stored $(( $(du -sb "$R" | cut -f1) - before ))
  rm -rf "$OUT"; timed restic full_restore restic -q -r "$R" restore latest --target "$OUT"
  rm -rf "$OUT" "$R"
}

run_borg() {
  local R="$WORK/borg"; rm -rf "$R"; borg init -e repokey "$R" >/dev/null 2>&1
  timed borg full_backup borg create --compression none "$R::day1" "$SRC"
  timed borg nochange_backup borg create --compression none "$R::day1b" "$SRC"
  local before; before=$(du -sb "$R" | cut -f1)
  python3 "$GEN" --size "$SIZE" --seed 42 --out "$SRC" --day2 >/dev/null
  timed borg incr_day2 borg create --compression none "$R::day2" "$SRC"
  record borg day2_bytes_stored $(( $(du -sb "$R" | cut -f1) - before ))
  rm -rf "$OUT"; mkdir -p "$OUT"
  timed borg full_restore sh -c "cd '$OUT' && borg extract '$R::day2'"
  rm -rf "$OUT" "$R"
}

run_cp() {
  local R="$WORK/cp"; rm -rf "$R" "$OUT"
  timed cp full_backup sh -c "cp -r '$SRC' '$R' && sync"
  timed cp full_restore sh -c "cp -r '$R' '$OUT' && sync"
  rm -rf "$R" "$OUT"
}

IFS=, read -r -a tools <<< "$TOOLS"
for rep in $(seq 1 "$REPS"); do
  echo "repetition $rep/$REPS"
  n=${#tools[@]}
  for i in $(seq 0 $((n - 1))); do
    tool=${tools[$(( (i + rep - 1) % n ))]}
    rm -rf "$SRC"; cp -a "$DAY1" "$SRC"
    "run_$tool"
  done
done
rm -rf "$SRC"

python3 - "$RESULTS" "$SIZE" "$REPS" <<'PY'
import sys, statistics, collections
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
secs = collections.defaultdict(list); rss = collections.defaultdict(list)
for tool, metric, s, r in rows:
    secs[(tool, metric)].append(float(s))
    if int(r) > 0:
        rss[(tool, "backup" if metric in ("full_backup", "nochange_backup", "incr_day2") else "restore")].append(int(r))
tools = [t for t in ("heirloom", "restic", "borg", "cp") if any(k[0] == t for k in secs)]
metrics = ["full_backup", "nochange_backup", "incr_day2", "full_restore", "restore_2_down", "day2_bytes_stored"]
med = lambda v: statistics.median(v) if v else None
print(f"\nmedians of {sys.argv[3]} repetitions, {sys.argv[2]} wedding folder (seconds; bytes for day2_bytes_stored)\n")
peers = [t for t in tools if t != "heirloom"] if "heirloom" in tools else []
print("| metric | " + " | ".join(tools + [f"heirloom/{t}" for t in peers]) + " |")
print("|---" * (1 + len(tools) + len(peers)) + "|")
for m in metrics:
    vals = {t: med(secs.get((t, m), [])) for t in tools}
    if all(v is None for v in vals.values()):
        continue
    fmt = lambda v: "—" if v is None else (f"{v/1e6:.1f} MB" if m == "day2_bytes_stored" else f"{v:.2f}")
    ratios = []
    for t in peers:
        h, p = vals.get("heirloom"), vals.get(t)
        ratios.append("—" if h is None or not p else f"{h / p:.2f}")
    print("| " + " | ".join([m] + [fmt(vals[t]) for t in tools] + ratios) + " |")
for kind in ("backup", "restore"):
    peak = {t: max(rss[(t, kind)]) / 1024 if rss[(t, kind)] and t != "cp" else None for t in tools}
    cells = ["—" if peak[t] is None else f"{peak[t]:.0f}" for t in tools]
    cells += ["—" if not peak.get(t) or peak.get("heirloom") is None else f"{peak['heirloom'] / peak[t]:.2f}" for t in peers]
    print("| " + " | ".join([f"peak RSS, {kind}s (MiB)"] + cells) + " |")
PY
