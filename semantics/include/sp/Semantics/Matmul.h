//===- Matmul.h - the shapes of matmul and gemm -----------------*- C++ -*-===//
//
// NumPy's matmul and ONNX's Gemm as shapes, for type inference (where a dim
// may be unknown) and the kernels (which also need the batch layout to find
// each product's operands) alike.
//
//===----------------------------------------------------------------------===//
#ifndef SP_SEMANTICS_MATMUL_H
#define SP_SEMANTICS_MATMUL_H

#include "sp/Semantics/Broadcast.h"

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace sp::semantics {

/// Why two operand shapes do not multiply.
enum class ProductError { None, RankZero, NotTwoDimensional, ContractingDimsDiffer, BatchDimsDiffer };

/// `error` in words, the operands named by their printed shapes (each side
/// prints shapes its own way); empty for None.
inline std::string describeProductError(ProductError error, const std::string &lhs,
                                        const std::string &rhs) {
  switch (error) {
  case ProductError::None:
    return {};
  case ProductError::RankZero:
    return "operands must have rank >= 1, got " + lhs + " and " + rhs;
  case ProductError::NotTwoDimensional:
    return "operands must be 2-D, got " + lhs + " and " + rhs;
  case ProductError::ContractingDimsDiffer:
    return "contracting dims differ: " + lhs + " x " + rhs;
  case ProductError::BatchDimsDiffer:
    return "batch dims of " + lhs + " and " + rhs + " do not broadcast";
  }
  return "operands " + lhs + " and " + rhs + " do not multiply";
}

/// Two dims that must be equal: the known one wins; false when both are known
/// and differ. `unknown` marks a dim not known yet.
inline bool mergeEqualDims(int64_t &merged, int64_t other, int64_t unknown) {
  if (merged == unknown) {
    merged = other;
    return true;
  }
  return other == unknown || other == merged;
}

/// matmul's operands as batches of matrices: a 1-D lhs is one row, a 1-D rhs
/// one column, and the batch dims broadcast.
struct MatmulShape {
  std::vector<int64_t> lhsBatch, rhsBatch, batch;
  int64_t m = 1, n = 1, k = 1;
  /// `batch` then m (unless lhs is 1-D) then n (unless rhs is 1-D).
  std::vector<int64_t> result;
};

inline ProductError matmulShape(const std::vector<int64_t> &lhs, const std::vector<int64_t> &rhs,
                                int64_t unknown, MatmulShape &shape) {
  if (lhs.empty() || rhs.empty())
    return ProductError::RankZero;
  std::vector<int64_t> left = lhs, right = rhs;
  bool lhsVector = left.size() == 1, rhsVector = right.size() == 1;
  if (lhsVector)
    left.insert(left.begin(), 1);
  if (rhsVector)
    right.push_back(1);
  shape.m = left[left.size() - 2];
  shape.k = left.back();
  shape.n = right.back();
  if (!mergeEqualDims(shape.k, right[right.size() - 2], unknown))
    return ProductError::ContractingDimsDiffer;
  shape.lhsBatch.assign(left.begin(), left.end() - 2);
  shape.rhsBatch.assign(right.begin(), right.end() - 2);
  shape.batch.clear();
  if (!broadcastInto(shape.batch, shape.lhsBatch.data(), shape.lhsBatch.size(), unknown) ||
      !broadcastInto(shape.batch, shape.rhsBatch.data(), shape.rhsBatch.size(), unknown))
    return ProductError::BatchDimsDiffer;
  shape.result = shape.batch;
  if (!lhsVector)
    shape.result.push_back(shape.m);
  if (!rhsVector)
    shape.result.push_back(shape.n);
  return ProductError::None;
}

/// gemm's `op(a) @ op(b)` with 2-D operands, each read transposed when asked.
struct GemmDims {
  int64_t m = 1, n = 1, k = 1;
};

inline ProductError gemmShape(const std::vector<int64_t> &a, const std::vector<int64_t> &b,
                              bool transposeA, bool transposeB, int64_t unknown,
                              GemmDims &dims) {
  if (a.size() != 2 || b.size() != 2)
    return ProductError::NotTwoDimensional;
  dims.m = a[transposeA ? 1 : 0];
  dims.k = a[transposeA ? 0 : 1];
  dims.n = b[transposeB ? 0 : 1];
  if (!mergeEqualDims(dims.k, b[transposeB ? 1 : 0], unknown))
    return ProductError::ContractingDimsDiffer;
  return ProductError::None;
}

} // namespace sp::semantics

#endif // SP_SEMANTICS_MATMUL_H
