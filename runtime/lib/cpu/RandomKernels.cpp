//===- RandomKernels.cpp - dropout ------------------------------------===//
//
// Training-mode dropout (GraphOps.td, graph.dropout). The mask is Philox's
// (sp/Semantics/Random.h) keyed by the session's seed and step, the op's
// site and each element's index in the whole tensor: a shard maps its rows
// along the sequence axis to their global rows through `positions`.
//
//===----------------------------------------------------------------------===//

#include "CpuKernelSupport.h"

#include "sp/Semantics/Random.h"

namespace sp::runtime::cpu {

namespace {

using sp::semantics::DropoutKey;

std::string checkDropout(const KernelArgs &args) {
  const Attributes &attributes = attributesOf(args);
  // Operands are looked at only once there are as many as dropout has.
  if (std::string problem = firstError({checkArity(args, 2, 1), checkPresent(args, 0, "input")});
      !problem.empty())
    return problem;
  if (std::string problem = firstError(
          {checkFloat(args.inputs[0], "input"),
           checkSameType(args.outputs[0], args.inputs[0], "result"),
           checkFloatAttribute(attributes, "ratio", true),
           checkIntAttribute(attributes, "site", true),
           checkIntAttribute(attributes, "sequence_axis"),
           checkIntAttribute(attributes, "sequence_length"),
           checkIntAttribute(attributes, "micro_batch"),
           checkIntAttribute(attributes, "unpadded_keys")});
      !problem.empty())
    return problem;
  double ratio = floatAttribute(attributes, "ratio", 0);
  if (!(ratio >= 0.0 && ratio <= 1.0))
    return "ratio " + std::to_string(ratio) + " is not in [0, 1]";
  if (intAttribute(attributes, "site", 0) < 0)
    return "site must be non-negative";
  if (intAttribute(attributes, "micro_batch", 0) < 0)
    return "micro_batch must be non-negative";
  const TensorArg &positions = args.inputs[1];
  bool sharded = positions.present;
  if (sharded != attributes.has("sequence_axis") || sharded != attributes.has("sequence_length"))
    return "positions, sequence_axis and sequence_length go together";
  if (!sharded)
    return {};
  if (std::string problem = firstError(
          {checkDType(positions, DType::Int64, "positions"), checkVector(positions, "positions")});
      !problem.empty())
    return problem;
  const Shape &shape = args.inputs[0].shape;
  int64_t axis = intAttribute(attributes, "sequence_axis", 0);
  int64_t length = intAttribute(attributes, "sequence_length", 0);
  int64_t rows = positions.shape[0];
  if (axis < 0 || axis >= int64_t(shape.size()))
    return "sequence_axis " + std::to_string(axis) + " is out of range for " +
           describe(args.inputs[0]);
  if (rows < 1 || rows > length || shape[axis] % rows != 0)
    return std::to_string(rows) + " positions do not divide dim " + std::to_string(axis) +
           " of " + describe(args.inputs[0]) + " within a sequence of " + std::to_string(length);
  if (attributes.has("unpadded_keys")) {
    int64_t keys = intAttribute(attributes, "unpadded_keys", 0);
    if (axis + 1 >= int64_t(shape.size()) || keys < 1 || keys > shape.back())
      return "unpadded_keys " + std::to_string(keys) + " needs a last dim after sequence_axis " +
             "of at least that length in " + describe(args.inputs[0]);
  }
  return {};
}

/// Elements whose dropout factors are drawn at once (dropoutFactors): a
/// stack buffer that stays in L1.
constexpr int64_t kChunk = 1024;

template <typename T>
void dropRows(const KernelArgs &args, const DropoutKey &key, uint32_t keepThreshold, T scale) {
  const Attributes &attributes = attributesOf(args);
  const Shape &shape = args.inputs[0].shape;
  const T *x = args.inputs[0].as<T>();
  T *y = args.outputs[0].as<T>();
  // Rows along the sequence axis: [outer, local rows, inner] locally,
  // [outer, global rows, inner] in the whole tensor.
  const TensorArg &positionsArg = args.inputs[1];
  bool sharded = positionsArg.present;
  int64_t axis = sharded ? intAttribute(attributes, "sequence_axis", 0) : 0;
  int64_t outer = product(shape, 0, size_t(axis));
  int64_t localRows = shape.empty() ? 1 : shape[axis];
  int64_t inner = product(shape, size_t(axis) + 1);
  int64_t positionCount = sharded ? positionsArg.shape[0] : localRows;
  const int64_t *positions = sharded ? positionsArg.as<int64_t>() : nullptr;
  int64_t sequenceLength = sharded ? intAttribute(attributes, "sequence_length", 0) : localRows;
  int64_t globalRows = localRows / positionCount * sequenceLength;
  // A row is drawn in runs of consecutive indices: the whole row, or each
  // last-dim stretch when that dim holds padded keys, which count as
  // `unpadded_keys` long in the index.
  int64_t unpaddedKeys = intAttribute(attributes, "unpadded_keys", 0);
  int64_t runLength = unpaddedKeys ? shape.back() : inner;
  int64_t runsPerRow = runLength > 0 ? inner / runLength : 0;
  int64_t runStride = unpaddedKeys ? unpaddedKeys : inner;
  // Micro-batch k's slice follows the k whole slices before it.
  uint64_t sliceOffset = uint64_t(intAttribute(attributes, "micro_batch", 0)) *
                         uint64_t(outer * globalRows * runsPerRow * runStride);
  parallelFor(outer * localRows * runsPerRow, runLength * 4, [&](int64_t begin, int64_t end) {
    T factors[kChunk];
    for (int64_t run = begin; run < end; ++run) {
      int64_t row = run / runsPerRow, part = run % runsPerRow;
      int64_t o = row / localRows, local = row % localRows;
      int64_t global = sharded ? local / positionCount * sequenceLength +
                                     positions[local % positionCount]
                               : local;
      uint64_t first =
          sliceOffset + uint64_t(((o * globalRows + global) * runsPerRow + part) * runStride);
      const T *in = x + run * runLength;
      T *out = y + run * runLength;
      // The run's global indices [first, first + runLength) are consecutive:
      // their factors are drawn a chunk at a time.
      for (int64_t done = 0; done < runLength; done += kChunk) {
        int64_t count = std::min(kChunk, runLength - done);
        dropoutFactors(key, keepThreshold, scale, first + uint64_t(done), count, factors);
        for (int64_t k = 0; k < count; ++k)
          out[done + k] = in[done + k] * factors[k];
      }
    }
  });
}

std::string runDropout(const KernelArgs &args) {
  const Attributes &attributes = attributesOf(args);
  double ratio = floatAttribute(attributes, "ratio", 0);
  DropoutKey key;
  if (args.context) {
    key.seed = args.context->seed;
    key.step = uint64_t(args.context->step);
  }
  key.site = uint64_t(intAttribute(attributes, "site", 0));
  uint32_t keepThreshold = sp::semantics::dropoutKeepThreshold(ratio);
  visitFloat(args.inputs[0].dtype, [&](auto tag) {
    using T = decltype(tag);
    dropRows<T>(args, key, keepThreshold, sp::semantics::dropoutScale<T>(ratio));
  });
  return {};
}

} // namespace

void addRandomKernels(std::vector<Kernel> &kernels) {
  kernels.push_back({"dropout", checkDropout, runDropout, false, kFloatElementTypes});
}

} // namespace sp::runtime::cpu
