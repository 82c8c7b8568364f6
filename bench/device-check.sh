#!/usr/bin/env bash
# The GPU check of SPEC §8, in one run on the GPU machine (one NVIDIA H200,
# nvcc 13, CMake, Python with PyTorch; no Node.js, no network):
#   1. unpacks the Node binary carried in .device/ (xz, or Python's lzma
#      where the xz binary is missing) and checks `node --version`;
#      checks the driver: the CUDA 13 runtime needs R580 or newer, and with
#      an older driver the toolkit's forward-compatibility libcuda
#      (/usr/local/cuda*/compat) is put on LD_LIBRARY_PATH
#   2. unpacks node_modules' run- and build-time pieces (node-addon-api,
#      node-api-headers, node-gyp-build, mocha, chai and their dependencies)
#   3. builds the addon with CUDA for sm_90 (cmake directly, no cmake-js)
#   4. runs the GPU tests (test/30.cuda.test.js), then every kernel plan
#      under compute-sanitizer memcheck and racecheck (test/cuda-sanitize.js)
#   5. runs the GPU benchmark (bench/gpu-bench.js), the host's time per
#      enqueued call (bench/gpu-enqueue.js), the study of the
#      choices only a GPU settles (bench/gpu-plans.js: backward's second
#      pass folded or a kernel, per-channel forward's plan, how a
#      synchronous call waits) and the PyTorch composite AReLU baseline
#      (bench/torch_baseline.py) on the same GPU
#   5c. runs the GPU suite's fault tests on the GPU with a fault-hook test
#      build (a kernel that really faults; see native/cuda/CMakeLists.txt)
#   5d. runs the CPU kernels' tests on this machine's CPU (AVX-512 where it
#      has it: the core tests bit for bit against scalar, and the digest)
#   6. writes everything as JSON (and logs) into $OUT; device-check.json is
#      rewritten after every step, the tests log a line per test as they go
#      (tests.log) and rewrite tests.json after each, and no test may run
#      longer than 60 s: a hang or crash still leaves every result before it
# Every step has its own time limit, cut to what is left of 450 s
# (ARELU_DEVICE_CHECK_SECONDS): the whole run stays under 8 minutes.
# A step that fails is recorded in $OUT/device-check.json and the run goes
# on where it can; the exit status is 0 only when every step passed.
#
# Beside the git tree it needs two git-ignored folders (about 26 MB):
#   .device/node.xz              the Node binary (xz); made by --pack
#   .device/node_modules.tar.xz  the node_modules pieces above; made by --pack
#   dist/                        the compiled TypeScript (npm run build:ts)
# so, on this (development) machine:
#   npm run build:ts && bench/device-check.sh --pack
# and then, through the device tool:
#   run(command="bash bench/device-check.sh", carry=[".device", "dist"], timeout_s=540)
# Files back from $OUT (at most 8): device-check.json (summary),
# device-check.log, build.log, tests.json, tests.log, gpu-bench.json,
# plans.json, torch.json.
#
# Without a GPU (or without $OUT) it runs just the same and says why the
# GPU parts were skipped: OUT defaults to bench/out/device-check.
# To test this script's GPU paths without a GPU: test/cuda-emu/build.sh, then
#   ARELU_DEVICE_CHECK_ADDON=$PWD/build-emu/arelu.node \
#   ARELU_GPU_BENCH_ARGS="--sizes 1M --layout-size 1M --host-sizes 1M --reps 3 --calls 2" \
#   bench/device-check.sh
set -u -o pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

