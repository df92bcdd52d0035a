//===- DataMovementKernels.cpp - shape ops and copies -------------------===//
//
// Ops that only move or generate elements: shape, range, constant_of_shape,
// reshape, expand, transpose, unsqueeze, squeeze, split, concat, trilu. They
// work on any element type through its byte size. Shape operands that are
// tensors (reshape's and expand's targets, constant_of_shape's shape) are
// checked at run time against the shape the compiler planned, and a
// disagreement is an error line rather than a silently wrong tensor.
//
//===----------------------------------------------------------------------===//

#include "CpuKernelSupport.h"

#include "sp/Semantics/Slice.h"

#include <cmath>
#include <numeric>

#ifdef __AVX2__
#include <immintrin.h>
#endif

namespace sp::runtime::cpu {

namespace {

int64_t byteSize(const TensorArg &tensor) {
  return tensor.numElements() * dtypeSize(tensor.dtype);
}

/// Copies `bytes` bytes in parallel page-sized pieces.
void copyBytes(void *to, const void *from, int64_t bytes) {
  if (to == from || bytes == 0)
    return;
  parallelFor((bytes + 4095) / 4096, 512, [&](int64_t begin, int64_t end) {
    int64_t first = begin * 4096, last = std::min(end * 4096, bytes);
    std::memcpy(static_cast<char *>(to) + first, static_cast<const char *>(from) + first,
                size_t(last - first));
  });
}

/// The values of a 1-D i64 (or i32) operand.
std::vector<int64_t> readInts(const TensorArg &tensor) {
  std::vector<int64_t> values(tensor.numElements());
  visitInteger(tensor.dtype, [&](auto tag) {
    using I = decltype(tag);
    const I *data = tensor.as<I>();
    for (size_t i = 0; i < values.size(); ++i)
      values[i] = int64_t(data[i]);
  });
  return values;
}

std::string checkShapeOperand(const TensorArg &shape, const char *role) {
  return firstError({checkDType(shape, DType::Int64, role), checkVector(shape, role)});
}

//===----------------------------------------------------------------------===//
// shape
//===----------------------------------------------------------------------===//

/// The [first, last) dims that shape reads, clamped as ONNX Shape does.
std::pair<int64_t, int64_t> shapeBounds(const KernelArgs &args) {
  const Attributes &attributes = attributesOf(args);
  int64_t rank = int64_t(args.inputs[0].shape.size());
  int64_t start = intAttribute(attributes, "start", 0);
  int64_t end = attributes.has("end") ? intAttribute(attributes, "end", rank) : rank;
  start = std::clamp<int64_t>(start < 0 ? start + rank : start, 0, rank);
  end = std::clamp<int64_t>(end < 0 ? end + rank : end, 0, rank);
  return {start, std::max(start, end)};
}

std::string checkShapeOp(const KernelArgs &args) {
  if (std::string error = firstError({checkArity(args, 1, 1), checkPresent(args, 0, "input")});
      !error.empty())
    return error;
  const Attributes &attributes = attributesOf(args);
  if (std::string error = firstError({checkIntAttribute(attributes, "start"),
                                      checkIntAttribute(attributes, "end")});
      !error.empty())
    return error;
  auto [first, last] = shapeBounds(args);
  const TensorArg &out = args.outputs[0];
  return firstError({checkDType(out, DType::Int64, "result"),
                     checkShape(out, {last - first}, "result")});
}

std::string runShapeOp(const KernelArgs &args) {
  auto [first, last] = shapeBounds(args);
  int64_t *out = args.outputs[0].as<int64_t>();
  for (int64_t d = first; d < last; ++d)
    out[d - first] = args.inputs[0].shape[d];
  return {};
}

//===----------------------------------------------------------------------===//
// range
//===----------------------------------------------------------------------===//

std::string checkRange(const KernelArgs &args) {
  if (std::string error = firstError({checkArity(args, 3, 1), checkPresent(args, 0, "start"),
                                      checkPresent(args, 1, "limit"),
                                      checkPresent(args, 2, "delta")});
      !error.empty())
    return error;
  const TensorArg &start = args.inputs[0], &out = args.outputs[0];
  return firstError({checkNumeric(start, "start"), checkScalar(start, "start"),
                     checkScalar(args.inputs[1], "limit"), checkScalar(args.inputs[2], "delta"),
                     checkDType(args.inputs[1], start.dtype, "limit"),
                     checkDType(args.inputs[2], start.dtype, "delta"),
                     checkDType(out, start.dtype, "result"), checkVector(out, "result")});
}

std::string runRange(const KernelArgs &args) {
  const TensorArg &out = args.outputs[0];
  return visitNumeric(out.dtype, [&](auto tag) -> std::string {
    using T = decltype(tag);
    T start = args.inputs[0].as<T>()[0], limit = args.inputs[1].as<T>()[0],
      delta = args.inputs[2].as<T>()[0];
    if (delta == T(0))
      return "range delta is zero";
    int64_t length;
    if constexpr (std::is_integral_v<T>) {
      // ceil((limit - start) / delta) in exact integer arithmetic.
      __int128 span = __int128(limit) - __int128(start);
      __int128 steps = span / delta + ((span % delta != 0) && ((span < 0) == (delta < 0)));
      length = int64_t(std::max<__int128>(steps, 0));
    } else {
      double steps = std::ceil((double(limit) - double(start)) / double(delta));
      length = steps > 0 ? int64_t(std::min(steps, 9.0e18)) : 0;
    }
    if (length != out.shape[0])
      return "range from " + std::to_string(start) + " to " + std::to_string(limit) +
             " by " + std::to_string(delta) + " has " + std::to_string(length) +
             " elements, but the plan has " + std::to_string(out.shape[0]);
    T *values = out.as<T>();
    for (int64_t i = 0; i < length; ++i) {
      if constexpr (std::is_integral_v<T>)
        values[i] = T(__int128(start) + __int128(i) * delta); // in range, not i * delta
      else
        values[i] = T(double(start) + double(i) * double(delta));
    }
    return {};
  });
}

//===----------------------------------------------------------------------===//
// constant_of_shape
//===----------------------------------------------------------------------===//

/// "" when a runtime shape operand spells `expected`.
std::string checkShapeValues(const std::vector<int64_t> &values, const Shape &expected,
                             const char *what) {
  if (values != expected)
    return std::string(what) + " " + formatInts(values) + " differs from the planned " +
           formatShape(expected);
  return {};
}

std::string checkConstantOfShape(const KernelArgs &args) {
  if (std::string error = firstError({checkArity(args, 1, 1), checkPresent(args, 0, "shape")});
      !error.empty())
    return error;
  const TensorArg &shape = args.inputs[0], &out = args.outputs[0];
  const Attributes &attributes = attributesOf(args);
  if (std::string error = checkShapeOperand(shape, "shape"); !error.empty())
    return error;
  if (shape.shape[0] != int64_t(out.shape.size()))
    return "shape operand has " + std::to_string(shape.shape[0]) +
           " dims, but the result is " + describe(out);
  if (!isSupported(out.dtype))
    return "cannot fill " + describe(out);
  if (attributes.has("value")) {
    bool scalar = attributes.holds<double>("value") || attributes.holds<int64_t>("value") ||
                  attributes.holds<bool>("value");
    bool single = (attributes.holds<std::vector<int64_t>>("value") &&
                   attributes.getInts("value").size() == 1) ||
                  (attributes.holds<std::vector<double>>("value") &&
                   attributes.getFloats("value").size() == 1);
    if (!scalar && !single)
      return "attribute 'value' must hold one number";
  }
  return {};
}

std::string runConstantOfShape(const KernelArgs &args) {
  const TensorArg &out = args.outputs[0];
  if (std::string error =
          checkShapeValues(readInts(args.inputs[0]), out.shape, "constant_of_shape shape");
      !error.empty())
    return error;
  const Attributes &attributes = attributesOf(args);
  bool isFloatValue = attributes.holds<double>("value") ||
                      attributes.holds<std::vector<double>>("value");
  double floatValue = attributes.holds<double>("value") ? attributes.getFloat("value")
                      : isFloatValue                    ? attributes.getFloats("value")[0]
                                                        : 0.0;
  int64_t intValue = attributes.holds<std::vector<int64_t>>("value")
                         ? attributes.getInts("value")[0]
                         : intAttribute(attributes, "value", 0);
  visitSupported(out.dtype, [&](auto tag) {
    using T = decltype(tag);
    T value;
    if constexpr (std::is_same_v<T, BoolByte>)
      value = isFloatValue ? floatValue != 0 : intValue != 0;
    else
      value = isFloatValue ? T(floatValue) : T(intValue);
    T *data = out.as<T>();
    parallelFor(out.numElements(), 1, [&](int64_t begin, int64_t end) {
      std::fill(data + begin, data + end, value);
    });
  });
  return {};
}

//===----------------------------------------------------------------------===//
// reshape, unsqueeze, squeeze: the same bytes under another shape
//===----------------------------------------------------------------------===//

std::string checkReshape(const KernelArgs &args) {
  if (std::string error = firstError({checkArity(args, 2, 1), checkPresent(args, 0, "input"),
                                      checkPresent(args, 1, "shape"),
                                      checkBoolAttribute(attributesOf(args), "allow_zero")});
      !error.empty())
    return error;
  const TensorArg &input = args.inputs[0], &shape = args.inputs[1], &out = args.outputs[0];
  if (std::string error = firstError({checkShapeOperand(shape, "shape"),
                                      checkDType(out, input.dtype, "result")});
      !error.empty())
    return error;
  if (shape.shape[0] != int64_t(out.shape.size()))
    return "shape operand has " + std::to_string(shape.shape[0]) +
           " dims, but the result is " + describe(out);
  if (out.numElements() != input.numElements())
    return "cannot reshape " + describe(input) + " to " + formatShape(out.shape);
  return {};
}

std::string runReshape(const KernelArgs &args) {
  const TensorArg &input = args.inputs[0], &out = args.outputs[0];
  std::vector<int64_t> target = readInts(args.inputs[1]);
  bool allowZero = boolAttribute(attributesOf(args), "allow_zero", false);
  // Resolve 0 (copy the input dim) and -1 (the rest) as ONNX Reshape does.
  int64_t known = 1, inferred = -1;
  Shape resolved = target;
  for (size_t i = 0; i < target.size(); ++i) {
    if (target[i] == 0 && !allowZero) {
      if (i >= input.shape.size())
        return "reshape target " + formatInts(target) + " copies dim " + std::to_string(i) +
               " of " + describe(input);
      resolved[i] = input.shape[i];
    } else if (target[i] == -1) {
      if (inferred >= 0)
        return "reshape target " + formatInts(target) + " has more than one -1";
      inferred = int64_t(i);
      continue;
    } else if (target[i] < -1) {
      return "reshape target " + formatInts(target) + " has a negative dim";
    }
    if (__builtin_mul_overflow(known, resolved[i], &known))
      return "reshape target " + formatInts(target) + " has too many elements";
  }
  if (inferred >= 0)
    resolved[inferred] = known == 0 ? 0 : input.numElements() / known;
  if (std::string error = checkShapeValues(resolved, out.shape, "reshape target");
      !error.empty())
    return error;
  copyBytes(out.data, input.data, byteSize(input));
  return {};
}

/// The unique normalized axes of `name`, or an error.
std::optional<std::vector<int64_t>> normalizedAxes(const Attributes &attributes,
                                                   const char *name, int64_t rank,
                                                   std::string &error) {
  std::vector<int64_t> axes = attributes.getInts(name);
  std::vector<int64_t> normalized;
  for (int64_t axis : axes) {
    std::optional<int64_t> n = normalizeAxis(axis, rank);
    if (!n || std::find(normalized.begin(), normalized.end(), *n) != normalized.end()) {
      error = std::string(name) + " " + formatInts(axes) +
              " are out of range or repeated for rank " + std::to_string(rank);
      return std::nullopt;
    }
    normalized.push_back(*n);
  }
  return normalized;
}

std::string checkUnsqueeze(const KernelArgs &args) {
  if (std::string error = firstError({checkArity(args, 1, 1), checkPresent(args, 0, "input"),
                                      checkIntsAttribute(attributesOf(args), "axes", true)});
      !error.empty())
    return error;
  const TensorArg &input = args.inputs[0], &out = args.outputs[0];
  int64_t rank = int64_t(input.shape.size() + attributesOf(args).getInts("axes").size());
  std::string error;
  auto axes = normalizedAxes(attributesOf(args), "axes", rank, error);
  if (!axes)
    return error;
  Shape shape;
  for (int64_t d = 0, next = 0; d < rank; ++d)
    if (std::find(axes->begin(), axes->end(), d) != axes->end())
      shape.push_back(1);
    else
      shape.push_back(input.shape[next++]);
  return firstError({checkDType(out, input.dtype, "result"), checkShape(out, shape, "result")});
}

std::string checkSqueeze(const KernelArgs &args) {
  if (std::string error = firstError({checkArity(args, 1, 1), checkPresent(args, 0, "input"),
                                      checkIntsAttribute(attributesOf(args), "axes")});
      !error.empty())
    return error;
  const TensorArg &input = args.inputs[0], &out = args.outputs[0];
  int64_t rank = int64_t(input.shape.size());
  std::string error;
  auto axes = normalizedAxes(attributesOf(args), "axes", rank, error);
  if (!axes)
    return error;
  Shape shape;
  for (int64_t d = 0; d < rank; ++d) {
    bool listed = std::find(axes->begin(), axes->end(), d) != axes->end();
    // No axes: every unit dim goes, as in ONNX Squeeze.
    bool squeezed = axes->empty() ? input.shape[d] == 1 : listed;
    if (listed && input.shape[d] != 1)
      return "cannot squeeze dim " + std::to_string(d) + " of " + describe(input);
    if (!squeezed)
      shape.push_back(input.shape[d]);
  }
  return firstError({checkDType(out, input.dtype, "result"), checkShape(out, shape, "result")});
}

std::string runCopyAll(const KernelArgs &args) {
  copyBytes(args.outputs[0].data, args.inputs[0].data, byteSize(args.inputs[0]));
  return {};
}

//===----------------------------------------------------------------------===//
// expand
//===----------------------------------------------------------------------===//

std::string checkExpand(const KernelArgs &args) {
  if (std::string error = firstError({checkArity(args, 2, 1), checkPresent(args, 0, "input"),
                                      checkPresent(args, 1, "shape")});
      !error.empty())
    return error;
  const TensorArg &input = args.inputs[0], &shape = args.inputs[1], &out = args.outputs[0];
  if (std::string error = firstError({checkShapeOperand(shape, "shape"),
                                      checkDType(out, input.dtype, "result")});
      !error.empty())
    return error;
  if (shape.shape[0] > int64_t(out.shape.size()))
    return "shape operand has " + std::to_string(shape.shape[0]) +
           " dims, more than the result " + describe(out);
  if (!broadcastsTo(input.shape, out.shape))
    return "cannot expand " + describe(input) + " to " + formatShape(out.shape);
  return {};
}

/// out = input broadcast to out's shape, for any element type.
void broadcastCopy(const TensorArg &input, const TensorArg &out) {
  BroadcastLoop loop(out.shape, {&input.shape});
  visitElementBytes(dtypeSize(out.dtype), [&](auto tag) {
    using T = decltype(tag);
    const T *from = input.as<T>();
    T *to = out.as<T>();
    loop.run(1, [&](int64_t at, const BroadcastLoop::Offsets &offsets, int64_t n,
                    const BroadcastLoop::Offsets &step) {
      if (step[0])
        std::memcpy(to + at, from + offsets[0], size_t(n) * sizeof(T));
      else
        std::fill(to + at, to + at + n, from[offsets[0]]);
    });
  });
}

std::string runExpand(const KernelArgs &args) {
  const TensorArg &input = args.inputs[0], &out = args.outputs[0];
  Shape target = readInts(args.inputs[1]);
  std::optional<Shape> shape = broadcastShapes({&input.shape, &target});
  if (!shape)
    return "cannot expand " + describe(input) + " to " + formatInts(target);
  if (std::string error = checkShapeValues(*shape, out.shape, "expanded shape"); !error.empty())
    return error;
  broadcastCopy(input, out);
  return {};
}

//===----------------------------------------------------------------------===//
// transpose
//===----------------------------------------------------------------------===//

std::string checkTranspose(const KernelArgs &args) {
  if (std::string error = firstError({checkArity(args, 1, 1), checkPresent(args, 0, "input"),
                                      checkIntsAttribute(attributesOf(args), "perm", true)});
      !error.empty())
    return error;
  const TensorArg &input = args.inputs[0], &out = args.outputs[0];
  std::vector<int64_t> perm = attributesOf(args).getInts("perm");
  std::vector<int64_t> sorted = perm;
  std::sort(sorted.begin(), sorted.end());
  for (size_t i = 0; i < sorted.size(); ++i)
    if (sorted[i] != int64_t(i) || sorted.size() != input.shape.size())
      return "perm " + formatInts(perm) + " is not a permutation of the dims of " +
             describe(input);
  if (perm.size() != input.shape.size())
    return "perm " + formatInts(perm) + " does not match " + describe(input);
  Shape shape;
  for (int64_t axis : perm)
    shape.push_back(input.shape[axis]);
  return firstError({checkDType(out, input.dtype, "result"), checkShape(out, shape, "result")});
}

/// out[index . outStrides] = in[index . inStrides] for every index of
/// `dims`, in parallel rows of the last dim. Strides may be negative.
template <typename T>
void stridedCopy(const T *in, const Shape &inStrides, T *out, const Shape &outStrides,
                 const Shape &dims) {
  int rank = int(dims.size());
  if (rank == 0) {
    *out = *in;
    return;
  }
  int64_t inner = dims.back(), inStep = inStrides.back(), outStep = outStrides.back();
  int64_t outer = product(dims, 0, rank - 1);
  parallelFor(outer, inner, [&](int64_t begin, int64_t end) {
    Shape index(rank, 0);
    int64_t from = 0, to = 0, rest = begin;
    for (int d = rank - 2; d >= 0; --d) {
      index[d] = rest % dims[d];
      rest /= dims[d];
      from += index[d] * inStrides[d];
      to += index[d] * outStrides[d];
    }
    for (int64_t row = begin; row < end; ++row) {
      if (inStep == 1 && outStep == 1) {
        std::memcpy(out + to, in + from, size_t(inner) * sizeof(T));
      } else {
        for (int64_t i = 0; i < inner; ++i)
          out[to + i * outStep] = in[from + i * inStep];
      }
      for (int d = rank - 2; d >= 0; --d) {
        from += inStrides[d];
        to += outStrides[d];
        if (++index[d] < dims[d])
          break;
        from -= dims[d] * inStrides[d];
        to -= dims[d] * outStrides[d];
        index[d] = 0;
      }
    }
  });
}

/// Output tiles of a transpose that moves the input's last dim: a square tile
/// is read along input rows and written along output rows, so both sides use
/// whole cache lines.
constexpr int64_t kTransposeTile = 32;

#ifdef __AVX2__
/// out[j * outStride + i] = in[i * inStride + j] for an 8x8 block of 32-bit
/// elements, in registers: eight row loads and eight row stores.
inline void transpose8x8(const uint32_t *in, int64_t inStride, uint32_t *out,
                         int64_t outStride) {
  auto load = [&](int i) { return _mm256_loadu_ps(reinterpret_cast<const float *>(in + i * inStride)); };
  __m256 r0 = load(0), r1 = load(1), r2 = load(2), r3 = load(3);
  __m256 r4 = load(4), r5 = load(5), r6 = load(6), r7 = load(7);
  __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
  __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
  __m256 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5);
  __m256 t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
  __m256 s0 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(1, 0, 1, 0));
  __m256 s1 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(3, 2, 3, 2));
  __m256 s2 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(1, 0, 1, 0));
  __m256 s3 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(3, 2, 3, 2));
  __m256 s4 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(1, 0, 1, 0));
  __m256 s5 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(3, 2, 3, 2));
  __m256 s6 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(1, 0, 1, 0));
  __m256 s7 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(3, 2, 3, 2));
  auto store = [&](int j, __m256 row) {
    _mm256_storeu_ps(reinterpret_cast<float *>(out + j * outStride), row);
  };
  store(0, _mm256_permute2f128_ps(s0, s4, 0x20));
  store(1, _mm256_permute2f128_ps(s1, s5, 0x20));
  store(2, _mm256_permute2f128_ps(s2, s6, 0x20));
  store(3, _mm256_permute2f128_ps(s3, s7, 0x20));
  store(4, _mm256_permute2f128_ps(s0, s4, 0x31));
  store(5, _mm256_permute2f128_ps(s1, s5, 0x31));
  store(6, _mm256_permute2f128_ps(s2, s6, 0x31));
  store(7, _mm256_permute2f128_ps(s3, s7, 0x31));
}
#endif

