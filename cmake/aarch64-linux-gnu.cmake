# Cross-compiling the addon for linux-arm64 with Debian's g++-aarch64-linux-gnu
# and its sysroot /usr/aarch64-linux-gnu (libc6-dev-arm64-cross). In the
# bullseye userland (scripts/userland.sh) that sysroot is glibc 2.31, so the
# binary asks for nothing newer. Used by scripts/prebuild.js through
# scripts/cmake-js-as-node-gyp.js (--arch=arm64).
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
set(CMAKE_STRIP aarch64-linux-gnu-strip)
set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
