//===- Collectives.h - what collectives do to shapes ------------*- C++ -*-===//
//
// The sequence-parallel collectives by how they shape their result, for the
// graph dialect's type inference and the kernels' checks alike.
//
//===----------------------------------------------------------------------===//
#ifndef SP_SEMANTICS_COLLECTIVES_H
#define SP_SEMANTICS_COLLECTIVES_H

#include <cstdint>
#include <string>
#include <vector>

namespace sp::semantics {

/// The collectives of GraphCollectives.td and the runtime's collective kernels.
enum class CollectiveKind {
  AllGather,
  ReduceScatter,
  AllReduce,
  AllToAll,
  RingShift,
  ShardSlice,
  ShardUnslice
};

/// Whether the collective splits or joins `axis` across the ranks.
inline bool splitsAxis(CollectiveKind kind) {
  return kind == CollectiveKind::AllGather || kind == CollectiveKind::ReduceScatter ||
         kind == CollectiveKind::ShardSlice || kind == CollectiveKind::ShardUnslice;
}

/// Whether the collective sums the ranks' values.
inline bool sumsAcrossRanks(CollectiveKind kind) {
  return kind == CollectiveKind::ReduceScatter || kind == CollectiveKind::AllReduce;
}

/// Turns `dims`, the input's, into the result's: the split axis divided by
/// `numRanks` (reduce_scatter, shard_slice, all_to_all's split axis), the
/// joined axis multiplied (all_gather, shard_unslice, all_to_all's concat
/// axis); all_reduce and ring_shift keep the shape. The axes are in
/// [0, rank); dims equal to `unknown` stay unknown. Returns "" or why the
/// split axis does not split into `numRanks` equal parts.
inline std::string collectiveResultShape(CollectiveKind kind, std::vector<int64_t> &dims,
                                         int64_t axis, int64_t concatAxis, int64_t numRanks,
                                         int64_t unknown) {
  auto divide = [&](int64_t at) -> std::string {
    int64_t &dim = dims[size_t(at)];
    if (dim == unknown)
      return "";
    if (dim % numRanks != 0)
      return "dim " + std::to_string(at) + " of size " + std::to_string(dim) +
             " does not split into " + std::to_string(numRanks) + " equal parts";
    dim /= numRanks;
    return "";
  };
  auto multiply = [&](int64_t at) {
    int64_t &dim = dims[size_t(at)];
    if (dim != unknown)
      dim *= numRanks;
  };
  switch (kind) {
  case CollectiveKind::AllGather:
  case CollectiveKind::ShardUnslice:
    multiply(axis);
    return "";
  case CollectiveKind::ReduceScatter:
  case CollectiveKind::ShardSlice:
    return divide(axis);
  case CollectiveKind::AllToAll:
    if (std::string error = divide(axis); !error.empty())
      return error;
    multiply(concatAxis);
    return "";
  case CollectiveKind::AllReduce:
  case CollectiveKind::RingShift:
    return "";
  }
  return "";
}

} // namespace sp::semantics

#endif // SP_SEMANTICS_COLLECTIVES_H