/// out[r * outStride + c] = in[c * inStride + r] for r < rows, c < columns.
template <typename T>
void transposeTile(const T *in, int64_t inStride, T *out, int64_t outStride, int64_t rows,
                   int64_t columns) {
  int64_t r = 0;
#ifdef __AVX2__
  // f32 and i32 tensors (most transposes) go through registers 8x8 at a time.
  if constexpr (sizeof(T) == 4) {
    for (; r + 8 <= rows; r += 8) {
      int64_t c = 0;
      for (; c + 8 <= columns; c += 8)
        transpose8x8(in + c * inStride + r, inStride, out + r * outStride + c, outStride);
      for (int64_t rr = r; rr < r + 8; ++rr)
        for (int64_t cc = c; cc < columns; ++cc)
          out[rr * outStride + cc] = in[cc * inStride + rr];
    }
  }
#endif
  for (; r < rows; ++r)
    for (int64_t c = 0; c < columns; ++c)
      out[r * outStride + c] = in[c * inStride + r];
}

template <typename T>
void transposeElements(const T *in, T *out, const Shape &dims, const Shape &inputStrides) {
  int rank = int(dims.size());
  int64_t inner = dims.back(), innerStride = inputStrides.back();
  int64_t outer = product(dims, 0, rank - 1);
  // The output dim that walks the input's last dim (stride 1), if it is not
  // the output's last: then tile that dim against the last one.
  int tiled = -1;
  for (int d = 0; d < rank - 1; ++d)
    if (inputStrides[d] == 1)
      tiled = d;
  if (innerStride != 1 && tiled >= 0 && inner >= kTransposeTile &&
      dims[tiled] >= kTransposeTile) {
    // Iterate [other dims] x [tiled dim / tile] x [inner / tile] tiles.
    Shape outputStrides = rowMajorStrides(dims);
    int64_t rows = dims[tiled];
    int64_t rowTiles = (rows + kTransposeTile - 1) / kTransposeTile;
    int64_t columnTiles = (inner + kTransposeTile - 1) / kTransposeTile;
    int64_t others = outer / rows;
    parallelFor(others * rowTiles * columnTiles, kTransposeTile * kTransposeTile,
                [&](int64_t begin, int64_t end) {
                  for (int64_t item = begin; item < end; ++item) {
                    int64_t columnTile = item % columnTiles;
                    int64_t rowTile = (item / columnTiles) % rowTiles;
                    int64_t other = item / (columnTiles * rowTiles);
                    // Offsets of this `other` index over the remaining dims.
                    int64_t inBase = 0, outBase = 0, rest = other;
                    for (int d = rank - 2; d >= 0; --d) {
                      if (d == tiled)
                        continue;
                      int64_t index = rest % dims[d];
                      rest /= dims[d];
                      inBase += index * inputStrides[d];
                      outBase += index * outputStrides[d];
                    }
                    int64_t r0 = rowTile * kTransposeTile, c0 = columnTile * kTransposeTile;
                    transposeTile(in + inBase + c0 * innerStride + r0, innerStride,
                                  out + outBase + r0 * outputStrides[tiled] + c0,
                                  outputStrides[tiled], std::min(kTransposeTile, rows - r0),
                                  std::min(kTransposeTile, inner - c0));
                  }
                });
    return;
  }
  stridedCopy(in, inputStrides, out, rowMajorStrides(dims), dims);
}