# ---- --pack: make .device/ here ---------------------------------------------------
if [ "${1:-}" = "--pack" ]; then
  set -e
  mkdir -p .device
  node_bin=$(command -v node)
  echo "packing $node_bin ($(node --version)) -> .device/node.xz"
  xz -T2 -9 -c "$node_bin" > .device/node.xz.tmp && mv .device/node.xz.tmp .device/node.xz
  # The packages' run-time dependency closure, found through package.json files.
  pkgs=$(node - mocha chai node-addon-api node-gyp-build node-api-headers <<'EOF'
const fs = require('fs'), path = require('path');
const root = process.cwd(), seen = new Set(), missing = [];
function find(name, from) {
  for (let d = from; ; d = path.dirname(d)) {
    const c = path.join(d, 'node_modules', name);
    if (fs.existsSync(path.join(c, 'package.json'))) return c;
    if (d === root || d === path.dirname(d)) return null;
  }
}
function walk(name, from, optional) {
  const dir = find(name, from);
  if (!dir) { if (!optional) missing.push(name); return; }
  if (seen.has(dir)) return;
  seen.add(dir);
  const pj = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'));
  for (const d of Object.keys(pj.dependencies || {})) walk(d, dir, false);
  for (const d of Object.keys(pj.optionalDependencies || {})) walk(d, dir, true);
}
for (const n of process.argv.slice(2)) walk(n, root, false);
if (missing.length) { console.error(`missing in node_modules: ${missing.join(', ')}`); process.exit(1); }
console.log([...seen].map((d) => path.relative(root, d)).sort().join('\n'));
EOF
)
  echo "packing $(echo "$pkgs" | wc -l) packages -> .device/node_modules.tar.xz"
  # shellcheck disable=SC2086
  tar -cJf .device/node_modules.tar.xz --exclude='*.md' $pkgs
  [ -f dist/index.js ] || { echo "dist/ is missing: run npm run build:ts first" >&2; exit 1; }
  # The device copy of the tree has no .git: record what was packed against.
  { git rev-parse HEAD 2>/dev/null || echo unknown; } > .device/commit
  [ -z "$(git status --porcelain --untracked-files=no 2>/dev/null)" ] || echo "(packed with uncommitted changes)" >> .device/commit
  du -ch .device/node.xz .device/node_modules.tar.xz dist | tail -1
  exit 0
fi

# ---- the check ---------------------------------------------------------------------------
OUT=${OUT:-$ROOT/bench/out/device-check}
mkdir -p "$OUT"
LOG=$OUT/device-check.log
: > "$LOG"
T0=$(date +%s)
STEPS=()   # JSON objects, one per step
FAILED=0

