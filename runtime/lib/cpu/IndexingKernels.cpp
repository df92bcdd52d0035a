//===- IndexingKernels.cpp - gather and gather_nd, with gradients -------===//
//
// Indices are data: every one is checked before any element moves, and one
// out of range is a run-time error line naming it. Negative indices count
// from the end. The gradients are scatter-adds into a zeroed result; they
// split the work by columns of the copied slices, so that repeated indices
// never race.
//
//===----------------------------------------------------------------------===//

#include "CpuKernelSupport.h"

namespace sp::runtime::cpu {

namespace {

/// Columns of one slice that a scatter-add task owns.
constexpr int64_t kColumnBlock = 256;

/// Reads index `i` of an i64 or i32 tensor.
int64_t indexAt(const TensorArg &indices, int64_t i) {
  return indices.dtype == DType::Int32 ? int64_t(indices.as<int32_t>()[i])
                                       : indices.as<int64_t>()[i];
}

/// "" when every index is in [-size, size), else a message about the first
/// that is not.
std::string checkIndexRange(const TensorArg &indices, int64_t size, const char *what) {
  return visitInteger(indices.dtype, [&](auto tag) -> std::string {
    using I = decltype(tag);
    const I *values = indices.as<I>();
    for (int64_t i = 0, e = indices.numElements(); i < e; ++i)
      if (int64_t(values[i]) < -size || int64_t(values[i]) >= size)
        return std::string(what) + " " + std::to_string(values[i]) + " at position " +
               std::to_string(i) + " is out of range for a dim of size " +
               std::to_string(size);
    return {};
  });
}

int64_t wrapIndex(int64_t index, int64_t size) { return index < 0 ? index + size : index; }

/// Zeroes `dx` (`total` elements), then adds slice (g, i) of `dy` (each
/// `inner` long, `count` per group g) at dx + target(g, i). Tasks own
/// (group, column block) pairs and walk all of a group's slices, so repeated
/// targets never race and sums do not depend on thread timing.
template <typename T, typename Target>
void scatterAddSlices(const T *dy, T *dx, int64_t total, int64_t groups, int64_t count,
                      int64_t inner, Target target) {
  std::fill(dx, dx + total, T(0));
  int64_t blocks = (inner + kColumnBlock - 1) / kColumnBlock;
  parallelFor(groups * blocks, count * std::min(inner, kColumnBlock),
              [&](int64_t begin, int64_t end) {
                for (int64_t item = begin; item < end; ++item) {
                  int64_t group = item / blocks, first = (item % blocks) * kColumnBlock;
                  int64_t last = std::min(first + kColumnBlock, inner);
                  for (int64_t i = 0; i < count; ++i) {
                    const T *from = dy + (group * count + i) * inner;
                    T *to = dx + target(group, i);
                    for (int64_t j = first; j < last; ++j)
                      to[j] += from[j];
                  }
                }
              });
}

//===----------------------------------------------------------------------===//
// gather, gather_grad
//===----------------------------------------------------------------------===//

/// The result shape of gather(data of `dataShape`, indices of `indicesShape`).
Shape gatherShape(const Shape &dataShape, const Shape &indicesShape, int64_t axis) {
  Shape shape(dataShape.begin(), dataShape.begin() + axis);
  shape.insert(shape.end(), indicesShape.begin(), indicesShape.end());
  shape.insert(shape.end(), dataShape.begin() + axis + 1, dataShape.end());
  return shape;
}

/// Shared by gather (data = input 0) and gather_grad (data = output 0).
std::string checkGatherLike(const TensorArg &data, const TensorArg &indices,
                            const TensorArg &gathered, const Attributes &attributes,
                            const char *gatheredRole) {
  if (std::string error = firstError({checkIntAttribute(attributes, "axis", true),
                                      checkIndexType(indices, "indices")});
      !error.empty())
    return error;
  int64_t rank = int64_t(data.shape.size());
  int64_t axisValue = intAttribute(attributes, "axis", 0);
  std::optional<int64_t> axis = normalizeAxis(axisValue, rank);
  if (!axis)
    return "axis " + std::to_string(axisValue) + " is out of range for rank " +
           std::to_string(rank);
  return firstError({checkDType(gathered, data.dtype, gatheredRole),
                     checkShape(gathered, gatherShape(data.shape, indices.shape, *axis),
                                gatheredRole)});
}

std::string checkGather(const KernelArgs &args) {
  if (std::string error = firstError({checkArity(args, 2, 1), checkPresent(args, 0, "data"),
                                      checkPresent(args, 1, "indices")});
      !error.empty())
    return error;
  return checkGatherLike(args.inputs[0], args.inputs[1], args.outputs[0], attributesOf(args),
                         "result");
}

/// [outer, axis size, inner] around the gather axis of `data`.
struct GatherLayout {
  int64_t outer, size, inner, count;
  GatherLayout(const TensorArg &data, const TensorArg &indices, const Attributes &attributes) {
    int64_t axis =
        *normalizeAxis(intAttribute(attributes, "axis", 0), int64_t(data.shape.size()));
    outer = product(data.shape, 0, axis);
    size = data.shape[axis];
    inner = product(data.shape, axis + 1);
    count = indices.numElements();
  }
};

std::string runGather(const KernelArgs &args) {
  const TensorArg &data = args.inputs[0], &indices = args.inputs[1], &out = args.outputs[0];
  GatherLayout layout(data, indices, attributesOf(args));
  if (std::string error = checkIndexRange(indices, layout.size, "gather index"); !error.empty())
    return error;
  int64_t elementBytes = dtypeSize(data.dtype);
  int64_t sliceBytes = layout.inner * elementBytes;
  const char *from = static_cast<const char *>(data.data);
  char *to = static_cast<char *>(out.data);
  // One task per (outer, index) slice: an embedding lookup is one outer row.
  parallelFor(layout.outer * layout.count, layout.inner, [&](int64_t begin, int64_t end) {
    for (int64_t item = begin; item < end; ++item) {
      int64_t o = item / layout.count, i = item % layout.count;
      int64_t index = wrapIndex(indexAt(indices, i), layout.size);
      std::memcpy(to + item * sliceBytes,
                  from + (o * layout.size + index) * sliceBytes, size_t(sliceBytes));
    }
  });
  return {};
}

std::string checkGatherGrad(const KernelArgs &args) {
  if (std::string error = firstError({checkArity(args, 2, 1),
                                      checkPresent(args, 0, "result_grad"),
                                      checkPresent(args, 1, "indices")});
      !error.empty())
    return error;
  if (std::string error = checkNumeric(args.outputs[0], "data_grad"); !error.empty())
    return error;
  return checkGatherLike(args.outputs[0], args.inputs[1], args.inputs[0], attributesOf(args),
                         "result_grad");
}

std::string runGatherGrad(const KernelArgs &args) {
  const TensorArg &resultGrad = args.inputs[0], &indices = args.inputs[1],
                  &dataGrad = args.outputs[0];
  GatherLayout layout(dataGrad, indices, attributesOf(args));
  if (std::string error = checkIndexRange(indices, layout.size, "gather index"); !error.empty())
    return error;
  visitNumeric(dataGrad.dtype, [&](auto tag) {
    using T = decltype(tag);
    scatterAddSlices(resultGrad.as<T>(), dataGrad.as<T>(), dataGrad.numElements(),
                     layout.outer, layout.count, layout.inner, [&](int64_t o, int64_t i) {
                       int64_t index = wrapIndex(indexAt(indices, i), layout.size);
                       return (o * layout.size + index) * layout.inner;
                     });
  });
  return {};
}

//===----------------------------------------------------------------------===//
// gather_nd, gather_nd_grad
//===----------------------------------------------------------------------===//

/// ONNX GatherND's view: `batches` shared leading dims, then per batch
/// `tuples` index tuples of `depth` coordinates, each picking a slice of
/// `inner` elements.
struct GatherNDLayout {
  int64_t batchDims = 0, depth = 0;
  int64_t batches = 1, tuples = 1, inner = 1, batchStride = 1;
  Shape dims;     // data dims the coordinates address
  Shape strides;  // their strides within a batch
  Shape resultShape;
};

std::optional<GatherNDLayout> gatherNDLayout(const Shape &data, const Shape &indices,
                                             int64_t batchDims, std::string &error) {
  GatherNDLayout layout;
  int64_t dataRank = int64_t(data.size()), indicesRank = int64_t(indices.size());
  if (indicesRank < 1) {
    error = "indices must have rank >= 1";
    return std::nullopt;
  }
  layout.batchDims = batchDims;
  layout.depth = indices.back();
  if (batchDims < 0 || batchDims >= indicesRank || layout.depth < 0 ||
      batchDims + layout.depth > dataRank) {
    error = "batch_dims " + std::to_string(batchDims) + " and index depth " +
            std::to_string(layout.depth) + " do not fit data " + formatShape(data) +
            " and indices " + formatShape(indices);
    return std::nullopt;
  }
  for (int64_t d = 0; d < batchDims; ++d)
    if (data[d] != indices[d]) {
      error = "batch dims of data " + formatShape(data) + " and indices " +
              formatShape(indices) + " differ";
      return std::nullopt;
    }
  layout.batches = product(data, 0, batchDims);
  layout.tuples = product(indices, batchDims, indicesRank - 1);
  layout.inner = product(data, batchDims + layout.depth);
  layout.batchStride = product(data, batchDims);
  Shape dense = rowMajorStrides(data);
  for (int64_t d = batchDims; d < batchDims + layout.depth; ++d) {
    layout.dims.push_back(data[d]);
    layout.strides.push_back(dense[d]);
  }
  layout.resultShape.assign(indices.begin(), indices.end() - 1);
  layout.resultShape.insert(layout.resultShape.end(), data.begin() + batchDims + layout.depth,
                            data.end());
  return layout;
}

/// Element offsets (within a batch) of every index tuple, or an error about
/// the first coordinate out of range.
std::optional<std::vector<int64_t>> tupleOffsets(const GatherNDLayout &layout,
                                                 const TensorArg &indices, std::string &error) {
  std::vector<int64_t> offsets(layout.batches * layout.tuples);
  for (int64_t t = 0; t < int64_t(offsets.size()); ++t) {
    int64_t offset = 0;
    for (int64_t c = 0; c < layout.depth; ++c) {
      int64_t index = indexAt(indices, t * layout.depth + c);
      int64_t size = layout.dims[c];
      if (index < -size || index >= size) {
        error = "gather_nd index " + std::to_string(index) + " at position " +
                std::to_string(t * layout.depth + c) + " is out of range for a dim of size " +
                std::to_string(size);
        return std::nullopt;
      }
      offset += wrapIndex(index, size) * layout.strides[c];
    }
    offsets[t] = offset;
  }
  return offsets;
}

std::string checkGatherNDLike(const TensorArg &data, const TensorArg &indices,
                              const TensorArg &gathered, const Attributes &attributes,
                              const char *gatheredRole) {
  if (std::string error = firstError({checkIntAttribute(attributes, "batch_dims"),
                                      checkIndexType(indices, "indices")});
      !error.empty())
    return error;
  std::string error;
  std::optional<GatherNDLayout> layout = gatherNDLayout(
      data.shape, indices.shape, intAttribute(attributes, "batch_dims", 0), error);
  if (!layout)
    return error;
  return firstError({checkDType(gathered, data.dtype, gatheredRole),
                     checkShape(gathered, layout->resultShape, gatheredRole)});
}

std::string checkGatherND(const KernelArgs &args) {
  if (std::string error = firstError({checkArity(args, 2, 1), checkPresent(args, 0, "data"),
                                      checkPresent(args, 1, "indices")});
      !error.empty())
    return error;
  return checkGatherNDLike(args.inputs[0], args.inputs[1], args.outputs[0],
                           attributesOf(args), "result");
}

std::string runGatherND(const KernelArgs &args) {
  const TensorArg &data = args.inputs[0], &indices = args.inputs[1], &out = args.outputs[0];
  std::string error;
  GatherNDLayout layout = *gatherNDLayout(
      data.shape, indices.shape, intAttribute(attributesOf(args), "batch_dims", 0), error);
  std::optional<std::vector<int64_t>> offsets = tupleOffsets(layout, indices, error);
  if (!offsets)
    return error;
  int64_t elementBytes = dtypeSize(data.dtype);
  int64_t sliceBytes = layout.inner * elementBytes;
  const char *from = static_cast<const char *>(data.data);
  char *to = static_cast<char *>(out.data);
  parallelFor(int64_t(offsets->size()), layout.inner, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      int64_t batch = t / layout.tuples;
      std::memcpy(to + t * sliceBytes,
                  from + (batch * layout.batchStride + (*offsets)[t]) * elementBytes,
                  size_t(sliceBytes));
    }
  });
  return {};
}

