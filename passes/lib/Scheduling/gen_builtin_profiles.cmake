# Writes OUTPUT, the C++ initializers of the built-in cost profiles: one
# {"NAME", R"(JSON)"} per file in PROFILES (NAME: the file's stem).
set(content "// Generated from passes/lib/Scheduling/profiles by gen_builtin_profiles.cmake.\n")
foreach(profile ${PROFILES})
  get_filename_component(name "${profile}" NAME_WE)
  file(READ "${profile}" text)
  string(APPEND content "{\"${name}\", R\"sp_profile(${text})sp_profile\"},\n")
endforeach()
file(WRITE "${OUTPUT}.tmp" "${content}")
execute_process(COMMAND ${CMAKE_COMMAND} -E copy_if_different "${OUTPUT}.tmp" "${OUTPUT}")
