//===- CheckpointFormat.h - the checkpoint format's pieces -------*- C++ -*-===//
//
// What the checkpoint writer (StateIO.cpp) and reader (Checkpoint.cpp) share:
// folder names, the manifest's self-checksum, XXH64 as hex. Internal to the
// runtime; readers outside it use sp/runtime/Checkpoint.h.
//
//===----------------------------------------------------------------------===//
#ifndef SP_RUNTIME_LIB_CHECKPOINTFORMAT_H
#define SP_RUNTIME_LIB_CHECKPOINTFORMAT_H

#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>

namespace sp::runtime::checkpoint_format {

using Json = nlohmann::ordered_json;

constexpr int kVersion = 1;
constexpr const char *kFormatName = "sp-checkpoint";
constexpr const char *kManifest = "manifest.json";
constexpr const char *kStepPrefix = "step-";

/// A 64-bit hash as 16 lowercase hex digits.
std::string hexHash(uint64_t hash);

/// XXH64 (seed 0) of `size` bytes as 16 lowercase hex digits.
std::string hashBytes(const void *data, size_t size);

/// "step-0000000100" for step 100.
std::string stepFolderName(int64_t step);

/// The checkpoints in a folder of them, by step.
std::map<int64_t, std::filesystem::path> checkpointsIn(const std::filesystem::path &directory);

/// The manifest's text without its own checksum, as hashed.
std::string manifestBody(Json manifest);

} // namespace sp::runtime::checkpoint_format

#endif // SP_RUNTIME_LIB_CHECKPOINTFORMAT_H
