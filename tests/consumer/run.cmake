# native.consumer: what a user of an installed duplex does, end to end.
#   cmake -DBUILD_DIR=<duplex build> -DSOURCE_DIR=<this dir> -DWORK_DIR=<scratch>
#         [-DCXX=<compiler>] [-DCXX_FLAGS=...] [-DLINK_FLAGS=...] -P run.cmake
# 1. cmake --install into WORK_DIR/prefix;
# 2. configure and build this directory with find_package(duplex) against it,
#    then run it (an echo server and one client exchange);
# 3. compile pkgconfig_check.cpp with `pkg-config --cflags --libs duplex` only.
foreach(v BUILD_DIR SOURCE_DIR WORK_DIR)
  if(NOT DEFINED ${v})
    message(FATAL_ERROR "run.cmake: -D${v}=... is required")
  endif()
endforeach()

function(run what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  message("${out}${err}")
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "consumer: ${what} failed (${rc})")
  endif()
  set(last_output "${out}" PARENT_SCOPE)
endfunction()

if(NOT CXX)
  set(CXX c++)
endif()
separate_arguments(cxx_flags UNIX_COMMAND "${CXX_FLAGS} ${LINK_FLAGS}")
set(prefix "${WORK_DIR}/prefix")
file(REMOVE_RECURSE "${WORK_DIR}")
run("install" ${CMAKE_COMMAND} --install "${BUILD_DIR}" --prefix "${prefix}")

# Only the installed tree may provide duplex: not the build tree's export or
# a package registry.
run("configure" ${CMAKE_COMMAND} -S "${SOURCE_DIR}" -B "${WORK_DIR}/build" -G Ninja
    -DCMAKE_BUILD_TYPE=Release "-DCMAKE_PREFIX_PATH=${prefix}" "-DCMAKE_CXX_COMPILER=${CXX}"
    "-DCMAKE_CXX_FLAGS=${CXX_FLAGS}" "-DCMAKE_EXE_LINKER_FLAGS=${LINK_FLAGS}"
    -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF -DCMAKE_FIND_PACKAGE_NO_PACKAGE_REGISTRY=ON)
run("build" ${CMAKE_COMMAND} --build "${WORK_DIR}/build")
run("run" "${WORK_DIR}/build/consumer")
if(NOT last_output MATCHES "echoed: hello from a consumer")
  message(FATAL_ERROR "consumer: no echo in its output")
endif()

find_program(PKG_CONFIG pkg-config REQUIRED)
set(ENV{PKG_CONFIG_PATH} "")
file(GLOB_RECURSE pc "${prefix}/*/duplex.pc")
get_filename_component(pc_dir "${pc}" DIRECTORY)
set(ENV{PKG_CONFIG_PATH} "${pc_dir}")
run("pkg-config" ${PKG_CONFIG} --cflags --libs duplex)
string(STRIP "${last_output}" flags)
separate_arguments(flags UNIX_COMMAND "${flags}")
run("pkg-config compile" ${CXX} -std=c++20 ${cxx_flags} "${SOURCE_DIR}/pkgconfig_check.cpp" ${flags} -o "${WORK_DIR}/pkgconfig_check")
run("pkg-config run" "${WORK_DIR}/pkgconfig_check")
if(NOT last_output MATCHES "pkg-config build ok")
  message(FATAL_ERROR "consumer: pkgconfig_check said something else")
endif()
# A user's protocol decoded by the installed duplex::schema, compiled with the
# consumer's flags rather than ours: -pthread or not, -O0 or -O2, no NDEBUG.
# (simdjson's layout follows such flags; the package pins them.)
set(pc_flags_no_pthread ${flags})
list(REMOVE_ITEM pc_flags_no_pthread -pthread)
foreach(variant "pthread;-O0" "pthread;-O2" "plain;-O0" "plain;-O2")
  list(GET variant 0 threads)
  list(GET variant 1 opt)
  if(threads STREQUAL "pthread")
    set(variant_flags ${flags})
  else()
    set(variant_flags ${pc_flags_no_pthread})
  endif()
  set(exe "${WORK_DIR}/poll_check_${threads}${opt}")
  run("poll compile (${threads} ${opt})" ${CXX} -std=c++20 ${opt} ${cxx_flags} -UNDEBUG "${SOURCE_DIR}/poll_check.cpp"
      "-I${SOURCE_DIR}/../../examples/template"
      ${variant_flags} -o "${exe}")
  run("poll run (${threads} ${opt})" "${exe}")
  if(NOT last_output MATCHES "poll decode ok")
    message(FATAL_ERROR "consumer: poll_check (${threads} ${opt}) said something else")
  endif()
endforeach()
message("consumer: installed tree, find_package and pkg-config all work")
