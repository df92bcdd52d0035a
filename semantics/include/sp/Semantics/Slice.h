//===- Slice.h - ONNX Slice's index arithmetic ------------------*- C++ -*-===//
//
// Which elements a Slice keeps along one dim, for type inference, the
// constant folder and the kernels alike. Any int64 start, end and step give a
// defined answer (ONNX clamps; INT64_MAX and INT64_MIN are common "to the end"
// markers), with no signed overflow on the way.
//
//===----------------------------------------------------------------------===//
#ifndef SP_SEMANTICS_SLICE_H
#define SP_SEMANTICS_SLICE_H

#include <algorithm>
#include <cstdint>

namespace sp::semantics {

/// One sliced dim: the first index, the step and how many elements it keeps.
struct SliceRange {
  int64_t start = 0, step = 1, length = 0;
};

/// Clamps `start`, `end` and `step` (non-zero) as ONNX Slice does for a dim of
/// `size` elements.
inline SliceRange resolveSlice(int64_t start, int64_t end, int64_t step, int64_t size) {
  SliceRange range;
  // A step longer than the dim visits at most one element; bounding it keeps
  // the arithmetic below from overflowing.
  constexpr int64_t kMaxStep = int64_t(1) << 62;
  step = std::clamp(step, -kMaxStep, kMaxStep);
  range.step = step;
  if (size <= 0)
    return range;
  if (start < 0)
    start = std::max(start, -size) + size;
  if (end < 0)
    end = std::max(end, -size - 1) + size;
  if (step > 0) {
    start = std::clamp<int64_t>(start, 0, size);
    end = std::clamp<int64_t>(end, 0, size);
    range.length = std::max<int64_t>(0, (end - start + step - 1) / step);
  } else {
    start = std::clamp<int64_t>(start, 0, size - 1);
    end = std::clamp<int64_t>(end, -1, size - 1);
    range.length = std::max<int64_t>(0, (start - end - step - 1) / -step);
  }
  range.start = start;
  return range;
}

} // namespace sp::semantics

#endif // SP_SEMANTICS_SLICE_H
