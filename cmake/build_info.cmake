# Writes OUT (a C header) with the git commit and build date of the source tree SRC.
# Runs on every build (target ag_build_info); the header is rewritten only when its
# content changes, so an unchanged tree rebuilds nothing. string(TIMESTAMP) honours
# SOURCE_DATE_EPOCH, for reproducible builds.
execute_process(COMMAND git -C "${SRC}" rev-parse --short=12 HEAD
                OUTPUT_VARIABLE commit OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET RESULT_VARIABLE rc)
if(rc OR NOT commit)
  set(commit "unknown")
else()
  execute_process(COMMAND git -C "${SRC}" status --porcelain --untracked-files=no
                  OUTPUT_VARIABLE dirty ERROR_QUIET)
  if(dirty)
    string(APPEND commit "-dirty")
  endif()
endif()
string(TIMESTAMP date "%Y-%m-%d" UTC)
file(WRITE "${OUT}.tmp" "#define AG_GIT_COMMIT \"${commit}\"\n#define AG_BUILD_DATE \"${date}\"\n")
configure_file("${OUT}.tmp" "${OUT}" COPYONLY)
file(REMOVE "${OUT}.tmp")
