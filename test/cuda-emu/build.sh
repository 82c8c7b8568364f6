#!/usr/bin/env bash
# Builds build-emu/arelu.node: the addon with its real CUDA path
# (native/cuda/arelu_cuda.cu and the CUDA binding) compiled as plain C++
# against the CPU stand-in runtime in this folder, so the GPU test suite
# (test/30.cuda.test.js) runs on a machine without a GPU:
#   test/cuda-emu/build.sh && ARELU_NATIVE_PATH=$PWD/build-emu/arelu.node \
#     npx mocha --no-config --timeout 600000 test/30.cuda.test.js
# It checks the kernels' indexing, reductions, barriers and the host logic;
# speed and real-GPU behaviour need bench/device-check.sh on a GPU.
# With --asan: build-emu-asan/arelu.node, under AddressSanitizer (run node
# with LD_PRELOAD=$(gcc -print-file-name=libasan.so) ASAN_OPTIONS=detect_leaks=0,
# as .ci/run does).
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=build-emu
FLAGS=(-O2)
if [ "${1:-}" = "--asan" ]; then
  OUT=build-emu-asan
  FLAGS=(-O1 -g -fno-omit-frame-pointer -fsanitize=address)
fi
cmake -S . -B build-emu -DARELU_CUDA=OFF -DCMAKE_BUILD_TYPE=Release > /dev/null
cmake --build build-emu --target arelu_core -j 2 > /dev/null
mkdir -p "$OUT"
NAPI_INC=$(node -p "require('node-addon-api').include_dir")
HDR=node_modules/node-api-headers/include
g++ -std=c++17 "${FLAGS[@]}" -fPIC -shared -fvisibility=hidden -ffp-contract=off -Wall -Wno-unused-function -Wno-unknown-pragmas \
  -DARELU_WITH_CUDA=1 -DARELU_CUDA_EMU=1 -DNAPI_VERSION=8 -DNAPI_CPP_EXCEPTIONS -DNODE_ADDON_API_DISABLE_DEPRECATED \
  -DNODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS -Wl,-z,nodelete \
  -I test/cuda-emu -I "$NAPI_INC" -I "$HDR" -I native/core \
  -x c++ native/cuda/arelu_cuda.cu -x none native/addon/addon.cpp native/addon/cuda_binding.cpp native/addon/tfop_binding.cpp native/tfop/arelu_tfop.cpp \
  build-emu/libarelu_core.a -lpthread -ldl -o "$OUT/arelu.node"
echo "built $OUT/arelu.node"