log() { echo "[$(($(date +%s) - T0))s] $*" | tee -a "$LOG" >&2; }
json_str() { python3 -c 'import json,sys; print(json.dumps(sys.argv[1]))' "$1" 2>/dev/null || printf '"%s"' "${1//\"/\'}"; }
GPU_NAME=""
COMMIT=unknown
# The summary, rewritten after every step (and once at the start), so a run
# cut short still leaves it: "done": false until the end.
write_summary() {  # done(true|false)
  local i sep
  {
    echo "{"
    echo "  \"date\": $(json_str "$(date -u +%Y-%m-%dT%H:%M:%SZ)"),"
    echo "  \"commit\": $(json_str "$COMMIT"),"
    echo "  \"gpu\": $(json_str "${GPU_NAME:-none}"),"
    echo "  \"seconds\": $(($(date +%s) - T0)),"
    echo "  \"done\": $1,"
    echo "  \"ok\": $([ "$1" = true ] && [ $FAILED = 0 ] && echo true || echo false),"
    echo "  \"gpuUsed\": $([ -n "$GPU_NAME" ] && grep -q '"gpu-bench", "status": "ok"' <<< "${STEPS[*]:-}" && echo true || echo false),"
    echo "  \"steps\": ["
    for i in "${!STEPS[@]}"; do
      sep=,; [ "$i" = $((${#STEPS[@]} - 1)) ] && sep=
      echo "    ${STEPS[$i]}$sep"
    done
    echo "  ]"
    echo "}"
  } > "$OUT/device-check.json.tmp" && mv "$OUT/device-check.json.tmp" "$OUT/device-check.json"
}
step_result() {  # name status seconds note
  STEPS+=("{\"step\": $(json_str "$1"), \"status\": $(json_str "$2"), \"seconds\": $3, \"note\": $(json_str "$4")}")
  [ "$2" = "failed" ] && FAILED=1
  log "step $1: $2 ($3 s) $4"
  write_summary false
}
# The whole run must end inside 8 minutes: every step's limit is cut to
# what is left of DEADLINE seconds (default 450), keeping 15 s for the summary.
DEADLINE=${ARELU_DEVICE_CHECK_SECONDS:-450}
limit_for() {  # wanted_seconds -> seconds allowed now (0: no time left)
  local left=$((DEADLINE - 15 - ($(date +%s) - T0)))
  [ "$left" -lt 5 ] && { echo 0; return; }
  [ "$1" -lt "$left" ] && echo "$1" || echo "$left"
}
# run_step name limit_seconds command...: runs with a time limit, output to the log.
run_step() {
  local name=$1 limit; limit=$(limit_for "$2"); shift 2
  local s=$(date +%s) rc
  if [ "$limit" = 0 ]; then
    log "== $name: not run, the run's time is used up"
    LAST_SECONDS=0 LAST_RC=124
    return 124
  fi
  log "== $name (limit ${limit}s): $*"
  timeout --kill-after=10 "$limit" "$@" >> "$LOG" 2>&1
  rc=$?
  LAST_SECONDS=$(($(date +%s) - s))
  LAST_RC=$rc
  return $rc
}

log "arelu device check in $ROOT, results in $OUT"
GPU_NAME=$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null | head -1)
log "GPU: ${GPU_NAME:-none (nvidia-smi failed)}"
# What --pack recorded (the device's copy of the tree may carry a stale .git).
COMMIT=$(tr '\n' ' ' < .device/commit 2>/dev/null || git rev-parse HEAD 2>/dev/null || echo unknown)
write_summary false

# xz-compressed file -> file, with the xz binary or else Python's lzma.
unxz_to() {  # src dst
  if command -v xz > /dev/null; then xz -dc "$1" > "$2"
  else python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' "$1" "$2"
  fi
}
# .tar.xz -> here, with tar+xz or else Python's tarfile.
untar_xz() {  # src
  if command -v xz > /dev/null; then tar -xJf "$1"
  else python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1], "r:xz").extractall(".")' "$1"
  fi
}

# 1. Node
NODE_DIR=${TMPDIR:-/tmp}/arelu-node
mkdir -p "$NODE_DIR/bin"
if [ -f .device/node.xz ]; then
  unxz_to .device/node.xz "$NODE_DIR/bin/node" 2>>"$LOG" && chmod +x "$NODE_DIR/bin/node"
  export PATH=$NODE_DIR/bin:$PATH
fi
if NODE_VERSION=$(node --version 2>>"$LOG"); then
  step_result node ok 0 "$NODE_VERSION from $(command -v node)"
else
  step_result node failed 0 "no runnable node: .device/node.xz missing or not for this machine (make it with bench/device-check.sh --pack)"
fi

# 1b. Driver: the CUDA 13 runtime (linked statically) needs driver R580+.
# With an older driver, the toolkit's forward-compatibility libcuda (for
# data-centre GPUs) is used where it exists.
DRIVER=$(nvidia-smi --query-gpu=driver_version --format=csv,noheader 2>/dev/null | head -1)
if [ -z "$DRIVER" ]; then
  step_result driver skipped 0 "nvidia-smi found no driver"
elif [ "${DRIVER%%.*}" -ge 580 ] 2>/dev/null; then
  step_result driver ok 0 "driver $DRIVER (R580+ needed by the CUDA 13 runtime)"
else
  COMPAT=""
  for d in /usr/local/cuda/compat /usr/local/cuda-13*/compat /usr/local/cuda*/compat; do
    if ls "$d"/libcuda.so* > /dev/null 2>&1; then COMPAT=$d; break; fi
  done
  if [ -n "$COMPAT" ]; then
    export LD_LIBRARY_PATH=$COMPAT${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
    step_result driver ok 0 "driver $DRIVER is older than R580: using the forward-compatibility libcuda in $COMPAT"
  else
    step_result driver failed 0 "driver $DRIVER is older than R580 (needed by the CUDA 13 runtime) and no /usr/local/cuda*/compat forward-compatibility libcuda exists"
  fi
fi

# 2. node_modules pieces (a development clone has node_modules already)
if [ -d node_modules/mocha ] && [ -d node_modules/node-addon-api ]; then
  step_result node_modules ok 0 "present"
elif [ -f .device/node_modules.tar.xz ] && untar_xz .device/node_modules.tar.xz >> "$LOG" 2>&1; then
  step_result node_modules ok 0 "unpacked .device/node_modules.tar.xz"
else
  step_result node_modules failed 0 ".device/node_modules.tar.xz missing or broken"
fi
[ -f dist/index.js ] || step_result dist failed 0 "dist/ missing: carry it (npm run build:ts here first)"

# 3. Build for sm_90 with CUDA (ARELU_CUDA=ON: a missing toolkit is an error here).
NVCC=$(command -v nvcc || ls /usr/local/cuda/bin/nvcc 2>/dev/null || echo "")
BUILD=$ROOT/build-device
GEN=()
command -v ninja > /dev/null && GEN=(-G Ninja)
ADDON=$BUILD/Release/arelu.node
if [ -n "${ARELU_DEVICE_CHECK_ADDON:-}" ]; then
  # Testing this script itself (e.g. with test/cuda-emu's build): use the
  # given addon and skip the build.
  ADDON=$ARELU_DEVICE_CHECK_ADDON
  echo "build skipped: ARELU_DEVICE_CHECK_ADDON=$ADDON" > "$OUT/build.log"
  step_result build skipped 0 "ARELU_DEVICE_CHECK_ADDON=$ADDON"
else
rm -f "$ADDON"
s=$(date +%s)
log "== build (limits 60s configure, $(limit_for 200)s compile; log in build.log)"
{ timeout --kill-after=10 60 cmake -S . -B "$BUILD" "${GEN[@]}" -DCMAKE_BUILD_TYPE=Release -DARELU_CUDA=ON \
    ${NVCC:+-DCMAKE_CUDA_COMPILER=$NVCC} -DCMAKE_CUDA_ARCHITECTURES=90 -DARELU_CUDA_ARCHITECTURES=90 \
    -DCMAKE_JS_VERSION=device-check -DCMAKE_JS_INC="$ROOT/node_modules/node-api-headers/include" \
    -DCMAKE_LIBRARY_OUTPUT_DIRECTORY="$BUILD/Release" &&
  timeout --kill-after=10 "$(limit_for 200)" cmake --build "$BUILD" --clean-first -j "$(nproc)" --verbose; } > "$OUT/build.log" 2>&1
rc=$?
SPILLS=$(grep -E "bytes spill (stores|loads)" "$OUT/build.log" | grep -vc " 0 bytes spill stores, 0 bytes spill loads")
KERNELS=$(grep -c "Compiling entry function" "$OUT/build.log")
if [ $rc -eq 0 ] && [ -f "$ADDON" ]; then
  step_result build ok $(($(date +%s) - s)) "sm_90, $KERNELS kernels compiled, $SPILLS with spills (ptxas -v in build.log)"
  [ "$SPILLS" = "0" ] || step_result spills failed 0 "$SPILLS kernels spill registers: see build.log"
else
  tail -30 "$OUT/build.log" >> "$LOG"
  step_result build failed $(($(date +%s) - s)) "exit $rc: see build.log"
fi
fi
export ARELU_NATIVE_PATH=$ADDON

# 4. GPU tests
if [ -f "$ADDON" ] && [ -d node_modules/mocha ]; then
  : > "$OUT/tests.log"
  if run_step tests 150 env ARELU_EXPECT_CUDA=1 ARELU_GPU_TEST_TIMEOUT_MS=60000 node node_modules/mocha/bin/mocha.js \
      --no-config --timeout 60000 --reporter bench/device-reporter.js --reporter-option "output=$OUT/tests.json" \
      --reporter-option "lines=$OUT/tests.log" test/30.cuda.test.js; then
    status=ok
  else
    status=failed
  fi
  note=$(node -e '
    const r = require(process.argv[1]); const s = r.stats;
    // With a GPU present, the GPU suites must not be skipped for want of one.
    if (process.argv[2] && r.pending.some((t) => t.fullTitle.includes("(skipped: no CUDA device"))) process.exitCode = 3;
    const fails = r.failures.map((f) => `${f.fullTitle}: ${String(f.err.message).split("\n")[0]}`);
    const cut = s.done ? "" : " (cut short: see tests.log for the test that was running)";
    console.log(`${s.passes} passed, ${s.failures} failed, ${s.pending} pending${cut}` + (fails.length ? `; ${fails.slice(0, 5).join(" | ")}` : ""));
    if (!s.done) process.exitCode = 4;
  ' "$OUT/tests.json" "$GPU_NAME" 2>>"$LOG")
  case $? in
    0) ;;
    3) status=failed; note="$note (GPU tests skipped although nvidia-smi sees a GPU: see tests.json)" ;;
    4) status=failed; note="exit $LAST_RC (124: time limit): $note" ;;
    *) status=failed; note="exit $LAST_RC, no readable tests.json" ;;
  esac
  step_result tests "$status" "$LAST_SECONDS" "$note"
