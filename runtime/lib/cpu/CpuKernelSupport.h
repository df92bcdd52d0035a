//===- CpuKernelSupport.h - shared pieces of the CPU kernels ------*- C++ -*-===//
//
// Internal to runtime/lib/cpu: checking helpers that build the one-line
// messages of Kernel::check, element-type dispatch, NumPy broadcasting loops
// and the OpenMP work splitter every kernel uses.
//
//===----------------------------------------------------------------------===//
#ifndef SP_RUNTIME_LIB_CPU_CPUKERNELSUPPORT_H
#define SP_RUNTIME_LIB_CPU_CPUKERNELSUPPORT_H

#include "sp/Semantics/Axes.h"
#include "sp/Semantics/BFloat16.h"
#include "sp/Semantics/Random.h"
#include "sp/runtime/Kernel.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include <omp.h>

namespace sp::runtime::cpu {

using Shape = std::vector<int64_t>;

//===----------------------------------------------------------------------===//
// Registration: each kernel family appends its kernels.
//===----------------------------------------------------------------------===//

void addElementwiseKernels(std::vector<Kernel> &kernels);
void addLinalgKernels(std::vector<Kernel> &kernels);
void addNormalizationKernels(std::vector<Kernel> &kernels);
void addReductionKernels(std::vector<Kernel> &kernels);
void addDataMovementKernels(std::vector<Kernel> &kernels);
void addIndexingKernels(std::vector<Kernel> &kernels);
void addTrainingKernels(std::vector<Kernel> &kernels);
/// lr_schedule (ScheduleKernels.cpp), which reads an integer step count.
void addScheduleKernels(std::vector<Kernel> &kernels);

/// The learning rate of the update after `step` completed ones under a
/// graph.lr_schedule of `kind` (GraphOps.td has the formulas).
double scheduledLearningRate(const std::string &kind, int64_t warmupSteps, int64_t totalSteps,
                             double learningRate, double minLearningRate, int64_t step);
/// dropout (RandomKernels.cpp), which reads the session's seed and step.
void addRandomKernels(std::vector<Kernel> &kernels);
void addCollectiveKernels(std::vector<Kernel> &kernels);
void addAttentionKernels(std::vector<Kernel> &kernels);
void addBlockAttentionKernels(std::vector<Kernel> &kernels);
void addRingAttentionKernels(std::vector<Kernel> &kernels);
void addRmsNormKernels(std::vector<Kernel> &kernels);

//===----------------------------------------------------------------------===//
// Element types
//===----------------------------------------------------------------------===//

/// bool tensors hold one byte per element; any nonzero byte reads as true and
/// kernels write 0 or 1. A plain `bool` would make other bytes undefined.
using BoolByte = uint8_t;

inline bool isFloat(DType dtype) {
  return dtype == DType::Float32 || dtype == DType::Float64;
}
inline bool isInteger(DType dtype) {
  return dtype == DType::Int64 || dtype == DType::Int32;
}
inline bool isNumeric(DType dtype) { return isFloat(dtype) || isInteger(dtype); }
/// The element types the CPU kernels compute in.
inline bool isSupported(DType dtype) {
  return isNumeric(dtype) || dtype == DType::Bool;
}

/// bf16 elements (sp/Semantics/BFloat16.h): stored in two bytes, computed on
/// as float. Only the kernels whose checks say so take them (those
/// --precision=bf16 leaves in bf16); every other check refuses them, so that
/// a plan computing anything else in bf16 fails validation instead of being
/// read as float.
using semantics::BFloat16;
/// f32, f64 or bf16: the float types kernels that take bf16 store.
inline bool isFloatStorage(DType dtype) {
  return isFloat(dtype) || dtype == DType::BFloat16;
}
/// The type an element of storage type `T` is computed in: float for bf16.
template <typename T>
using ComputeType = std::conditional_t<std::is_same_v<T, BFloat16>, float, T>;

/// Calls `body` with a value of the C++ type of `dtype` (f32 or f64).
template <typename Body> decltype(auto) visitFloat(DType dtype, Body &&body) {
  if (dtype == DType::Float64)
    return body(double());
  return body(float());
}
/// Calls `body` with a value of the storage type of `dtype` (f32, f64 or
/// BFloat16).
template <typename Body> decltype(auto) visitFloatStorage(DType dtype, Body &&body) {
  if (dtype == DType::BFloat16)
    return body(BFloat16());
  return visitFloat(dtype, static_cast<Body &&>(body));
}
/// f32, f64, i64 or i32.
template <typename Body> decltype(auto) visitNumeric(DType dtype, Body &&body) {
  switch (dtype) {
  case DType::Float64:
    return body(double());
  case DType::Int64:
    return body(int64_t());
  case DType::Int32:
    return body(int32_t());
  default:
    return body(float());
  }
}
/// f32, f64, i64, i32 or bool.
template <typename Body> decltype(auto) visitSupported(DType dtype, Body &&body) {
  if (dtype == DType::Bool)
    return body(BoolByte());
  return visitNumeric(dtype, static_cast<Body &&>(body));
}
/// i64 or i32 (index tensors).
template <typename Body> decltype(auto) visitInteger(DType dtype, Body &&body) {
  if (dtype == DType::Int32)
    return body(int32_t());
  return body(int64_t());
}
/// An unsigned type of `bytes` bytes (1, 2, 4 or 8): kernels that only move
/// elements work for every element type through it.
template <typename Body> decltype(auto) visitElementBytes(int64_t bytes, Body &&body) {
  switch (bytes) {
  case 1:
    return body(uint8_t());
  case 2:
    return body(uint16_t());
  case 4:
    return body(uint32_t());
  default:
    return body(uint64_t());
  }
}

//===----------------------------------------------------------------------===//
// Shapes
//===----------------------------------------------------------------------===//

/// Product of shape[begin, end).
int64_t product(const Shape &shape, size_t begin = 0, size_t end = SIZE_MAX);
/// Maps an axis in [-rank, rank) to [0, rank) (sp/Semantics/Axes.h).
using semantics::normalizeAxis;
/// The NumPy broadcast of `shapes`, or nullopt when they do not broadcast.
std::optional<Shape> broadcastShapes(std::initializer_list<const Shape *> shapes);
/// Whether `from` broadcasts to exactly `to` (as NumPy and ONNX Expand do).
bool broadcastsTo(const Shape &from, const Shape &to);
/// Row-major element strides of `shape`.
Shape rowMajorStrides(const Shape &shape);

/// "float32 2x3", for messages.
std::string describe(const TensorArg &tensor);
std::string formatInts(const std::vector<int64_t> &values);

//===----------------------------------------------------------------------===//
// Checking
//===----------------------------------------------------------------------===//

/// The instruction's attributes; an empty set when the executor passed none.
const Attributes &attributesOf(const KernelArgs &args);

/// "" when `args` has `inputs` inputs and `outputs` outputs, else a message.
/// Absent optional operands count as inputs.
std::string checkArity(const KernelArgs &args, size_t inputs, size_t outputs);
/// "" when input `index` is present (required operands).
std::string checkPresent(const KernelArgs &args, size_t index, const char *role);
/// "" when `tensor` has element type `dtype`.
std::string checkDType(const TensorArg &tensor, DType dtype, const char *role);
/// "" when `tensor` is f32 or f64.
std::string checkFloat(const TensorArg &tensor, const char *role);
/// "" when `tensor` is f32, f64 or bf16.
std::string checkFloatStorage(const TensorArg &tensor, const char *role);
/// "" when `tensor` is f32, f64, i64 or i32.
std::string checkNumeric(const TensorArg &tensor, const char *role);
/// "" when `tensor` is f32, f64, i64, i32 or bf16.
std::string checkNumericOrBFloat16(const TensorArg &tensor, const char *role);
/// "" when `tensor` is i64 or i32.
std::string checkIndexType(const TensorArg &tensor, const char *role);
/// "" when `tensor` has `shape`.
std::string checkShape(const TensorArg &tensor, const Shape &shape, const char *role);
/// "" when `output` has the dtype and shape of `input`.
std::string checkSameType(const TensorArg &output, const TensorArg &input,
                          const char *role);
/// "" when `tensor` has no dims or only unit dims (one element).
std::string checkScalar(const TensorArg &tensor, const char *role);
/// "" when `tensor` is 1-D.
std::string checkVector(const TensorArg &tensor, const char *role);

/// Attribute checks: "" when `name` is absent (and not `required`) or holds
/// the right kind of value. Integer attributes also accept b; float ones i.
std::string checkIntAttribute(const Attributes &attributes, const char *name,
                              bool required = false);
std::string checkFloatAttribute(const Attributes &attributes, const char *name,
                                bool required = false);
std::string checkBoolAttribute(const Attributes &attributes, const char *name);
std::string checkIntsAttribute(const Attributes &attributes, const char *name,
                               bool required = false);

int64_t intAttribute(const Attributes &attributes, const char *name,
                     int64_t defaultValue);
double floatAttribute(const Attributes &attributes, const char *name,
                      double defaultValue);
bool boolAttribute(const Attributes &attributes, const char *name, bool defaultValue);

/// Runs each check in order and returns the first failure.
inline std::string firstError(std::initializer_list<std::string> checks) {
  for (const std::string &check : checks)
    if (!check.empty())
      return check;
  return {};
}

//===----------------------------------------------------------------------===//
// Parallel loops
//===----------------------------------------------------------------------===//

/// Below this much work (elements times a cost weight), a loop stays on one
/// thread: waking the OpenMP team costs more than it saves.
constexpr int64_t kMinParallelWork = 1 << 15;

/// The most chunks parallelChunks splits a loop into.
inline int maxParallelChunks() { return omp_in_parallel() ? 1 : omp_get_max_threads(); }

/// Splits [0, count) into at most maxParallelChunks() contiguous ranges, one
/// per thread, and calls body(chunk, begin, end) for each; a single call on
/// the caller's thread when the work (count * costPerItem) is small. Chunk
/// numbers let callers keep per-chunk partial results and combine them in a
/// fixed order, so that results do not depend on thread timing.
template <typename Body>
void parallelChunks(int64_t count, int64_t costPerItem, Body &&body) {
  if (count <= 0)
    return;
  int64_t work = count * std::max<int64_t>(costPerItem, 1);
  int threads = int(std::min<int64_t>(
      {int64_t(maxParallelChunks()), count, work / (kMinParallelWork / 2)}));
  if (threads <= 1) {
    body(0, int64_t(0), count);
    return;
  }
#pragma omp parallel num_threads(threads)
  {
    int64_t team = omp_get_num_threads(), thread = omp_get_thread_num();
    int64_t begin = count * thread / team, end = count * (thread + 1) / team;
    if (begin < end)
      body(int(thread), begin, end);
  }
}

/// parallelChunks for bodies that need no chunk number: body(begin, end).
template <typename Body>
void parallelFor(int64_t count, int64_t costPerItem, Body &&body) {
  parallelChunks(count, costPerItem,
                 [&](int, int64_t begin, int64_t end) { body(begin, end); });
}

//===----------------------------------------------------------------------===//
// Broadcasting
//===----------------------------------------------------------------------===//

/// Up to three row-major inputs broadcast against one output, with adjacent
/// dims merged wherever every input walks them contiguously (or not at all).
/// After merging, each input's stride in the last dim is 0 or 1, so the inner
/// loops are plain vectorizable loops.
struct BroadcastLoop {
  static constexpr int kMaxInputs = 3;
  using Offsets = std::array<int64_t, kMaxInputs>;