std::string runTranspose(const KernelArgs &args) {
  const TensorArg &input = args.inputs[0], &out = args.outputs[0];
  if (out.numElements() == 0)
    return {};
  std::vector<int64_t> perm = attributesOf(args).getInts("perm");
  Shape strides = rowMajorStrides(input.shape);
  // Output dims with their input strides; unit dims dropped, and neighbours
  // that are neighbours in the input too merged.
  Shape dims, inputStrides;
  for (int64_t axis : perm) {
    int64_t size = input.shape[axis];
    if (size == 1)
      continue;
    if (!dims.empty() && inputStrides.back() == strides[axis] * size) {
      dims.back() *= size;
      inputStrides.back() = strides[axis];
      continue;
    }
    dims.push_back(size);
    inputStrides.push_back(strides[axis]);
  }
  if (dims.size() <= 1) {
    copyBytes(out.data, input.data, byteSize(input));
    return {};
  }
  visitElementBytes(dtypeSize(input.dtype), [&](auto tag) {
    using T = decltype(tag);
    transposeElements(input.as<T>(), out.as<T>(), dims, inputStrides);
  });
  return {};
}

//===----------------------------------------------------------------------===//
// slice, slice_grad
//===----------------------------------------------------------------------===//

using sp::semantics::resolveSlice;
using sp::semantics::SliceRange;

