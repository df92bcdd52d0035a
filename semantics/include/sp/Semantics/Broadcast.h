//===- Broadcast.h - NumPy broadcasting of shapes ---------------*- C++ -*-===//
//
// The broadcast shape of element-wise operands, for type inference (where
// dims may be unknown) and the kernels' checks (where none is) alike.
//
//===----------------------------------------------------------------------===//
#ifndef SP_SEMANTICS_BROADCAST_H
#define SP_SEMANTICS_BROADCAST_H

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace sp::semantics {

/// Broadcasts `shape` (`rank` dims) into `result` in place, right-aligned as
/// NumPy does. A dim equal to `unknown` is not known yet (the compiler's `?`):
/// beside a dim greater than 1 it takes that dim (a program that runs at all
/// has it), beside 1 or another unknown it stays unknown. Returns false when
/// two known dims differ and neither is 1.
inline bool broadcastInto(std::vector<int64_t> &result, const int64_t *shape, size_t rank,
                          int64_t unknown) {
  if (result.size() < rank)
    result.insert(result.begin(), rank - result.size(), 1);
  size_t offset = result.size() - rank;
  for (size_t d = 0; d < rank; ++d) {
    int64_t &merged = result[offset + d];
    int64_t dim = shape[d];
    if (dim == unknown || merged == unknown) {
      if (merged != unknown && merged > 1)
        continue;
      if (dim != unknown && dim > 1)
        merged = dim;
      else if (merged == 1)
        merged = dim;
      // Otherwise (dim 1 or unknown beside unknown) stays unknown.
      continue;
    }
    if (dim == merged || dim == 1)
      continue;
    if (merged != 1)
      return false;
    merged = dim;
  }
  return true;
}

} // namespace sp::semantics

#endif // SP_SEMANTICS_BROADCAST_H