  Shape dims;                   // merged output dims, at least one
  std::vector<Offsets> strides; // per merged dim, each input's element stride
  int numInputs = 0;

  BroadcastLoop(const Shape &output, std::initializer_list<const Shape *> inputs);

  /// Calls row(outOffset, inputOffsets, length, innerStrides) over every run of
  /// the last merged dim, split across threads (rows are split too when there
  /// are few of them). `costPerElement` weighs the work for parallelFor.
  template <typename Row> void run(int64_t costPerElement, Row &&row) const;
};

template <typename Row>
void BroadcastLoop::run(int64_t costPerElement, Row &&row) const {
  int64_t inner = dims.back();
  int64_t outer = product(dims, 0, dims.size() - 1);
  if (inner == 0 || outer == 0)
    return;
  // Split a row into chunks when there are too few rows to share out.
  int64_t chunks = 1;
  if (outer < 64 && inner >= 8192)
    chunks = std::min<int64_t>(inner / 4096, 64);
  int64_t chunkLength = (inner + chunks - 1) / chunks;
  const Offsets &innerStrides = strides.back();
  int rank = int(dims.size());
  parallelFor(outer * chunks, chunkLength * costPerElement, [&](int64_t begin, int64_t end) {
    // Position of the first row of this range; then step like an odometer.
    int64_t rowIndex = begin / chunks;
    Shape index(rank, 0);
    Offsets offsets{};
    for (int d = rank - 2; d >= 0; --d) {
      index[d] = rowIndex % dims[d];
      rowIndex /= dims[d];
      for (int i = 0; i < numInputs; ++i)
        offsets[i] += index[d] * strides[d][i];
    }
    int64_t outRow = (begin / chunks) * inner;
    for (int64_t item = begin; item < end; ++item) {
      int64_t chunk = item % chunks;
      int64_t start = chunk * chunkLength;
      int64_t length = std::min(chunkLength, inner - start);
      Offsets at = offsets;
      for (int i = 0; i < numInputs; ++i)
        at[i] += start * innerStrides[i];
      if (length > 0)
        row(outRow + start, at, length, innerStrides);
      if (chunk + 1 < chunks)
        continue;
      outRow += inner;
      for (int d = rank - 2; d >= 0; --d) {
        for (int i = 0; i < numInputs; ++i)
          offsets[i] += strides[d][i];
        if (++index[d] < dims[d])
          break;
        for (int i = 0; i < numInputs; ++i)
          offsets[i] -= dims[d] * strides[d][i];
        index[d] = 0;
      }
    }
  });
}

/// Bytes a workspace array of `count` elements of `elementBytes` takes:
/// arrays start on cache lines.
inline uint64_t workspaceArrayBytes(int64_t count, int64_t elementBytes) {
  return (uint64_t(count) * uint64_t(elementBytes) + 63) / 64 * 64;
}

/// Hands out a kernel's scratch arrays from the workspace the session sized
/// for it (Kernel::workspace), in the order the sizing function counted
/// them; outside a session, or past the workspace, from memory of its own.
class WorkspaceArrays {
public:
  explicit WorkspaceArrays(const KernelArgs &args)
      : base_(static_cast<char *>(args.workspace)), capacity_(args.workspaceBytes) {}

