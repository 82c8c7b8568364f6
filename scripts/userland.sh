#!/usr/bin/env bash
# The build and test userland of the Linux prebuilt binaries: Debian 11
# (bullseye, glibc 2.31) made by debootstrap under build-userland/ (git-ignored,
# made once, reused while this script's package list is unchanged), with its own
# gcc 10, CMake 3.18, the aarch64 cross compiler and sysroot (glibc 2.31 too),
# the official Node 20 binaries for linux-x64, linux-arm64 and win-x64 (npm
# packages node-<platform>@NODE_VERSION, fetched with `npm pack`) and
# qemu-aarch64-static copied from the host. A binary linked in there asks for
# glibc 2.31 at most, so it loads on Debian 11, Ubuntu 20.04, RHEL 9, ...
#
#   scripts/userland.sh setup        make (or check) the userland; needs root,
#                                    debootstrap and, for arm64 runs, qemu-user-static
#   scripts/userland.sh run CMD...   run CMD (bash -c) in the userland, in /src
#                                    (this repository, bind-mounted), with the
#                                    x64 Node 20 first on PATH; the host's CUDA
#                                    toolkit (dir of `nvcc`) is bind-mounted at the
#                                    same path when there is one
#   scripts/userland.sh node-dir     print the folder holding the Node binaries
#                                    (linux-x64/node, linux-arm64/node, win-x64/node.exe)
#
# Inside, /opt/node/linux-arm64/node runs through /usr/local/bin/node-arm64
# (qemu-aarch64-static -L /usr/aarch64-linux-gnu); ARELU_USERLAND=1 is set.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DIR="${ARELU_USERLAND_DIR:-$ROOT/build-userland}"
R="$DIR/bullseye"
NODE_VERSION=20.20.2
PACKAGES=g++,cmake,make,binutils,g++-aarch64-linux-gnu,libc6-dev-arm64-cross,binutils-aarch64-linux-gnu
STAMP="bullseye minbase $PACKAGES"
NODE_STAMP="node-$NODE_VERSION v2"
MIRROR="${ARELU_DEBIAN_MIRROR:-}"

say() { echo "userland: $*" >&2; }

find_mirror() {
  # The Debian mirror apt is configured with (deb822 or one-line format).
  if [ -z "$MIRROR" ]; then
    MIRROR=$(grep -hsE '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}' | grep -v security | head -1 || true)
  fi
  if [ -z "$MIRROR" ]; then
    MIRROR=$(grep -hsE '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list | awk '{print $2}' | grep -v security | head -1 || true)
  fi
  MIRROR="${MIRROR:-http://deb.debian.org/debian}"
}

setup() {
  if [ "$(id -u)" != 0 ]; then say "needs root (debootstrap, chroot, mount)"; exit 1; fi
  if [ -f "$R/.arelu-debootstrap" ] && [ "$(cat "$R/.arelu-debootstrap")" = "$STAMP" ]; then
    [ -f "$R/.arelu-userland" ] && [ "$(cat "$R/.arelu-userland")" = "$NODE_STAMP" ] && return 0
  else
    bootstrap
  fi
  nodes
}

bootstrap() {
  command -v debootstrap >/dev/null || { say "debootstrap missing: apt-get install -y debootstrap"; exit 1; }
  find_mirror
  if [ -e "$R" ]; then
    unmount_all
    rm -rf --one-file-system "$R"
  fi
  mkdir -p "$DIR"
  say "debootstrap bullseye from $MIRROR into $R (a few minutes)"
  local t0=$SECONDS
  debootstrap --variant=minbase --include="$PACKAGES" bullseye "$R" "$MIRROR" > "$DIR/debootstrap.log" 2>&1 \
    || { tail -20 "$DIR/debootstrap.log" >&2; say "debootstrap failed (log: $DIR/debootstrap.log)"; exit 1; }
  say "debootstrap took $((SECONDS - t0)) s"
  echo "$STAMP" > "$R/.arelu-debootstrap"
}

nodes() {
  # Official Node binaries, fetched as npm packages.
  local npmdir="$DIR/npm"
  mkdir -p "$npmdir" "$R/opt/node/linux-x64" "$R/opt/node/linux-arm64" "$R/opt/node/win-x64"
  local p
  for p in linux-x64 linux-arm64 win-x64; do
    local tgz="$npmdir/node-$p-$NODE_VERSION.tgz"
    [ -f "$tgz" ] || (cd "$npmdir" && npm pack --silent "node-$p@$NODE_VERSION" > /dev/null)
    local tmp; tmp=$(mktemp -d)
    tar -xzf "$tgz" -C "$tmp"
    if [ "$p" = win-x64 ]; then
      cp "$tmp/package/bin/node.exe" "$R/opt/node/$p/node.exe"
    else
      cp "$tmp/package/bin/node" "$R/opt/node/$p/node"
      chmod +x "$R/opt/node/$p/node"
    fi
    rm -rf "$tmp"
  done
  ln -sf /opt/node/linux-x64/node "$R/usr/local/bin/node"
  # arm64 Node through qemu; child processes spawned with process.execPath
  # (/opt/node/linux-arm64/node-qemu) go through it too.
  if [ -x /usr/bin/qemu-aarch64-static ]; then
    cp /usr/bin/qemu-aarch64-static "$R/usr/local/bin/"
  fi
  cat > "$R/usr/local/bin/node-arm64" <<'EOF'
#!/bin/sh
case "${NODE_OPTIONS:-}" in
  *qemu-execpath.js*) ;;
  *) export NODE_OPTIONS="--require /usr/local/lib/qemu-execpath.js${NODE_OPTIONS:+ $NODE_OPTIONS}" ;;
