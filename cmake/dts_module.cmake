# cmake -DIN=<script .d.ts> -DOUT=<module .d.ts> [-DFACTORY=<fn>] [-DNAMESPACE=<ns>] -P dts_module.cmake
# The generated declarations describe the classic script (a global factory);
# the ES module exports the same factory as its default, and the namespace
# of message types by name. FACTORY renames the declared factory (the
# module's may differ from the one the declarations were generated with);
# both default to what IN declares.
file(READ "${IN}" _decl)
if(NOT _decl MATCHES "declare namespace ([A-Za-z_$][A-Za-z0-9_$]*)")
  message(FATAL_ERROR "dts_module: ${IN} declares no namespace")
endif()
if(NOT NAMESPACE)
  set(NAMESPACE "${CMAKE_MATCH_1}")
endif()
if(NOT _decl MATCHES "declare function ([A-Za-z_$][A-Za-z0-9_$]*)\\(")
  message(FATAL_ERROR "dts_module: ${IN} declares no factory function")
endif()
if(NOT FACTORY)
  set(FACTORY "${CMAKE_MATCH_1}")
endif()
string(REGEX REPLACE "declare function [A-Za-z_$][A-Za-z0-9_$]*\\(" "declare function ${FACTORY}(" _decl "${_decl}")
file(WRITE "${OUT}" "${_decl}\nexport default ${FACTORY};\nexport { ${NAMESPACE} };\n")
