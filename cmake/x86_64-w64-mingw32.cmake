# Cross-compiling the addon for win32-x64 with Debian's mingw-w64
# (g++-mingw-w64-x86-64-posix: the posix thread model, for std::thread).
# The top-level CMakeLists.txt makes node.exe's import library from
# node-api-headers' def file and links everything else statically.
set(CMAKE_SYSTEM_NAME Windows)
set(CMAKE_SYSTEM_PROCESSOR AMD64)
set(CMAKE_C_COMPILER x86_64-w64-mingw32-gcc-posix)
set(CMAKE_CXX_COMPILER x86_64-w64-mingw32-g++-posix)
set(CMAKE_RC_COMPILER x86_64-w64-mingw32-windres)
set(CMAKE_DLLTOOL x86_64-w64-mingw32-dlltool)
set(CMAKE_STRIP x86_64-w64-mingw32-strip)
set(CMAKE_FIND_ROOT_PATH /usr/x86_64-w64-mingw32)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
# gcc keeps the stack of Windows x64 at 16-byte alignment, but spills AVX
# registers with aligned moves (vmovaps/vmovdqa64) to 32/64-byte locals
# (gcc bug 54412), which faults. binutils >= 2.38 can turn every aligned vector
# move into its unaligned twin (same speed on aligned data).
set(CMAKE_C_FLAGS_INIT "-Wa,-muse-unaligned-vector-move")
set(CMAKE_CXX_FLAGS_INIT "-Wa,-muse-unaligned-vector-move")