else
  step_result tests failed 0 "not run: no addon or no mocha"
fi

# 5. Benchmarks
if [ -f "$ADDON" ]; then
  if run_step gpu-bench 120 node bench/gpu-bench.js --out "$OUT/gpu-bench.json" ${ARELU_GPU_BENCH_ARGS:-}; then
    note=$(node -e 'const r=require(process.argv[1]); console.log(r.skipped || `${r.device.length} sizes, ${r.layouts.length} layouts, ${r.host.length} host sizes`)' "$OUT/gpu-bench.json" 2>>"$LOG")
    case $note in "no CUDA device"*) status=skipped ;; *) status=ok ;; esac
    step_result gpu-bench "$status" "$LAST_SECONDS" "$note"
  else
    step_result gpu-bench failed "$LAST_SECONDS" "exit $LAST_RC (124: time limit)"
  fi
else
  step_result gpu-bench failed 0 "not run: no addon"
fi
# 5a. The choices only a GPU can settle (bench/gpu-plans.js): backward's
# second pass folded or a kernel of its own (the rule's constants in
# arelu_cuda.cu are estimates until this runs), per-channel forward's plan,
# and how a synchronous backward waits.
if [ -f "$ADDON" ]; then
  if run_step plans 120 node bench/gpu-plans.js --out "$OUT/plans.json" ${ARELU_PLANS_ARGS:-}; then
    note=$(node -e '
      const r = require(process.argv[1]);
      if (r.skipped) { console.log(`skipped: ${r.skipped}`); process.exit(); }
      const k = r.secondPass.map((x) => x.kernelOverFold);
      const good = r.secondPass.filter((x) => x.autoUs <= 1.03 * Math.min(x.foldUs, x.kernelUs)).length;
      const fw = r.forwardPlan.filter((x) => x.flatUs <= x.layoutUs).length;
      console.log(`second pass: ${r.secondPass.length} layouts, kernel/fold ${Math.min(...k).toFixed(2)}-${Math.max(...k).toFixed(2)}, the rule within 3% of the better form in ${good}; forward: flat walk faster in ${fw} of ${r.forwardPlan.length}; sync backward: ${r.syncWait.length} sizes`);
    ' "$OUT/plans.json" 2>>"$LOG")
    case $note in skipped:*) status=skipped ;; *) status=ok ;; esac
    step_result plans "$status" "$LAST_SECONDS" "$note"
  else
    step_result plans failed "$LAST_SECONDS" "exit $LAST_RC (124: time limit)"
  fi
