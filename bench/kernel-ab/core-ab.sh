#!/bin/sh
# Usage: bench/kernel-ab/core-ab.sh OLD_REV [NEW_REV] -- N C INNER [THREADS]
#        bench/kernel-ab/core-ab.sh OLD_REV [NEW_REV] -- N C INNER THREADS [N C INNER THREADS]...
#   e.g. bench/kernel-ab/core-ab.sh d263ce9 -- 401408 256 196 1  200704 512 1 2
# Builds native/core of OLD_REV and of NEW_REV (default: the working tree) as
# shared libraries (x86-64, the project's flags) and times cpu_backward of the
# two in one process (core-ab.cpp), for each layout given: N elements, C
# channels, INNER elements after the channel axis, THREADS (default 1).
# AB_OP=forward times cpu_forward instead of cpu_backward; AB_CXXFLAGS adds
# compiler flags to both builds, AB_NEW_CXXFLAGS to the new one only;
# OLD_REV "-" with AB_OLD_TREE=DIR takes DIR/native/core as the old build,
# NEW_REV "-" with AB_NEW_TREE=DIR the new one (for a machine without the
# repository's history);
# AB_SEPARATE=K times each build in its own process, K alternations (for
# thread counts above 1). Without it, each layout runs in two processes,
# one per load order, and the two ratios' geometric mean is printed.
set -eu
dir=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$dir/../.." && pwd)
old=$1; shift
new=
if [ "${1:-}" != "--" ]; then new=$1; shift; fi
[ "${1:-}" = "--" ] && shift
# One layout: N C INNER [THREADS]; several: N C INNER THREADS each.
if [ $# -ne 3 ] && [ $((${#} % 4)) -ne 0 ]; then
  echo "core-ab.sh: give N C INNER [THREADS] for one layout, N C INNER THREADS for each of several" >&2
  exit 2
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
. "$dir/mkcore.sh"
mkso() {  # mkso TREE OUT.so [EXTRA_FLAGS]
  mkcore "$1" "$2" "$tmp" "${AB_CXXFLAGS:-} ${3:-}"
}
mkdir -p "$tmp/old"
if [ "$old" = - ] && [ -n "${AB_OLD_TREE:-}" ]; then
  cp -r "$AB_OLD_TREE/native" "$tmp/old/"  # a tree without git (the GPU machine)
else
  git -C "$root" archive "$old" native/core | tar -x -C "$tmp/old"
fi
mkso "$tmp/old" "$tmp/old.so"
if [ "$new" = - ] && [ -n "${AB_NEW_TREE:-}" ]; then
  mkso "$AB_NEW_TREE" "$tmp/new.so" "${AB_NEW_CXXFLAGS:-}"
elif [ -n "$new" ]; then
  mkdir -p "$tmp/new"
  git -C "$root" archive "$new" native/core | tar -x -C "$tmp/new"
  mkso "$tmp/new" "$tmp/new.so" "${AB_NEW_CXXFLAGS:-}"
else
  mkso "$root" "$tmp/new.so" "${AB_NEW_CXXFLAGS:-}"
fi
g++ -O2 -I"$root/native/core" "$dir/core-ab.cpp" -o "$tmp/core-ab" -ldl
while [ $# -ge 3 ]; do
  n=$1; c=$2; inner=$3; shift 3
  t=1
  if [ $# -ge 1 ]; then t=$1; shift; fi
  if [ -n "${AB_SEPARATE:-}" ]; then
    # One build per process (core-ab given the same library twice loads it
    # once: one pool), the two builds' processes alternated AB_SEPARATE
    # times. For THREADS > 1: two pools in one process compete for the
    # cores (each one's polling threads against the other's calls).
    for k in $(seq "$AB_SEPARATE"); do
      for v in old new; do
        printf '%s: ' "$v"
        "$tmp/core-ab" "$tmp/$v.so" "$tmp/$v.so" "$n" "$c" "$inner" "$t" | sed 's/.*new \([0-9.]* us (uniform [0-9.]*)\).*/\1/'
      done
    done
  else
    # Both load orders (see AB_SWAP in core-ab.cpp), then their geometric mean.
    a=$("$tmp/core-ab" "$tmp/old.so" "$tmp/new.so" "$n" "$c" "$inner" "$t")
    b=$(AB_SWAP=1 "$tmp/core-ab" "$tmp/old.so" "$tmp/new.so" "$n" "$c" "$inner" "$t")
    printf '%s\n%s\n' "$a" "$b"
    printf '%s\n%s\n' "$a" "$b" | sed 's/.*new\/old \([0-9.]*\),.*/\1/' |
      awk -v n="$n" -v c="$c" -v i="$inner" '{ p = (NR == 1) ? $1 : p * $1 } END { printf "  n=%s C=%s inner=%s: new/old %.2f (geometric mean of both load orders)\n", n, c, i, sqrt(p) }'
  fi
done