/// Operands 1-4 of slice and slice_grad: starts, ends, axes, steps (axes and
/// steps may be absent).
std::string checkSliceOperands(const KernelArgs &args) {
  const char *roles[] = {"starts", "ends", "axes", "steps"};
  int64_t count = -1;
  for (int i = 0; i < 4; ++i) {
    const TensorArg &operand = args.inputs[1 + i];
    if (!operand.present) {
      if (i < 2)
        return std::string(roles[i]) + " operand is required but absent";
      continue;
    }
    if (std::string error = firstError({checkIndexType(operand, roles[i]),
                                        checkVector(operand, roles[i])});
        !error.empty())
      return error;
    if (count >= 0 && operand.shape[0] != count)
      return "starts, ends, axes and steps must have the same length, got " +
             std::to_string(count) + " and " + std::to_string(operand.shape[0]);
    count = operand.shape[0];
  }
  return {};
}

/// The per-dim ranges that slice(`shape`, starts, ends, axes, steps) visits,
/// or an error about the operands' values.
std::optional<std::vector<SliceRange>> sliceRanges(const KernelArgs &args, const Shape &shape,
                                                   std::string &error) {
  std::vector<int64_t> starts = readInts(args.inputs[1]), ends = readInts(args.inputs[2]);
  std::vector<int64_t> axes, steps(starts.size(), 1);
  if (args.inputs[3].present) {
    axes = readInts(args.inputs[3]);
  } else {
    axes.resize(starts.size());
    std::iota(axes.begin(), axes.end(), 0);
  }
  if (args.inputs[4].present)
    steps = readInts(args.inputs[4]);
  int64_t rank = int64_t(shape.size());
  std::vector<SliceRange> ranges;
  for (int64_t dim : shape)
    ranges.push_back({0, 1, dim});
  std::vector<bool> seen(rank, false);
  for (size_t i = 0; i < axes.size(); ++i) {
    std::optional<int64_t> axis = normalizeAxis(axes[i], rank);
    if (!axis || seen[*axis]) {
      error = "slice axes " + formatInts(axes) + " are out of range or repeated for rank " +
              std::to_string(rank);
      return std::nullopt;
    }
    seen[*axis] = true;
    if (steps[i] == 0) {
      error = "slice step is zero";
      return std::nullopt;
    }
    ranges[*axis] = resolveSlice(starts[i], ends[i], steps[i], shape[*axis]);
  }
  return ranges;
}