std::string checkGatherNDGrad(const KernelArgs &args) {
  if (std::string error = firstError({checkArity(args, 2, 1),
                                      checkPresent(args, 0, "result_grad"),
                                      checkPresent(args, 1, "indices")});
      !error.empty())
    return error;
  if (std::string error = checkNumeric(args.outputs[0], "data_grad"); !error.empty())
    return error;
  return checkGatherNDLike(args.outputs[0], args.inputs[1], args.inputs[0],
                           attributesOf(args), "result_grad");
}

std::string runGatherNDGrad(const KernelArgs &args) {
  const TensorArg &resultGrad = args.inputs[0], &indices = args.inputs[1],
                  &dataGrad = args.outputs[0];
  std::string error;
  GatherNDLayout layout = *gatherNDLayout(
      dataGrad.shape, indices.shape, intAttribute(attributesOf(args), "batch_dims", 0), error);
  std::optional<std::vector<int64_t>> offsets = tupleOffsets(layout, indices, error);
  if (!offsets)
    return error;
  visitNumeric(dataGrad.dtype, [&](auto tag) {
    using T = decltype(tag);
    scatterAddSlices(resultGrad.as<T>(), dataGrad.as<T>(), dataGrad.numElements(),
                     layout.batches, layout.tuples, layout.inner,
                     [&](int64_t batch, int64_t t) {
                       return batch * layout.batchStride + (*offsets)[batch * layout.tuples + t];
                     });
  });
  return {};
}

} // namespace

void addIndexingKernels(std::vector<Kernel> &kernels) {
  kernels.push_back({"gather", checkGather, runGather});
  kernels.push_back({"gather_grad", checkGatherGrad, runGatherGrad});
  kernels.push_back({"gather_nd", checkGatherND, runGatherND});
  kernels.push_back({"gather_nd_grad", checkGatherNDGrad, runGatherNDGrad});
}

} // namespace sp::runtime::cpu