esac
exec /usr/local/bin/qemu-aarch64-static -L /usr/aarch64-linux-gnu /opt/node/linux-arm64/node "$@"
EOF
  chmod +x "$R/usr/local/bin/node-arm64"
  # Under qemu, process.execPath is the arm64 ELF, which the kernel cannot run
  # without binfmt: preloaded (NODE_OPTIONS=--require ..., inherited by child
  # processes), this points it at the wrapper above.
  mkdir -p "$R/usr/local/lib"
  cat > "$R/usr/local/lib/qemu-execpath.js" <<'EOF'
if (process.arch === 'arm64') process.execPath = '/usr/local/bin/node-arm64';
EOF
  echo "$NODE_STAMP" > "$R/.arelu-userland"
  say "ready: $(chroot "$R" sh -c 'gcc --version | head -1; cmake --version | head -1; ldd --version | head -1; node --version' | tr '\n' ';')"
}

MOUNTS=()
unmount_all() {
  local m
  for m in "$R/src" "$R/proc" "$R/dev" "$R$CUDA_DIR"; do
    if [ -n "$m" ] && mountpoint -q "$m" 2>/dev/null; then umount -l "$m" || true; fi
  done
}

CUDA_DIR=""
run() {
  if [ ! -f "$R/.arelu-userland" ] || [ "$(cat "$R/.arelu-userland")" != "$NODE_STAMP" ]; then
    say "no userland in $R: run scripts/userland.sh setup first"; exit 1
  fi
  # The CUDA toolkit of the host (nvcc 13 works in the bullseye userland with gcc 10).
  if [ "${ARELU_CUDA:-AUTO}" != OFF ] && command -v nvcc >/dev/null; then
    local nvcc; nvcc=$(command -v nvcc)
    # /usr/local/bin/nvcc may be a wrapper script; ask nvcc itself where it lives.
    local bin; bin=$(nvcc --dryrun -x cu -c /dev/null -o /dev/null 2>&1 | sed -n 's/^#\$ TOP=\(.*\)$/\1/p' | head -1)
    [ -n "$bin" ] || bin=$(dirname "$(readlink -f "$nvcc")")/..
    CUDA_DIR=$(cd "$bin" && pwd -P)
  fi
  trap unmount_all EXIT
  mkdir -p "$R/src"
  mount --bind "$ROOT" "$R/src"
  mount -t proc proc "$R/proc"
  mount --bind /dev "$R/dev"
  local cudaenv=""
  if [ -n "$CUDA_DIR" ]; then
    mkdir -p "$R$CUDA_DIR"
    mount --bind "$CUDA_DIR" "$R$CUDA_DIR"
    cudaenv="CUDACXX=$CUDA_DIR/bin/nvcc"
    say "CUDA toolkit $CUDA_DIR bind-mounted"
  fi
  local envs=(HOME=/root PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin LANG=C.UTF-8 ARELU_USERLAND=1)
  [ -n "$cudaenv" ] && envs+=("$cudaenv" "CUDAHOSTCXX=/usr/bin/g++")
  local v
  for v in $(compgen -e | grep -E '^(ARELU_|PREBUILD_|MOCHA_|CI$|npm_config_)' || true); do
    envs+=("$v=${!v}")
  done
  chroot "$R" /usr/bin/env -i "${envs[@]}" /bin/bash -c "cd /src && $*"
}

case "${1:-}" in
  setup) setup ;;
  run) shift; run "$@" ;;
  node-dir) echo "$R/opt/node" ;;
  *) echo "usage: $0 setup | run CMD... | node-dir" >&2; exit 2 ;;
esac