else
  step_result plans failed 0 "not run: no addon"
fi
# 5a'. The host's time per enqueued call (per-channel and scalar forward).
if [ -f "$ADDON" ]; then
  if run_step enqueue 30 bash -c "node bench/gpu-enqueue.js > '$OUT/enqueue.txt' 2>&1"; then
    step_result enqueue ok "$LAST_SECONDS" "$(tr -s ' \n' ' ' < "$OUT/enqueue.txt")"
  else
    step_result enqueue failed "$LAST_SECONDS" "exit $LAST_RC: $(tr -s ' \n' ' ' < "$OUT/enqueue.txt" | tail -c 300)"
  fi
  rm -f "$OUT/enqueue.txt"
fi
if run_step torch 80 env PYTHONUNBUFFERED=1 python3 bench/torch_baseline.py --out "$OUT/torch.json"; then
  note=$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print("skipped: " + r["skipped"] if "skipped" in r else "%d sizes on %s" % (len(r["rows"]), r.get("gpu")))' "$OUT/torch.json" 2>>"$LOG")
  case $note in skipped:*) status=skipped ;; *) status=ok ;; esac
  step_result torch "$status" "$LAST_SECONDS" "$note"
else
  step_result torch failed "$LAST_SECONDS" "exit $LAST_RC (124: time limit)"