/// Checks that `ranges` produce `sliced`, and gives the element strides of
/// the sliced positions in a tensor of `shape`, plus the first one's offset.
std::string slicedStrides(const std::vector<SliceRange> &ranges, const Shape &shape,
                          const Shape &sliced, Shape &strides, int64_t &base) {
  Shape lengths;
  for (const SliceRange &range : ranges)
    lengths.push_back(range.length);
  if (lengths != sliced)
    return "slice of " + formatShape(shape) + " has shape " + formatShape(lengths) +
           ", but the plan has " + formatShape(sliced);
  Shape dense = rowMajorStrides(shape);
  strides.clear();
  base = 0;
  for (size_t d = 0; d < ranges.size(); ++d) {
    // A step matters only between two elements, and then it is shorter than
    // the dim (a longer one would overflow here).
    strides.push_back(ranges[d].length > 1 ? ranges[d].step * dense[d] : 0);
    base += ranges[d].start * dense[d];
  }
  return {};
}

/// Shared checks of slice (`whole` is the input, `part` the result) and
/// slice_grad (`part` is the result gradient, `whole` the input gradient).
std::string checkSliceLike(const KernelArgs &args, const TensorArg &whole,
                           const TensorArg &part, const char *partRole) {
  if (std::string error = checkSliceOperands(args); !error.empty())
    return error;
  bool fits = part.dtype == whole.dtype && part.shape.size() == whole.shape.size();
  for (size_t d = 0; fits && d < part.shape.size(); ++d)
    fits = part.shape[d] <= whole.shape[d];
  if (!fits)
    return std::string(partRole) + " " + describe(part) + " is not a slice of " +
           describe(whole);
  return {};
}

