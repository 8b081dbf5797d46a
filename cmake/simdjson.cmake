# duplex::simdjson — the JSON parser behind duplex::schema.
#
# Native builds use Debian's libsimdjson-dev (3.0.1 on Debian 12), which ships
# no CMake package, hence find_path/find_library. Emscripten can't link that
# x86-64 library, so the WASM build compiles the single-file amalgamation from
# the pinned npm package @nozbe/simdjson (3.9.4) instead. The codec uses only
# the on-demand API that both versions share.
#
# Exceptions: the codec never uses simdjson's throwing API (error codes only),
# so the native build keeps the system library's default. The WASM build sets
# SIMDJSON_EXCEPTIONS=0 on the interface so that any accidental use of the
# throwing API fails to compile there — Emscripten's default exception mode
# turns a throw into an abort, which would be a crash, not an error.
include_guard(GLOBAL)

if(EMSCRIPTEN)
  set(DUPLEX_SIMDJSON_AMALGAMATION_DIR
      "${CMAKE_SOURCE_DIR}/node_modules/@nozbe/simdjson/src"
      CACHE PATH "Directory holding simdjson.h and simdjson.cpp (the amalgamation) for the WASM build")
  if(NOT EXISTS "${DUPLEX_SIMDJSON_AMALGAMATION_DIR}/simdjson.h"
     OR NOT EXISTS "${DUPLEX_SIMDJSON_AMALGAMATION_DIR}/simdjson.cpp")
    message(FATAL_ERROR
      "simdjson amalgamation not found in ${DUPLEX_SIMDJSON_AMALGAMATION_DIR}.\n"
      "Run `npm ci` in ${CMAKE_SOURCE_DIR} (or scripts/setup.sh), or point "
      "DUPLEX_SIMDJSON_AMALGAMATION_DIR at a directory with simdjson.h and simdjson.cpp.")
  endif()

  add_library(duplex_simdjson STATIC "${DUPLEX_SIMDJSON_AMALGAMATION_DIR}/simdjson.cpp")
  # SYSTEM: the 5 MB header is not ours to warn about.
  target_include_directories(duplex_simdjson SYSTEM PUBLIC "${DUPLEX_SIMDJSON_AMALGAMATION_DIR}")
  target_compile_definitions(duplex_simdjson PUBLIC SIMDJSON_EXCEPTIONS=0)
  # The parser is the hot path even in Debug builds of the client.
  target_compile_options(duplex_simdjson PRIVATE -O3)
  set_target_properties(duplex_simdjson PROPERTIES CXX_STANDARD 17 CXX_STANDARD_REQUIRED ON)
  add_library(duplex::simdjson ALIAS duplex_simdjson)
else()
  find_path(DUPLEX_SIMDJSON_INCLUDE_DIR simdjson.h)
  find_library(DUPLEX_SIMDJSON_LIBRARY simdjson)
  if(NOT DUPLEX_SIMDJSON_INCLUDE_DIR OR NOT DUPLEX_SIMDJSON_LIBRARY)
    message(FATAL_ERROR
      "simdjson not found (header: ${DUPLEX_SIMDJSON_INCLUDE_DIR}, library: ${DUPLEX_SIMDJSON_LIBRARY}).\n"
      "Install it with `sudo apt-get install libsimdjson-dev` (or run scripts/setup.sh).")
  endif()
  add_library(duplex::simdjson UNKNOWN IMPORTED)
  set_target_properties(duplex::simdjson PROPERTIES
    IMPORTED_LOCATION "${DUPLEX_SIMDJSON_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${DUPLEX_SIMDJSON_INCLUDE_DIR}")
  message(STATUS "simdjson: ${DUPLEX_SIMDJSON_LIBRARY}")
endif()
