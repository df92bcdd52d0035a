//===- Npy.h - NumPy .npy files -----------------------------------*- C++ -*-===//
//
// Inputs, outputs and dumps of the runtime are .npy files (format 1.0-3.0,
// little-endian, C order). Reading validates everything a truncated or
// foreign file could get wrong; writing goes through a temporary file and a
// rename, so a failed write leaves the previous file in place.
//
//===----------------------------------------------------------------------===//
#ifndef SP_RUNTIME_NPY_H
#define SP_RUNTIME_NPY_H

#include <cstdint>
#include <string>
#include <vector>

namespace sp::runtime {

enum class DType { Float32, Float64, Float16, BFloat16, Int64, Int32, Int8, UInt8, Bool };

/// Bytes per element of `dtype`.
int64_t dtypeSize(DType dtype);
/// The NumPy descr string, e.g. "<f4".
const char *dtypeDescr(DType dtype);
/// A name for messages, e.g. "float32".
const char *dtypeName(DType dtype);

struct NpyArray {
  DType dtype = DType::Float32;
  std::vector<int64_t> shape;
  std::vector<char> data;

  int64_t numElements() const;
};

/// Reads `path`. On failure returns false and sets `error` to one line naming
/// the file and what is wrong with it.
bool readNpy(const std::string &path, NpyArray &array, std::string &error);

/// Writes `array` to `path` atomically. On failure returns false, sets `error`
/// and leaves any existing file at `path` untouched.
bool writeNpy(const std::string &path, const NpyArray &array, std::string &error);

/// The number of elements of `shape` (1 for a scalar). The caller makes
/// sure that the product fits in int64_t.
int64_t numElements(const std::vector<int64_t> &shape);

/// Formats a shape as "2x128" ("scalar" for rank 0), for messages.
std::string formatShape(const std::vector<int64_t> &shape);

} // namespace sp::runtime

#endif // SP_RUNTIME_NPY_H