/// The strides and first offset in `whole` of the positions that `part`
/// takes, or an error about the slice operands' values.
std::string slicePositions(const KernelArgs &args, const TensorArg &whole,
                           const TensorArg &part, Shape &strides, int64_t &base) {
  std::string error;
  std::optional<std::vector<SliceRange>> ranges = sliceRanges(args, whole.shape, error);
  if (!ranges)
    return error;
  return slicedStrides(*ranges, whole.shape, part.shape, strides, base);
}

std::string checkSlice(const KernelArgs &args) {
  if (std::string error = firstError({checkArity(args, 5, 1), checkPresent(args, 0, "input")});
      !error.empty())
    return error;
  return checkSliceLike(args, args.inputs[0], args.outputs[0], "result");
}

std::string runSlice(const KernelArgs &args) {
  const TensorArg &input = args.inputs[0], &out = args.outputs[0];
  Shape strides;
  int64_t base;
  if (std::string error = slicePositions(args, input, out, strides, base); !error.empty())
    return error;
  if (out.numElements() == 0)
    return {};
  visitElementBytes(dtypeSize(input.dtype), [&](auto tag) {
    using T = decltype(tag);
    stridedCopy(input.as<T>() + base, strides, out.as<T>(), rowMajorStrides(out.shape),
                out.shape);
  });
  return {};
}

std::string checkSliceGrad(const KernelArgs &args) {
  if (std::string error =
          firstError({checkArity(args, 5, 1), checkPresent(args, 0, "result_grad")});
      !error.empty())
    return error;
  return checkSliceLike(args, args.outputs[0], args.inputs[0], "result_grad");
}

std::string runSliceGrad(const KernelArgs &args) {
  const TensorArg &resultGrad = args.inputs[0], &out = args.outputs[0];
  Shape strides;
  int64_t base;
  if (std::string error = slicePositions(args, out, resultGrad, strides, base); !error.empty())
    return error;
  std::memset(out.data, 0, size_t(byteSize(out)));
  if (resultGrad.numElements() == 0)
    return {};
  // A slice visits each position at most once, so writing is enough.
  visitElementBytes(dtypeSize(out.dtype), [&](auto tag) {
    using T = decltype(tag);
    stridedCopy(resultGrad.as<T>(), rowMajorStrides(resultGrad.shape), out.as<T>() + base,
                strides, resultGrad.shape);
  });
  return {};
}

