# cmake -DIN=<script .d.ts> -DOUT=<module .d.ts> -DFACTORY=<fn> -DNAMESPACE=<ns> -P dts_module.cmake
# The generated declarations describe the classic script (a global factory);
# the ES module exports the same factory as its default, and the namespace
# of message types by name.
file(READ "${IN}" _decl)
file(WRITE "${OUT}" "${_decl}\nexport default ${FACTORY};\nexport { ${NAMESPACE} };\n")