fi

# 5b. compute-sanitizer, last (the benchmarks matter more when time runs
# short): memcheck (out-of-bounds, misaligned accesses) and
# racecheck (shared-memory races in the reductions) over every layout plan.
SANITIZER=$(command -v compute-sanitizer || ls /usr/local/cuda/bin/compute-sanitizer 2>/dev/null || echo "")
for tool in memcheck racecheck; do
  if [ ! -f "$ADDON" ]; then
    step_result "sanitizer-$tool" failed 0 "not run: no addon"
  elif [ -z "$SANITIZER" ]; then
    step_result "sanitizer-$tool" skipped 0 "compute-sanitizer not found"
  else
    run_step "sanitizer-$tool" 60 "$SANITIZER" --tool "$tool" --error-exitcode 9 --target-processes all \
      node test/cuda-sanitize.js
    case $LAST_RC in
      0) step_result "sanitizer-$tool" ok "$LAST_SECONDS" "every plan clean and correct" ;;
      2) step_result "sanitizer-$tool" skipped "$LAST_SECONDS" "no CUDA device" ;;
      9) step_result "sanitizer-$tool" failed "$LAST_SECONDS" "compute-sanitizer found errors: see device-check.log" ;;
      124) step_result "sanitizer-$tool" failed "$LAST_SECONDS" "time limit" ;;
      *) step_result "sanitizer-$tool" failed "$LAST_SECONDS" "exit $LAST_RC (1: wrong results): see device-check.log" ;;
    esac
  fi
done

# 5c. Faults on the GPU itself: the GPU suite's sticky-error tests (a
# kernel that faults with an illegal address, async calls queued behind
# it, a download through pinned chunks and a worker's teardown on the
# dead device), each in a child process, with a fault-hook test build
# (-DARELU_CUDA_FAULT_HOOK=ON: ARELU_TEST_FAIL_LAUNCH=k makes the k-th
# launch fault). The CPU stand-in runs the same tests in CI.
FAULTB=$ROOT/build-device-faults
if [ -n "${ARELU_DEVICE_CHECK_ADDON:-}" ]; then
  step_result faults skipped 0 "ARELU_DEVICE_CHECK_ADDON set: no fault-hook build"
