# native.consumer.wasm: a user's protocol (examples/template/poll.hpp) built
# against installed duplex packages, native and Emscripten.
#   cmake -DWASM_BUILD_DIR=<build/wasm> -DNATIVE_BUILD_DIR=<native build>
#         -DSOURCE_DIR=<this dir> -DWORK_DIR=<scratch> [-DCXX=<compiler>]
#         [-DCXX_FLAGS=...] [-DLINK_FLAGS=...] [-DEMSCRIPTEN_TOOLCHAIN=<file>] -P run.cmake
# 1. cmake --install the native build into WORK_DIR/native-prefix; configure
#    this directory natively: duplex_protocol(poll) from the installed package
#    must write poll.d.ts, poll.schema.json, poll.fingerprint; a call
#    without TYPE must fail with a message naming it;
# 2. cmake --install the Emscripten build into WORK_DIR/wasm-prefix (only the
#    browser-side files); configure this directory with the Emscripten
#    toolchain against it; build: poll_node.js (duplex::schema under em++)
#    runs under Node and must decode/encode as expected, with the native
#    generator's fingerprint; duplex_protocol(poll) again, its generator
#    compiled with em++: the same three files, byte for byte; the browser
#    client poll_client.js/.wasm; linking duplex::duplex must fail with a
#    message naming it.
# Prints "consumer_wasm: SKIP" and stops (the test's SKIP_REGULAR_EXPRESSION)
# when there is no Emscripten build directory.
foreach(v WASM_BUILD_DIR NATIVE_BUILD_DIR SOURCE_DIR WORK_DIR)
  if(NOT DEFINED ${v})
    message(FATAL_ERROR "run.cmake: -D${v}=... is required")
  endif()
endforeach()
if(NOT EXISTS "${WASM_BUILD_DIR}/cmake_install.cmake")
  message("consumer_wasm: SKIP: no Emscripten build in ${WASM_BUILD_DIR} (cmake --preset wasm && cmake --build --preset wasm)")
  return()
endif()
if(NOT EMSCRIPTEN_TOOLCHAIN)
  set(EMSCRIPTEN_TOOLCHAIN /usr/share/emscripten/cmake/Modules/Platform/Emscripten.cmake)
endif()
if(NOT CXX)
  set(CXX c++)
endif()
find_program(NODE NAMES node nodejs REQUIRED)
# Debian's Emscripten 3.1.6: its JS optimizer (an -O2 link) needs acorn from here.
set(ENV{NODE_PATH} /usr/share/nodejs)

function(run what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  message("${out}${err}")
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "consumer_wasm: ${what} failed (${rc})")
  endif()
  set(last_output "${out}" PARENT_SCOPE)
endfunction()
# A configure that must fail, and say `expect`.
function(run_fails what expect)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(rc EQUAL 0)
    message("${out}${err}")
    message(FATAL_ERROR "consumer_wasm: ${what} succeeded; it must fail")
  endif()
  string(REGEX REPLACE "[ \n]+" " " flat "${err}")   # CMake wraps long messages
  if(NOT flat MATCHES "${expect}")
    message("${out}${err}")
    message(FATAL_ERROR "consumer_wasm: ${what} failed without saying '${expect}'")
  endif()
  message("consumer_wasm: ${what} failed as it should: ${expect}")
endfunction()

set(native_prefix "${WORK_DIR}/native-prefix")
set(wasm_prefix "${WORK_DIR}/wasm-prefix")
set(native_build "${WORK_DIR}/native")
set(wasm_build "${WORK_DIR}/wasm")
file(REMOVE_RECURSE "${WORK_DIR}")
# Only the installed trees may provide duplex: not a build tree's export or a package registry.
set(no_registry -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF -DCMAKE_FIND_PACKAGE_NO_PACKAGE_REGISTRY=ON)

# ---- 1. native package: the generator --------------------------------------
run("native install" ${CMAKE_COMMAND} --install "${NATIVE_BUILD_DIR}" --prefix "${native_prefix}")
# The generator's .d.ts text of the JS face comes with the native package too;
# the chat's protocol is the chat application's, not the library's.
if(NOT EXISTS "${native_prefix}/include/duplex/wasm/interface.hpp")
  message(FATAL_ERROR "consumer_wasm: the native package has no include/duplex/wasm/interface.hpp")
endif()
foreach(f include/duplex/schema/chat.hpp include/chat_protocol.hpp)
  if(EXISTS "${native_prefix}/${f}")
    message(FATAL_ERROR "consumer_wasm: the native package has ${f}, the chat application's header")
  endif()
endforeach()
run("native configure" ${CMAKE_COMMAND} -S "${SOURCE_DIR}" -B "${native_build}" -G Ninja
    -DCMAKE_BUILD_TYPE=Release "-DCMAKE_PREFIX_PATH=${native_prefix}" "-DCMAKE_CXX_COMPILER=${CXX}"
    "-DCMAKE_CXX_FLAGS=${CXX_FLAGS}" "-DCMAKE_EXE_LINKER_FLAGS=${LINK_FLAGS}" ${no_registry})
run("native build" ${CMAKE_COMMAND} --build "${native_build}")
foreach(f poll.d.ts poll.schema.json poll.fingerprint)
  if(NOT EXISTS "${native_build}/${f}")
    message(FATAL_ERROR "consumer_wasm: duplex_protocol(poll) wrote no ${f}")
  endif()
  file(READ "${native_build}/${f}" native_${f})
endforeach()
if(NOT "${native_poll.fingerprint}" MATCHES "^duplex\\.poll\\.v1 ([0-9a-f]+)")
  message(FATAL_ERROR "consumer_wasm: poll.fingerprint is '${native_poll.fingerprint}'")
