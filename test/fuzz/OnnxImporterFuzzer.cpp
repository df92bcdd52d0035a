//===- OnnxImporterFuzzer.cpp - libFuzzer target for the ONNX importer ----===//
//
// Feeds arbitrary bytes to importOnnxModel as a model file. Whatever the
// bytes, the importer must return a module or one error line: never crash,
// assert, hang or leak (ASan and libFuzzer's limits watch).
//
//===----------------------------------------------------------------------===//

#include "sp/Import/OnnxImporter.h"

#include "mlir/IR/MLIRContext.h"

#include <cstdint>
#include <cstdio>
#include <string>
#include <unistd.h>

namespace {

/// A file name for this process that is removed when it exits (libFuzzer
/// ends with exit(), which runs static destructors).
struct ScratchFile : std::string {
  explicit ScratchFile(std::string name) : std::string(std::move(name)) {}
  ~ScratchFile() { std::remove(c_str()); }
};

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  // The importer reads a path (external data resolves beside it): one file
  // per process, rewritten for each input.
  static const ScratchFile path(
      "/tmp/sp-fuzz-importer-" + std::to_string(::getpid()) + ".onnx");
  FILE *file = std::fopen(path.c_str(), "wb");
  if (!file)
    return 0;
  std::fwrite(data, 1, size, file);
  std::fclose(file);
  mlir::MLIRContext context;
  context.printOpOnDiagnostic(false);
  sp::OnnxImportOptions options;
  options.forCpuPlan = true;
  auto module = sp::importOnnxModel(context, path, options);
  if (!module)
    llvm::consumeError(module.takeError());
  return 0;
}