//===----------------------------------------------------------------------===//
// split, concat
//===----------------------------------------------------------------------===//

std::string checkSplit(const KernelArgs &args) {
  if (args.inputs.size() != 1 || args.outputs.empty())
    return "expects 1 input and at least 1 output, got " + std::to_string(args.inputs.size()) +
           " and " + std::to_string(args.outputs.size());
  const Attributes &attributes = attributesOf(args);
  if (std::string error = firstError({checkPresent(args, 0, "input"),
                                      checkIntAttribute(attributes, "axis", true),
                                      checkIntsAttribute(attributes, "sizes")});
      !error.empty())
    return error;
  const TensorArg &input = args.inputs[0];
  int64_t rank = int64_t(input.shape.size());
  int64_t axisValue = intAttribute(attributes, "axis", 0);
  std::optional<int64_t> axis = normalizeAxis(axisValue, rank);
  if (!axis)
    return "axis " + std::to_string(axisValue) + " is out of range for rank " +
           std::to_string(rank);
  std::vector<int64_t> sizes = attributes.getInts("sizes");
  if (!attributes.has("sizes"))
    for (const TensorArg &out : args.outputs)
      sizes.push_back(out.shape.size() == input.shape.size() ? out.shape[*axis] : -1);
  if (sizes.size() != args.outputs.size())
    return "has " + std::to_string(args.outputs.size()) + " outputs for sizes " +
           formatInts(sizes);
  int64_t total = 0;
  for (size_t i = 0; i < sizes.size(); ++i) {
    if (sizes[i] < 0)
      return "split size " + std::to_string(sizes[i]) + " is negative";
    Shape shape = input.shape;
    shape[*axis] = sizes[i];
    total += sizes[i];
    if (std::string error = firstError({checkDType(args.outputs[i], input.dtype, "result"),
                                        checkShape(args.outputs[i], shape, "result")});
        !error.empty())
      return error;
  }
  if (total != input.shape[*axis])
    return "split sizes " + formatInts(sizes) + " do not add up to dim " +
           std::to_string(*axis) + " of " + describe(input);
  return {};
}

/// Copies between `whole` and its `pieces` along `axis`: the rows of each
/// piece, [outer, pieceDim * inner], in turn; `concatenate` says which way.
void copyPieces(const TensorArg &whole, const std::vector<TensorArg> &pieces,
                const Attributes &attributes, bool concatenate) {
  int64_t axis = *normalizeAxis(intAttribute(attributes, "axis", 0),
                                int64_t(whole.shape.size()));
  int64_t outer = product(whole.shape, 0, axis);
  int64_t innerBytes = product(whole.shape, axis + 1) * dtypeSize(whole.dtype);
  int64_t rowBytes = whole.shape[axis] * innerBytes;
  char *wholeData = static_cast<char *>(whole.data);
  parallelFor(outer, rowBytes / 4 + 1, [&](int64_t begin, int64_t end) {
    for (int64_t o = begin; o < end; ++o) {
      char *row = wholeData + o * rowBytes;
      for (const TensorArg &piece : pieces) {
        int64_t bytes = piece.shape[axis] * innerBytes;
        char *pieceRow = static_cast<char *>(piece.data) + o * bytes;
        if (concatenate)
          std::memcpy(row, pieceRow, size_t(bytes));
        else
          std::memcpy(pieceRow, row, size_t(bytes));
        row += bytes;
      }
    }
  });
}

std::string runSplit(const KernelArgs &args) {
  copyPieces(args.inputs[0], args.outputs, attributesOf(args), false);
  return {};
}

std::string checkConcat(const KernelArgs &args) {
  if (args.inputs.empty() || args.outputs.size() != 1)
    return "expects at least 1 input and 1 output, got " + std::to_string(args.inputs.size()) +
           " and " + std::to_string(args.outputs.size());
  if (std::string error = checkIntAttribute(attributesOf(args), "axis", true); !error.empty())
    return error;
  const TensorArg &first = args.inputs[0], &out = args.outputs[0];
  int64_t rank = int64_t(first.shape.size());
  int64_t axisValue = intAttribute(attributesOf(args), "axis", 0);
  std::optional<int64_t> axis = normalizeAxis(axisValue, rank);
  if (!axis)
    return "axis " + std::to_string(axisValue) + " is out of range for rank " +
           std::to_string(rank);
  Shape shape = first.shape;
  shape[*axis] = 0;
  for (size_t i = 0; i < args.inputs.size(); ++i) {
    const TensorArg &input = args.inputs[i];
    if (!input.present)
      return "input " + std::to_string(i) + " is absent";
    bool matches = input.dtype == first.dtype && input.shape.size() == first.shape.size();
    for (int64_t d = 0; matches && d < rank; ++d)
      matches = d == *axis || input.shape[d] == first.shape[d];
    if (!matches)
      return "inputs " + describe(first) + " and " + describe(input) +
             " do not concatenate along axis " + std::to_string(*axis);
    shape[*axis] += input.shape[*axis];
  }
  return firstError({checkDType(out, first.dtype, "result"), checkShape(out, shape, "result")});
}

std::string runConcat(const KernelArgs &args) {
  copyPieces(args.outputs[0], args.inputs, attributesOf(args), true);
  return {};
}

//===----------------------------------------------------------------------===//
// trilu
//===----------------------------------------------------------------------===//

