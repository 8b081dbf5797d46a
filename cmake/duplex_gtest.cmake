# duplex::gtest_main and duplex_add_shared_test().
#
# Natively this is Debian's GTest. Emscripten can't use the x86-64 libgtest,
# so the WASM build compiles GoogleTest from Debian's `googletest` sources
# (/usr/src/googletest) with em++. Without pthreads in that build, GoogleTest's
# own thread support must be off too (GTEST_HAS_PTHREAD=0).
include_guard(GLOBAL)

if(EMSCRIPTEN)
  set(DUPLEX_GTEST_SOURCE_DIR "/usr/src/googletest/googletest"
      CACHE PATH "GoogleTest sources compiled for the WASM build (Debian package: googletest)")
  if(NOT EXISTS "${DUPLEX_GTEST_SOURCE_DIR}/src/gtest-all.cc")
    message(FATAL_ERROR
      "GoogleTest sources not found in ${DUPLEX_GTEST_SOURCE_DIR}.\n"
      "Install them with `sudo apt-get install googletest` (or run scripts/setup.sh).")
  endif()
  add_library(duplex_gtest STATIC "${DUPLEX_GTEST_SOURCE_DIR}/src/gtest-all.cc")
  target_include_directories(duplex_gtest
    SYSTEM PUBLIC "${DUPLEX_GTEST_SOURCE_DIR}/include"
    PRIVATE "${DUPLEX_GTEST_SOURCE_DIR}")
  target_compile_definitions(duplex_gtest PUBLIC GTEST_HAS_PTHREAD=0)
  add_library(duplex_gtest_main STATIC "${DUPLEX_GTEST_SOURCE_DIR}/src/gtest_main.cc")
  target_link_libraries(duplex_gtest_main PUBLIC duplex_gtest)
  add_library(duplex::gtest_main ALIAS duplex_gtest_main)

  find_program(DUPLEX_NODE_EXECUTABLE NAMES node nodejs REQUIRED)
else()
  find_package(GTest REQUIRED)
  add_library(duplex::gtest_main INTERFACE IMPORTED)
  set_target_properties(duplex::gtest_main PROPERTIES INTERFACE_LINK_LIBRARIES GTest::gtest_main)
endif()

# Prefix of every CTest name, so one listing shows which build a test ran in.
if(EMSCRIPTEN)
  set(DUPLEX_TEST_PREFIX "wasm.")
else()
  set(DUPLEX_TEST_PREFIX "native.")
endif()

# duplex_shared_test_command(<out-var> <target>): the command line (a list,
# with generator expressions) that runs a shared test executable in this build.
function(duplex_shared_test_command out target)
  if(EMSCRIPTEN)
    set(${out} "${DUPLEX_NODE_EXECUTABLE}" --no-experimental-fetch "$<TARGET_FILE:${target}>" PARENT_SCOPE)
  else()
    set(${out} "$<TARGET_FILE:${target}>" PARENT_SCOPE)
  endif()
endfunction()

# duplex_add_shared_test(<name> <sources>...)
#
# Builds executable <name> against duplex::gtest_main (link anything else
# afterwards with target_link_libraries) and registers it with CTest as
# "native.<name>" or "wasm.<name>", so one ctest listing shows which build ran.
# Under Emscripten the executable is <name>.js (+ .wasm) run by Node:
#   EXIT_RUNTIME  - returning from main() shuts the runtime down (atexit
#                   handlers, static destructors, stdio flush) and exits Node
#                   with main()'s status. 3.1.6 happens to forward the status
#                   without it too; tests/schema's *.schema_exit_code test
#                   checks that a failing run really fails ctest.
#   NODERAWFS     - real filesystem, so --gtest_output=xml:... works.
#   ALLOW_MEMORY_GROWTH - tests may allocate more than the 16 MB default.
# --no-experimental-fetch: Emscripten 3.1.6's loader prefers fetch() when it
# exists, which Node 18+ provides but cannot use on file paths.
function(duplex_add_shared_test name)
  if(ARGC LESS 2)
    message(FATAL_ERROR "duplex_add_shared_test(${name}): no sources given")
  endif()
  add_executable(${name} ${ARGN})
  target_link_libraries(${name} PRIVATE duplex::gtest_main)
  if(EMSCRIPTEN)
    target_link_options(${name} PRIVATE
      -sEXIT_RUNTIME=1 -sNODERAWFS=1 -sALLOW_MEMORY_GROWTH=1 -sENVIRONMENT=node)
  endif()
  duplex_shared_test_command(command ${name})
  add_test(NAME ${DUPLEX_TEST_PREFIX}${name} COMMAND ${command})
endfunction()