endif()
set(fingerprint "${CMAKE_MATCH_1}")
foreach(decl "interface Vote" "interface Tally" "interface OptionCount" "\"yes\" | \"no\" | \"maybe\"")
  string(FIND "${native_poll.d.ts}" "${decl}" at)
  if(at LESS 0)
    message(FATAL_ERROR "consumer_wasm: poll.d.ts has no ${decl}")
  endif()
endforeach()
string(JSON id GET "${native_poll.schema.json}" "$id")
string(JSON x_fp GET "${native_poll.schema.json}" "x-fingerprint")
string(JSON vote_type GET "${native_poll.schema.json}" "$defs" "vote" "type")
if(NOT id STREQUAL "duplex.poll.v1" OR NOT x_fp STREQUAL fingerprint OR NOT vote_type STREQUAL "object")
  message(FATAL_ERROR "consumer_wasm: poll.schema.json: $id ${id}, x-fingerprint ${x_fp}, vote ${vote_type}")
endif()
message("consumer_wasm: native duplex_protocol(poll): poll.d.ts, poll.schema.json, poll.fingerprint (${fingerprint})")
run_fails("duplex_protocol() without TYPE" "duplex_protocol\\(poll\\): TYPE <C\\+\\+ protocol type> missing"
    ${CMAKE_COMMAND} -S "${SOURCE_DIR}" -B "${native_build}" -DDUPLEX_CHECK_ERROR=missing_type)

# ---- 2. Emscripten package --------------------------------------------------
run("wasm install" ${CMAKE_COMMAND} --install "${WASM_BUILD_DIR}" --prefix "${wasm_prefix}")
foreach(f include/duplex/schema/codec.hpp include/duplex/schema/generate.hpp include/duplex/wasm/client.hpp
          include/duplex/wasm/interface.hpp
          include/duplex/third_party/simdjson/simdjson.h lib/libduplex_schema.a lib/libduplex_wasm.a
          lib/libduplex_simdjson.a lib/cmake/duplex/duplexConfig.cmake lib/cmake/duplex/duplex_protocol.cmake)
  if(NOT EXISTS "${wasm_prefix}/${f}")
    message(FATAL_ERROR "consumer_wasm: the Emscripten package has no ${f}")
  endif()
endforeach()
foreach(f lib/libduplex.a lib/libduplex_protocol.a include/duplex/net include/asio.hpp lib/pkgconfig/duplex.pc)
  if(EXISTS "${wasm_prefix}/${f}")
    message(FATAL_ERROR "consumer_wasm: the Emscripten package has ${f}, a native-only file")
  endif()
endforeach()
foreach(f include/duplex/schema/chat.hpp include/chat_protocol.hpp)
  if(EXISTS "${wasm_prefix}/${f}")
    message(FATAL_ERROR "consumer_wasm: the Emscripten package has ${f}, the chat application's header")
  endif()
endforeach()
# The toolchain file searches packages only under CMAKE_FIND_ROOT_PATH
# (CMAKE_FIND_ROOT_PATH_MODE_PACKAGE=ONLY): the prefix goes there too.
run("wasm configure" ${CMAKE_COMMAND} -S "${SOURCE_DIR}" -B "${wasm_build}" -G Ninja
    "-DCMAKE_TOOLCHAIN_FILE=${EMSCRIPTEN_TOOLCHAIN}" -DCMAKE_BUILD_TYPE=Release
    "-DCMAKE_PREFIX_PATH=${wasm_prefix}" "-DCMAKE_FIND_ROOT_PATH=${wasm_prefix}" ${no_registry})
run("wasm build" ${CMAKE_COMMAND} --build "${wasm_build}" --parallel 2)
run("poll_node.js under Node" "${NODE}" --no-experimental-fetch "${wasm_build}/poll_node.js")
set(expected
"fingerprint duplex.poll.v1 ${fingerprint}
vote fields ok
vote encoded {\"type\":\"vote\",\"voter\":\"café \\\"ada\\\"\",\"choice\":\"maybe\",\"weight\":3,\"comment\":\"line\\nbreak 😀\"}
weight 9: refused at weight
choice perhaps: refused (bad_enum)
tally encoded {\"type\":\"tally\",\"question\":\"lunch?\",\"counts\":[{\"choice\":\"yes\",\"votes\":2},{\"choice\":\"no\",\"votes\":1}]}
tally round trip ok
")
if(NOT last_output STREQUAL expected)
  message(FATAL_ERROR "consumer_wasm: poll_node.js printed\n${last_output}\nexpected\n${expected}")
endif()
foreach(f poll.d.ts poll.schema.json poll.fingerprint)
  file(READ "${wasm_build}/${f}" wasm_f)
  if(NOT wasm_f STREQUAL "${native_${f}}")
    message(FATAL_ERROR "consumer_wasm: ${f} from the em++ generator differs from the native one")
  endif()
endforeach()
foreach(f poll_client.js poll_client.wasm)
  if(NOT EXISTS "${wasm_build}/${f}")
    message(FATAL_ERROR "consumer_wasm: duplex_wasm_client(poll_client) wrote no ${f}")
  endif()
endforeach()
file(STRINGS "${wasm_build}/poll_client.js" factory REGEX "createPollClient" LIMIT_COUNT 1)
if(NOT factory)
  message(FATAL_ERROR "consumer_wasm: poll_client.js does not define createPollClient")
endif()
run_fails("linking duplex::duplex under Emscripten" "are native only .* target server_by_mistake .* links duplex::duplex"
    ${CMAKE_COMMAND} -S "${SOURCE_DIR}" -B "${wasm_build}" -DDUPLEX_CHECK_ERROR=native_only)
message("consumer_wasm: both installed packages, duplex_protocol(), duplex_wasm_client() and duplex::schema under Node all work")