elif [ -f "$ADDON" ] && [ -d node_modules/mocha ] &&
   run_step faults-build 90 bash -c "cmake -S . -B '$FAULTB' ${GEN[*]} -DCMAKE_BUILD_TYPE=Release -DARELU_CUDA=ON \
     ${NVCC:+-DCMAKE_CUDA_COMPILER=$NVCC} -DCMAKE_CUDA_ARCHITECTURES=90 -DARELU_CUDA_ARCHITECTURES=90 -DARELU_CUDA_FAULT_HOOK=ON \
     -DCMAKE_JS_VERSION=device-check -DCMAKE_JS_INC='$ROOT/node_modules/node-api-headers/include' \
     -DCMAKE_LIBRARY_OUTPUT_DIRECTORY='$FAULTB/Release' > /dev/null && cmake --build '$FAULTB' -j $(nproc) > /dev/null"; then
  mark=$(wc -l < "$LOG")  # the summary lines below are this step's own
  if run_step faults 100 env ARELU_NATIVE_PATH="$FAULTB/Release/arelu.node" ARELU_EXPECT_CUDA=1 node node_modules/mocha/bin/mocha.js \
      --no-config --timeout 60000 --grep 'fault-hook build' test/30.cuda.test.js; then
    status=ok
  else
    status=failed
  fi
  passing=$(tail -n +$((mark + 1)) "$LOG" | grep -E "^ +[0-9]+ passing" | tail -1 | tr -s ' ')
  pending=$(tail -n +$((mark + 1)) "$LOG" | grep -E "^ +[0-9]+ pending" | tail -1 | tr -s ' ')
  # Every fault test must have run on the GPU (none skipped).
  [ -n "$pending" ] && status=failed
  step_result faults "$status" "$LAST_SECONDS" "exit $LAST_RC:$passing${pending:+, $pending (must be 0)}"
else
  step_result faults failed "${LAST_SECONDS:-0}" "not run: no addon, no mocha, or the fault-hook build failed (exit ${LAST_RC:-?})"
fi

# 5d. The CPU kernels on this machine's own CPU (an AVX-512 Xeon on the
# H200 machine; the development machine has no AVX-512): the C++ core tests
# (every ISA the CPU supports, bit for bit against scalar and the float64
# reference, and the cross-platform digest; the AVX-512 backward on 512-bit
# vectors, as this CPU picks, then forced to 256-bit, the width AMD Zen 4
# runs) and the JS CPU tests (every ISA, forced), through the addon built
# above.
s=$(date +%s)
CORE=$ROOT/build-device-core
if run_step cpu-core-build 90 bash -c "cmake -S . -B '$CORE' ${GEN[*]} -DCMAKE_BUILD_TYPE=Release -DARELU_BUILD_TESTS=ON -DARELU_CUDA=OFF \
    -DCMAKE_JS_VERSION=device-check -DCMAKE_JS_INC='$ROOT/node_modules/node-api-headers/include' > /dev/null &&
    cmake --build '$CORE' -j $(nproc) --target arelu_core_test > /dev/null" &&
   run_step cpu-core 90 bash -c "'$CORE/arelu_core_test' && ARELU_AVX512_BACKWARD=256 '$CORE/arelu_core_test'"; then
  note=$(grep -E "^ISAs supported here|^avx512 backward on|^cross-platform digest|checks, [0-9]+ failures" "$LOG" | tail -8 | tr '\n' ';')
  step_result cpu-core ok $(($(date +%s) - s)) "$note"
else
  step_result cpu-core failed $(($(date +%s) - s)) "exit $LAST_RC: see device-check.log"
fi
if [ -f "$ADDON" ] && [ -d node_modules/mocha ]; then
  if run_step cpu-js 60 node node_modules/mocha/bin/mocha.js --no-config --timeout 60000 test/10.compute.test.js; then
    step_result cpu-js ok "$LAST_SECONDS" "$(node -e 'console.log("ISAs " + require("./").info().isasSupported.join(", "))' 2>>"$LOG"); $(grep -E "^ +[0-9]+ passing" "$LOG" | tail -1 | tr -s ' ')"
  else
    step_result cpu-js failed "$LAST_SECONDS" "exit $LAST_RC: see device-check.log"
  fi
fi

