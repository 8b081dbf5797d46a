# `cmake --install`: headers, the libraries, a CMake package
# (find_package(duplex)) and, natively, duplex.pc for pkg-config.
#
# Native build (build/native):
#   duplex::duplex, duplex::protocol, duplex::schema, duplex::realtime,
#   duplex::redis, duplex::auth, duplex::simdjson; duplex.pc; bin/duplex-cat;
#   duplex::wasm_interface and its header duplex/wasm/interface.hpp, for the
#   generator of duplex_protocol() (wasm/CMakeLists.txt installs them).
# Emscripten build (build/wasm): the libraries compiled with em++ that a
#   browser build links: duplex::schema, duplex::wasm and
#   duplex::wasm_interface (wasm/CMakeLists.txt installs them into the same
#   export set), duplex::simdjson; the headers duplex/schema/*, duplex/wasm/*,
#   duplex/error.hpp and duplex/message.hpp. The native-only targets exist there
#   only as stubs whose use is a CMake error (duplexConfig.cmake).
# Both: the generators duplex_protocol() and duplex_wasm_client()
#   (cmake/duplex_protocol.cmake) and duplex_add_es_module(), installed next
#   to duplexConfig.cmake and included by it.
#
#   cmake --install build/native --prefix /opt/duplex
#   # consumer: find_package(duplex 0.1 REQUIRED)
#   #           target_link_libraries(app PRIVATE duplex::duplex)
#   # or:       g++ -std=c++20 app.cpp $(pkg-config --cflags --libs duplex)
#   cmake --install build/wasm --prefix /opt/duplex-wasm
#   # consumer: emcmake cmake -DCMAKE_FIND_ROOT_PATH=/opt/duplex-wasm ...
#
# tests/consumer (native) and tests/consumer_wasm (Emscripten) build projects
# against such installed trees.
include_guard(GLOBAL)

include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(DUPLEX_INSTALL_CMAKEDIR "${CMAKE_INSTALL_LIBDIR}/cmake/duplex"
    CACHE STRING "Where duplexConfig.cmake is installed, relative to the prefix")

# Exported names are the aliases the tree already uses: duplex::duplex etc.
set_target_properties(duplex_schema PROPERTIES EXPORT_NAME schema)
set_target_properties(duplex_simdjson PROPERTIES EXPORT_NAME simdjson)
# duplex_simdjson is the simdjson 3.9.4 amalgamation (cmake/simdjson.cmake):
# the schema's codec templates include simdjson.h, so it is installed with
# duplex (under include/duplex/third_party, not to clash with a system one).
install(FILES "${DUPLEX_SIMDJSON_AMALGAMATION_DIR}/simdjson.h"
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/duplex/third_party/simdjson)

if(EMSCRIPTEN)
  # Only what em++ builds: the schema (and its simdjson). duplex_wasm is
  # defined later (wasm/CMakeLists.txt) and installs itself into duplexTargets.
  install(TARGETS duplex_schema duplex_simdjson
    EXPORT duplexTargets
    ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
    INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
  install(DIRECTORY "${PROJECT_SOURCE_DIR}/lib/include/duplex/schema"
    DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/duplex
    FILES_MATCHING PATTERN "*.hpp")
  # duplex::errc, which duplex::wasm's post() returns (its category is in
  # libduplex_wasm.a), and duplex::message, which its read() hands out.
  install(FILES "${PROJECT_SOURCE_DIR}/lib/include/duplex/error.hpp" "${PROJECT_SOURCE_DIR}/lib/include/duplex/message.hpp"
    DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/duplex)
  set(DUPLEX_CONFIG_TEMPLATE duplexConfig-emscripten.cmake.in)
else()
  set_target_properties(duplex_protocol PROPERTIES EXPORT_NAME protocol)
  set_target_properties(duplex PROPERTIES EXPORT_NAME duplex)
  set_target_properties(duplex_realtime PROPERTIES EXPORT_NAME realtime)
  set_target_properties(duplex_redis PROPERTIES EXPORT_NAME redis)
  set_target_properties(duplex_auth PROPERTIES EXPORT_NAME auth)
  install(TARGETS duplex duplex_protocol duplex_schema duplex_simdjson duplex_realtime duplex_redis duplex_auth
    EXPORT duplexTargets
    ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
    LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
    RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
    INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
  install(DIRECTORY "${PROJECT_SOURCE_DIR}/lib/include/duplex"
    DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
    FILES_MATCHING PATTERN "*.hpp")
  set(DUPLEX_CONFIG_TEMPLATE duplexConfig.cmake.in)
endif()

# The generators travel with the package: duplexConfig.cmake includes them,
# so duplex_protocol() etc. work after find_package(duplex).
install(FILES
  "${CMAKE_CURRENT_LIST_DIR}/duplex_protocol.cmake"
  "${CMAKE_CURRENT_LIST_DIR}/wasm_es_module.cmake"
  "${CMAKE_CURRENT_LIST_DIR}/wasm_package.json.in"
  "${CMAKE_CURRENT_LIST_DIR}/dts_module.cmake"
  DESTINATION ${DUPLEX_INSTALL_CMAKEDIR})

install(EXPORT duplexTargets
  NAMESPACE duplex::
  DESTINATION ${DUPLEX_INSTALL_CMAKEDIR})
configure_package_config_file(
  "${CMAKE_CURRENT_LIST_DIR}/install/${DUPLEX_CONFIG_TEMPLATE}"
  "${CMAKE_CURRENT_BINARY_DIR}/duplexConfig.cmake"
  INSTALL_DESTINATION ${DUPLEX_INSTALL_CMAKEDIR})
# 0.x: a minor version may break the API, so only the same minor matches.
# The version file also compares CMAKE_SIZEOF_VOID_P, so a native package
# (64-bit) is skipped by an Emscripten consumer (wasm32) and vice versa.
write_basic_package_version_file(
  "${CMAKE_CURRENT_BINARY_DIR}/duplexConfigVersion.cmake"
  VERSION ${PROJECT_VERSION}
  COMPATIBILITY SameMinorVersion)
install(FILES
  "${CMAKE_CURRENT_BINARY_DIR}/duplexConfig.cmake"
  "${CMAKE_CURRENT_BINARY_DIR}/duplexConfigVersion.cmake"
  DESTINATION ${DUPLEX_INSTALL_CMAKEDIR})

if(EMSCRIPTEN)
  return()   # no duplex.pc for the Emscripten package: use find_package(duplex)
endif()

# pkg-config. The libraries are static unless BUILD_SHARED_LIBS, so their own
# dependencies go in Libs/Requires (not .private): a plain
# `pkg-config --libs duplex` must link.
# Paths relative to the .pc file, so the tree still works after
# `cmake --install --prefix` elsewhere or a move.
set(_pc_dir "${CMAKE_INSTALL_LIBDIR}/pkgconfig")
file(RELATIVE_PATH DUPLEX_PC_PREFIX "/root/${_pc_dir}" "/root")
string(REGEX REPLACE "/$" "" DUPLEX_PC_PREFIX "${DUPLEX_PC_PREFIX}")
configure_file("${CMAKE_CURRENT_LIST_DIR}/install/duplex.pc.in" "${CMAKE_CURRENT_BINARY_DIR}/duplex.pc" @ONLY)
install(FILES "${CMAKE_CURRENT_BINARY_DIR}/duplex.pc" DESTINATION ${_pc_dir})
