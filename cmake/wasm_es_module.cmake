# duplex_add_es_module(<target> FROM <wasm target> OUTPUT_NAME <name> DIRECTORY <dir>
#                      [TYPES <file.d.ts>] [VERSION <v>])
#
# The browser package: <target> links the objects of <wasm target> (no second
# compile) a second time with -sEXPORT_ES6=1, so <dir> holds <name>.mjs and
# <name>.wasm that a page or a bundler imports:
#   import createDuplexClient from './duplex_client.mjs';
# The module finds its .wasm next to itself (import.meta.url). TYPES is
# copied in as <name>.d.ts, and a package.json names both for bundlers.
# The classic <wasm target> (a script that sets a global) stays as it is.
include_guard(GLOBAL)

function(duplex_add_es_module target)
  cmake_parse_arguments(arg "" "FROM;OUTPUT_NAME;DIRECTORY;TYPES;VERSION" "" ${ARGN})
  add_executable(${target} $<TARGET_OBJECTS:${arg_FROM}>)
  # Read from the classic target when generating, so options added to it
  # later in its CMakeLists still apply here.
  target_link_libraries(${target} PRIVATE $<TARGET_PROPERTY:${arg_FROM},LINK_LIBRARIES>)
  target_link_options(${target} PRIVATE $<TARGET_PROPERTY:${arg_FROM},LINK_OPTIONS> -sEXPORT_ES6=1)
  set_target_properties(${target} PROPERTIES
    OUTPUT_NAME ${arg_OUTPUT_NAME}
    SUFFIX ".mjs"
    LINKER_LANGUAGE CXX
    RUNTIME_OUTPUT_DIRECTORY "${arg_DIRECTORY}")
  if(arg_TYPES)
    add_custom_command(TARGET ${target} POST_BUILD
      COMMAND ${CMAKE_COMMAND} -E copy_if_different "${arg_TYPES}" "${arg_DIRECTORY}/${arg_OUTPUT_NAME}.d.ts"
      VERBATIM)
    set_property(TARGET ${target} APPEND PROPERTY LINK_DEPENDS "${arg_TYPES}")
  endif()
  set(DUPLEX_ES_NAME "${arg_OUTPUT_NAME}")
  set(DUPLEX_ES_VERSION "${arg_VERSION}")
  configure_file("${CMAKE_CURRENT_FUNCTION_LIST_DIR}/wasm_package.json.in" "${arg_DIRECTORY}/package.json" @ONLY)
endfunction()