std::string checkTrilu(const KernelArgs &args) {
  if (std::string error = firstError({checkArity(args, 1, 1), checkPresent(args, 0, "input")});
      !error.empty())
    return error;
  const TensorArg &input = args.inputs[0];
  const Attributes &attributes = attributesOf(args);
  if (std::string error = firstError({checkSameType(args.outputs[0], input, "result"),
                                      checkBoolAttribute(attributes, "upper"),
                                      checkIntAttribute(attributes, "diagonal")});
      !error.empty())
    return error;
  if (!attributes.has("upper"))
    return "attribute 'upper' is required";
  if (input.shape.size() < 2)
    return "input must have rank >= 2, got " + describe(input);
  return {};
}

std::string runTrilu(const KernelArgs &args) {
  const TensorArg &input = args.inputs[0], &out = args.outputs[0];
  const Attributes &attributes = attributesOf(args);
  bool upper = boolAttribute(attributes, "upper", true);
  int64_t diagonal = intAttribute(attributes, "diagonal", 0);
  int64_t rows = input.shape[input.shape.size() - 2], columns = input.shape.back();
  int64_t matrices = product(input.shape, 0, input.shape.size() - 2);
  visitElementBytes(dtypeSize(input.dtype), [&](auto tag) {
    using T = decltype(tag);
    const T *in = input.as<T>();
    T *to = out.as<T>();
    parallelFor(matrices * rows, columns, [&](int64_t begin, int64_t end) {
      for (int64_t line = begin; line < end; ++line) {
        int64_t row = line % rows;
        // Upper keeps col - row >= diagonal; lower keeps col - row <= diagonal.
        int64_t bound = std::clamp<int64_t>(row + diagonal + (upper ? 0 : 1), 0, columns);
        const T *from = in + line * columns;
        T *dest = to + line * columns;
        if (upper) {
          std::fill(dest, dest + bound, T(0));
          std::memcpy(dest + bound, from + bound, size_t(columns - bound) * sizeof(T));
        } else {
          std::memcpy(dest, from, size_t(bound) * sizeof(T));
          std::fill(dest + bound, dest + columns, T(0));
        }
      }
    });
  });
  return {};
}

//===----------------------------------------------------------------------===//
// shift
//===----------------------------------------------------------------------===//

std::string checkShift(const KernelArgs &args) {
  if (std::string error = firstError({checkArity(args, 1, 1), checkPresent(args, 0, "input")});
      !error.empty())
    return error;
  const TensorArg &input = args.inputs[0];
  const Attributes &attributes = attributesOf(args);
  if (std::string error = firstError({checkSameType(args.outputs[0], input, "result"),
                                      checkIntAttribute(attributes, "axis"),
                                      checkIntAttribute(attributes, "offset"),
                                      checkIntAttribute(attributes, "fill")});
      !error.empty())
    return error;
  if (!isInteger(input.dtype))
    return "input must be an integer tensor, got " + describe(input);
  if (!normalizeAxis(intAttribute(attributes, "axis", 0), int64_t(input.shape.size())))
    return "axis " + std::to_string(intAttribute(attributes, "axis", 0)) +
           " is out of range for " + describe(input);
  return {};
}

std::string runShift(const KernelArgs &args) {
  const TensorArg &input = args.inputs[0], &out = args.outputs[0];
  const Attributes &attributes = attributesOf(args);
  int64_t axis = *normalizeAxis(intAttribute(attributes, "axis", 0), int64_t(input.shape.size()));
  int64_t offset = intAttribute(attributes, "offset", 0);
  int64_t fill = intAttribute(attributes, "fill", 0);
  int64_t outer = product(input.shape, 0, axis), length = input.shape[axis];
  int64_t inner = product(input.shape, axis + 1, input.shape.size());
  auto shift = [&](auto *from, auto *to) {
    using T = std::remove_pointer_t<decltype(to)>;
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t i = 0; i < length; ++i) {
        T *dest = to + (o * length + i) * inner;
        int64_t source = i + offset;
        if (source >= 0 && source < length)
          std::memcpy(dest, from + (o * length + source) * inner, size_t(inner) * sizeof(T));
        else
          std::fill(dest, dest + inner, T(fill));
      }
  };
  if (input.dtype == DType::Int64)
    shift(input.as<const int64_t>(), out.as<int64_t>());
  else
    shift(input.as<const int32_t>(), out.as<int32_t>());
  return {};
}

} // namespace

void addDataMovementKernels(std::vector<Kernel> &kernels) {
  kernels.insert(kernels.end(), {
                                    {"shape", checkShapeOp, runShapeOp},
                                    {"range", checkRange, runRange},
                                    {"constant_of_shape", checkConstantOfShape,
                                     runConstantOfShape},
                                    {"reshape", checkReshape, runReshape},
                                    {"unsqueeze", checkUnsqueeze, runCopyAll},
                                    {"squeeze", checkSqueeze, runCopyAll},
                                    {"expand", checkExpand, runExpand},
                                    {"transpose", checkTranspose, runTranspose},
                                    {"slice", checkSlice, runSlice},
                                    {"slice_grad", checkSliceGrad, runSliceGrad},
                                    {"split", checkSplit, runSplit},
                                    {"concat", checkConcat, runConcat},
                                    {"trilu", checkTrilu, runTrilu},
                                    {"shift", checkShift, runShift},
                                });
}

} // namespace sp::runtime::cpu