  template <typename T> T *take(int64_t count) {
    uint64_t bytes = workspaceArrayBytes(count, sizeof(T));
    if (base_ && used_ + bytes <= capacity_) {
      T *array = reinterpret_cast<T *>(base_ + used_);
      used_ += bytes;
      return array;
    }
    owned_.emplace_back(bytes / sizeof(uint64_t) + 1);
    return reinterpret_cast<T *>(owned_.back().data());
  }

private:
  char *base_;
  uint64_t capacity_, used_ = 0;
  std::vector<std::vector<uint64_t>> owned_;
};

//===----------------------------------------------------------------------===//
// bf16 through an f32 kernel
//===----------------------------------------------------------------------===//

/// Runs the f32 kernel `run` on f32 copies (in the workspace) of a launch
/// whose float tensors are bf16, and rounds its results into the bf16
/// outputs once: for kernels whose f32 path is a library call (sgemm) or
/// accumulates (reduce_sum), so that bf16 takes the f32 path's accumulation.
/// Inputs that are not bf16 pass through.
std::string runWidened(const KernelArgs &args, std::string (*run)(const KernelArgs &));
/// The workspace runWidened needs: an f32 array per bf16 tensor; 0 when the
/// launch holds no bf16.
uint64_t widenedBFloat16Workspace(const KernelArgs &args);

/// What dropout multiplies elements [first, first + count) of the whole
/// tensor by (sp/Semantics/Random.h): `scale` where it keeps one, 0 where it
/// drops it. One Philox block serves four consecutive indices; kLanes blocks
/// are drawn at once and laid out in element order, so that both loops
/// vectorize. graph.dropout and the attention kernels draw through it.
template <typename T>
void dropoutFactors(const sp::semantics::DropoutKey &key, uint32_t keepThreshold, T scale,
                    uint64_t first, int64_t count, T *factors) {
  constexpr int kLanes = 16;
  uint64_t last = first + uint64_t(count);
  for (uint64_t group = first >> 2; group * 4 < last; group += kLanes) {
    uint32_t words[4][kLanes];
    sp::semantics::dropoutBlocks<kLanes>(key, group, words);
    uint32_t ordered[4 * kLanes];
    for (int lane = 0; lane < kLanes; ++lane)
      for (int w = 0; w < 4; ++w)
        ordered[4 * lane + w] = words[w][lane];
    uint64_t from = std::max(first, group * 4), to = std::min(last, (group + kLanes) * 4);
    const uint32_t *bits = ordered + (from - group * 4);
    T *target = factors + (from - first);
    for (int64_t k = 0, n = int64_t(to - from); k < n; ++k)
      target[k] = sp::semantics::dropoutKeeps(bits[k], keepThreshold) ? scale : T(0);
  }
}

} // namespace sp::runtime::cpu

#endif // SP_RUNTIME_LIB_CPU_CPUKERNELSUPPORT_H