# 6. Summary: JSON, and a short table last in the output.
TOTAL=$(($(date +%s) - T0))
write_summary true
if command -v node > /dev/null && [ -f "$OUT/gpu-bench.json" ]; then
  node -e '
    const fs = require("fs");
    const g = JSON.parse(fs.readFileSync(process.argv[1], "utf8"));
    let t = {}; try { t = JSON.parse(fs.readFileSync(process.argv[2], "utf8")); } catch {}
    const tr = new Map((t.rows || []).map((r) => [r.n, r]));
    if (g.skipped) { console.log(`GPU bench: ${g.skipped}`); process.exit(0); }
    console.log("size   copy GB/s  fwd GB/s (of copy)  bwd GB/s (of copy)  vs torch fwd  vs torch bwd  (host clock; vs torch and events: GPU clock)");
    for (const r of g.device) {
      const q = tr.get(r.n);
      const x = (a, b) => (q && b ? `${(b / a).toFixed(2)}x` : "-").padStart(12);
      console.log(`${r.size.padEnd(5)} ${r.copyGBs.toFixed(0).padStart(10)} ${r.forwardGBs.toFixed(0).padStart(9)} (${(100 * r.forwardOfCopy).toFixed(1)}%) ${r.backwardGBs.toFixed(0).padStart(10)} (${(100 * r.backwardOfCopy).toFixed(1)}%)  ${x(r.forwardEvMs, q && q.forwardMs)}  ${x(r.backwardEvMs, q && q.backwardMs)}  events: fwd ${(100 * r.forwardEvOfCopy).toFixed(1)}%, bwd ${(100 * r.backwardEvOfCopy).toFixed(1)}% of copy`);
    }
    for (const r of g.device) if (r.forwardAsyncEvMs) console.log(`${r.size} forwardAsync (queued, events): ${(100 * r.copyEvMs / r.forwardAsyncEvMs).toFixed(1)}% of copy`);
    const ev = (r) => (r.forwardEvOfCopy ? `; events (async, queued): fwd ${(100 * r.forwardEvOfCopy).toFixed(1)}%, bwd ${(100 * r.backwardEvOfCopy).toFixed(1)}%` : "");
    for (const r of g.layouts) console.log(`${r.size} ${r.layout}: fwd ${(100 * r.forwardOfCopy).toFixed(1)}% of copy, bwd ${(100 * r.backwardOfCopy).toFixed(1)}%${ev(r)}`);
  ' "$OUT/gpu-bench.json" "$OUT/torch.json" 2>>"$LOG" | tee -a "$LOG"
fi
if command -v node > /dev/null && [ -f "$OUT/plans.json" ]; then
  node -e '
    const r = require(process.argv[1]);
    const p = (v) => `${(100 * v).toFixed(1)}%`;
    for (const x of r.secondPass || []) console.log(`second pass ${x.name}: fold ${x.foldUs.toFixed(1)} us, kernel ${x.kernelUs.toFixed(1)} us, by the rule ${x.autoUs.toFixed(1)} us`);
    for (const x of r.forwardPlan || []) console.log(`forward ${x.name}: flat walk ${x.flatUs.toFixed(1)} us (${p(x.flatOfCopy)} of copy), layout plan ${x.layoutUs.toFixed(1)} us (${p(x.layoutOfCopy)})`);
    for (const x of r.syncWait || []) console.log(`sync backward ${x.n}: polls ${x.pollUs.toFixed(1)} us (${p(x.pollOfCopy)}), sleeps ${x.completerUs.toFixed(1)} us (${p(x.completerOfCopy)}), no polling ${x.blockUs.toFixed(1)} us, polls then sleeps ${x.sleepUs.toFixed(1)} us, queued ${x.queuedUs.toFixed(1)} us, alone ${x.aloneUs.toFixed(1)} us`);
  ' "$OUT/plans.json" 2>>"$LOG" | tee -a "$LOG"
fi
log "done in ${TOTAL}s: $([ $FAILED = 0 ] && echo 'all steps passed' || echo 'some steps FAILED'); summary in $OUT/device-check.json"
cat "$OUT/device-check.json"
exit $FAILED
