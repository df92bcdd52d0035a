//===- CheckpointLoaderFuzzer.cpp - libFuzzer target for checkpoints ------===//
//
// Feeds arbitrary bytes to the checkpoint reader (sp/runtime/Checkpoint.h)
// that sp-run --resume and sp-export share, three ways, chosen by the first
// byte:
//   0: the bytes are manifest.json as they are (mostly refused by the JSON
//      parser or the manifest's checksum);
//   1: the bytes are JSON that the target seals with a correct checksum, so
//      that the fuzzer reaches the fields behind it, and every tensor the
//      manifest names is read;
//   2: the bytes are a tensor's .npy file, named by a sealed manifest whose
//      hash matches them, so that the fuzzer reaches the .npy parser.
// Whatever the input, the reader opens it or refuses it in one line, and
// never reads a file outside the checkpoint folder.
//
//===----------------------------------------------------------------------===//

#include "../../runtime/lib/CheckpointFormat.h"
#include "sp/runtime/Checkpoint.h"

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

namespace {

namespace fs = std::filesystem;
using namespace sp::runtime;
using checkpoint_format::Json;

/// A folder for this process that is removed when it exits (libFuzzer ends
/// with exit(), which runs static destructors).
struct ScratchFolder {
  fs::path path;
  explicit ScratchFolder(fs::path where) : path(std::move(where)) {
    fs::create_directories(path / "step-0000000001" / "param");
  }
  ~ScratchFolder() {
    std::error_code ignored;
    fs::remove_all(path, ignored);
  }
};

void writeFile(const fs::path &path, const std::string &bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), std::streamsize(bytes.size()));
}

std::string sealed(Json manifest) {
  manifest["checksum"] = "";
  std::string body = checkpoint_format::manifestBody(manifest);
  manifest["checksum"] = checkpoint_format::hashBytes(body.data(), body.size());
  return manifest.dump(1);
}

void checkOneLine(const std::string &error) {
  if (error.find('\n') != std::string::npos) {
    std::fprintf(stderr, "error of more than one line: %s\n", error.c_str());
    __builtin_trap(); // an error is one line
  }
}

void openAndRead(const fs::path &root) {
  CheckpointManifest manifest;
  std::string error = openCheckpoint(root.string(), manifest);
  checkOneLine(error);
  if (!error.empty())
    return;
  for (const CheckpointTensor &tensor : manifest.tensors) {
    // An opened manifest names only files inside its folder.
    fs::path file(tensor.file);
    if (file.empty() || file.is_absolute())
      __builtin_trap();
    for (const fs::path &part : file)
      if (part == "..")
        __builtin_trap();
    NpyArray array;
    checkOneLine(readCheckpointTensor(manifest, tensor, array));
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const ScratchFolder scratch("/tmp/sp-fuzz-checkpoint-" + std::to_string(::getpid()));
  if (size == 0)
    return 0;
  int mode = data[0] % 3;
  std::string bytes(reinterpret_cast<const char *>(data + 1), size - 1);
  fs::path step = scratch.path / "step-0000000001";
  fs::path manifestPath = step / checkpoint_format::kManifest;
  std::error_code ignored;
  fs::remove(step / "param" / "w.npy", ignored);
  if (mode == 0) {
    writeFile(manifestPath, bytes);
  } else if (mode == 1) {
    Json manifest = Json::parse(bytes, nullptr, /*allow_exceptions=*/false);
    if (manifest.is_discarded() || !manifest.is_object())
      return 0;
    writeFile(manifestPath, sealed(manifest));
  } else {
    writeFile(step / "param" / "w.npy", bytes);
    Json manifest = {
        {"format", checkpoint_format::kFormatName},
        {"version", checkpoint_format::kVersion},
        {"model", {{"source", ""}, {"parameters_xxh64", "0"}}},
        {"optimizer", {{"kind", "sgd"}}},
        {"step", 1},
        {"tensors",
         {{{"name", "w"},
           {"role", "parameter"},
           {"file", "param/w.npy"},
           {"dtype", "float32"},
           {"shape", {2, 3}},
           {"xxh64", checkpoint_format::hashBytes(bytes.data(), bytes.size())}}}}};
    writeFile(manifestPath, sealed(manifest));
  }
  openAndRead(scratch.path);
  return 0;
}
