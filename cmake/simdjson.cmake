# duplex::simdjson — the JSON parser behind duplex::schema (and the UTF-8
# validator the protocol library uses).
#
# Both builds compile the same single-file amalgamation, from the pinned npm
# package @nozbe/simdjson (3.9.4), so the server and the browser accept and
# reject exactly the same bytes. (Debian 12's libsimdjson-dev is 3.0.1: it
# lacks document::at_end() and classifies some malformed input differently.)
# Natively simdjson still picks its fastest kernel at run time (haswell,
# icelake, ...); under Emscripten it uses the portable one.
#
# Exceptions: the codec never uses simdjson's throwing API (error codes only);
# SIMDJSON_EXCEPTIONS=0 on the interface makes any accidental use fail to
# compile. Emscripten's default exception mode turns a throw into an abort,
# which would be a crash, not an error.
include_guard(GLOBAL)

set(DUPLEX_SIMDJSON_AMALGAMATION_DIR
    "${CMAKE_SOURCE_DIR}/node_modules/@nozbe/simdjson/src"
    CACHE PATH "Directory holding simdjson.h and simdjson.cpp (the amalgamation)")
if(NOT EXISTS "${DUPLEX_SIMDJSON_AMALGAMATION_DIR}/simdjson.h"
   OR NOT EXISTS "${DUPLEX_SIMDJSON_AMALGAMATION_DIR}/simdjson.cpp")
  message(FATAL_ERROR
    "simdjson amalgamation not found in ${DUPLEX_SIMDJSON_AMALGAMATION_DIR}.\n"
    "Run `npm ci` in ${CMAKE_SOURCE_DIR} (or scripts/setup.sh), or point "
    "DUPLEX_SIMDJSON_AMALGAMATION_DIR at a directory with simdjson.h and simdjson.cpp.")
endif()

add_library(duplex_simdjson STATIC "${DUPLEX_SIMDJSON_AMALGAMATION_DIR}/simdjson.cpp")
# SYSTEM: the 5 MB header is not ours to warn about.
target_include_directories(duplex_simdjson SYSTEM PUBLIC
  "$<BUILD_INTERFACE:${DUPLEX_SIMDJSON_AMALGAMATION_DIR}>"
  "$<INSTALL_INTERFACE:include/duplex/third_party/simdjson>")  # cmake/install.cmake puts simdjson.h there
target_compile_definitions(duplex_simdjson PUBLIC SIMDJSON_EXCEPTIONS=0)
# simdjson's types change layout with the including file's flags: -pthread
# (_REENTRANT) turns SIMDJSON_THREADS_ENABLED on, and a build without
# optimisation (-O0: no __OPTIMIZE__) turns SIMDJSON_DEVELOPMENT_CHECKS on.
# Our libraries and a user's code both hold ondemand::parser (the schema's
# thread_decoder()), so both settings are pinned in the interface: one layout
# whatever the consumer's flags (a -pthread consumer of a library built
# without it crashed in parser::unescape). Threads on natively (it only adds
# members; nothing here parses on a second thread); under Emscripten, where
# no build uses threads, left off.
target_compile_definitions(duplex_simdjson PUBLIC SIMDJSON_DEVELOPMENT_CHECKS=0)
if(NOT EMSCRIPTEN)
  target_compile_definitions(duplex_simdjson PUBLIC SIMDJSON_THREADS_ENABLED=1)
endif()
# The parser is the hot path even in Debug builds.
target_compile_options(duplex_simdjson PRIVATE -O3)
set_target_properties(duplex_simdjson PROPERTIES POSITION_INDEPENDENT_CODE ON)
add_library(duplex::simdjson ALIAS duplex_simdjson)
