//===- Axes.h - axis arguments and reductions -------------------*- C++ -*-===//
//
// How an op names the dims it works on, for type inference, the verifiers and
// the kernels' checks alike: one axis may be negative (counted from the end,
// as ONNX allows); a reduction's axes are the graph dialect's canonical list,
// sorted, unique and non-negative, the empty list meaning every dim.
//
//===----------------------------------------------------------------------===//
#ifndef SP_SEMANTICS_AXES_H
#define SP_SEMANTICS_AXES_H

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace sp::semantics {

/// `axis` in [-rank, rank) as a dim in [0, rank); nullopt out of range.
inline std::optional<int64_t> normalizeAxis(int64_t axis, int64_t rank) {
  if (axis < -rank || axis >= rank)
    return std::nullopt;
  return axis < 0 ? axis + rank : axis;
}

/// Why a reduction's axes are not valid for a rank.
enum class AxesError { None, OutOfRange, NotSortedAndUnique };

/// `error` in words for a tensor of `rank` dims, the axes as printed; empty
/// for None.
inline std::string describeAxesError(AxesError error, int64_t rank, const std::string &axes) {
  switch (error) {
  case AxesError::None:
    return {};
  case AxesError::OutOfRange:
    return "reduction axes must be in [0, " + std::to_string(rank) + "), got " + axes;
  case AxesError::NotSortedAndUnique:
    return "reduction axes must be sorted and unique, got " + axes;
  }
  return "reduction axes " + axes + " are not valid";
}

/// Checks a reduction's `count` axes for a tensor of `rank` dims: each in
/// [0, rank), strictly increasing.
inline AxesError checkReductionAxes(const int64_t *axes, size_t count, int64_t rank) {
  for (size_t i = 0; i < count; ++i) {
    if (axes[i] < 0 || axes[i] >= rank)
      return AxesError::OutOfRange;
    if (i > 0 && axes[i - 1] >= axes[i])
      return AxesError::NotSortedAndUnique;
  }
  return AxesError::None;
}

/// The shape a reduction over valid `axes` (every dim when there are none)
/// leaves of `shape`: reduced dims become 1 with `keepDims`, else vanish.
/// Unknown dims pass through unchanged.
inline std::vector<int64_t> reducedShape(const int64_t *shape, size_t rank,
                                         const int64_t *axes, size_t count, bool keepDims) {
  std::vector<int64_t> result;
  size_t next = 0;
  for (size_t dim = 0; dim < rank; ++dim) {
    bool reduced = count == 0;
    if (next < count && axes[next] == int64_t(dim)) {
      reduced = true;
      ++next;
    }
    if (!reduced)
      result.push_back(shape[dim]);
    else if (keepDims)
      result.push_back(1);
  }
  return result;
}

} // namespace sp::semantics

#endif // SP_SEMANTICS_AXES_H
