# lit configuration for sp's regression tests.
import os

import lit.formats
from lit.llvm import llvm_config

config.name = "sp"
config.test_format = lit.formats.ShTest(not llvm_config.use_lit_shell)
config.suffixes = [".mlir", ".py", ".test"]
config.excludes = ["lit.cfg.py", "lit.site.cfg.py", "lit.local.cfg", "tools", "unit", "integration", "fuzz",
                   "CMakeLists.txt"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.sp_obj_root, "test")

llvm_config.use_default_substitutions()
# The built tools first, then FileCheck and friends, then the user's PATH.
llvm_config.with_environment("PATH", [config.sp_tools_dir, config.llvm_tools_dir],
                             append_path=True)
tools_dir = os.path.join(config.test_source_root, "tools")
llvm_config.with_environment("PYTHONPATH", tools_dir, append_path=True)
# Ahead of lit's own %python (the interpreter running lit), which may lack the
# test packages.
config.substitutions.insert(0, ("%python", config.python_executable))
# `%exit1 CMD`: passes when CMD exits with exactly 1 (not a signal) and
# writes exactly one line to stderr, which it passes on for FileCheck.
config.substitutions.append(
    ("%exit1", config.python_executable + " " + os.path.join(tools_dir, "expect_exit1.py")))
config.substitutions.append(("%models", os.path.join(config.sp_src_root, "models")))
# `REQUIRES: mpi`, `%if mpi`: the runtime has the MPI collectives.
if getattr(config, "sp_enable_mpi", "").upper() in ("ON", "1", "TRUE", "YES"):
    config.available_features.add("mpi")
