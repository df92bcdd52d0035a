//===- ExternalData.h - reading ONNX external data safely ---------*- C++ -*-===//
//
// ONNX keeps large tensors in files beside the model, named by the tensor's
// `external_data` entries. The importer (weights into a plan) and sp-export
// (frozen initializers into an export) read them through this one
// implementation, which keeps every read inside the model's folder: a model
// must not read other files into its weights (ONNX Runtime refuses such models
// too). MLIR-free and ONNX-free: callers pass the entries as strings.
//
//===----------------------------------------------------------------------===//
#ifndef SP_RUNTIME_EXTERNALDATA_H
#define SP_RUNTIME_EXTERNALDATA_H

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace sp::runtime {

/// Where a tensor's bytes are: `length` bytes (-1: to the end of the file)
/// from `offset` of the file at `location`, relative to the model's folder.
struct ExternalDataRef {
  std::string location;
  int64_t offset = 0;
  int64_t length = -1;
};

/// Reads the `location`, `offset` and `length` entries (key, value) of an
/// ONNX tensor's external_data; other keys (checksum) are ignored. Returns ""
/// or one line saying what is wrong ("external data offset 'x' is not a byte
/// count", "external data without a location").
std::string parseExternalData(const std::vector<std::pair<std::string, std::string>> &entries,
                              ExternalDataRef &ref);

/// Reads `ref`'s bytes from inside `modelFolder`. The location must be
/// relative, never climb out with "..", resolve (symlinks followed) to a
/// regular file inside the folder, and hold the range. Returns "" or one line
/// that follows "initializer 'NAME': " in a message, e.g. "external data
/// location '../x' climbs out of the model's folder" or "external data file
/// 'DIR/w.bin' has 100 bytes, too short for offset 0 + length 512".
std::string readExternalData(const std::string &modelFolder, const ExternalDataRef &ref,
                             std::string &bytes);

} // namespace sp::runtime

#endif // SP_RUNTIME_EXTERNALDATA_H
