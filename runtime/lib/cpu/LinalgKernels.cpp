//===- LinalgKernels.cpp - matmul and gemm ------------------------------===//
//
// Float products go to BLAS (cblas_sgemm/dgemm). A batched matmul whose rhs
// has no batch is one tall GEMM over all lhs rows; otherwise it is a loop of
// GEMMs with batch strides, run one per thread when there are enough small
// ones (OpenBLAS then stays single-threaded inside the parallel region) and
// one after the other with BLAS's own threads when they are large. Integer
// products, which only shape arithmetic produces, use a plain loop.
//
// bf16 products (--precision=bf16) go to oneDNN's bf16 matmul (bf16 in and
// out, f32 accumulation, AVX-512 BF16 where the CPU has it), 2-4x faster
// here than widening (docs/PERF.md). Widening is what a gemm with alpha other
// than 1 or a bias at beta other than 0 or 1 takes, and every bf16 product in
// builds without oneDNN (SP_ENABLE_DNNL=OFF): both operands become f32 in
// the kernel's workspace, sgemm multiplies, and the result rounds to bf16
// once (OpenBLAS 0.3.21 as Debian builds it has no sbgemm).
//
//===----------------------------------------------------------------------===//

#include "CpuKernelSupport.h"

#include "sp/Semantics/Matmul.h"

#include <cblas.h>
#include <climits>
#include <type_traits>
#include <unordered_map>

#ifdef SP_HAVE_DNNL
#include <dnnl.hpp>
#endif

namespace sp::runtime::cpu {

namespace {

//===----------------------------------------------------------------------===//
// GEMM on one matrix triple
//===----------------------------------------------------------------------===//

/// The dims and layout of C = alpha * op(A) op(B) + beta * C, row-major.
struct GemmShape {
  int64_t m = 0, n = 0, k = 0;
  bool transposeA = false, transposeB = false;
  int64_t lda() const { return std::max<int64_t>(1, transposeA ? m : k); }
  int64_t ldb() const { return std::max<int64_t>(1, transposeB ? k : n); }
  int64_t ldc() const { return std::max<int64_t>(1, n); }
};

void blasGemm(const GemmShape &s, float alpha, const float *a, const float *b,
              float beta, float *c) {
  cblas_sgemm(CblasRowMajor, s.transposeA ? CblasTrans : CblasNoTrans,
              s.transposeB ? CblasTrans : CblasNoTrans, blasint(s.m), blasint(s.n),
              blasint(s.k), alpha, a, blasint(s.lda()), b, blasint(s.ldb()), beta, c,
              blasint(s.ldc()));
}
void blasGemm(const GemmShape &s, double alpha, const double *a, const double *b,
              double beta, double *c) {
  cblas_dgemm(CblasRowMajor, s.transposeA ? CblasTrans : CblasNoTrans,
              s.transposeB ? CblasTrans : CblasNoTrans, blasint(s.m), blasint(s.n),
              blasint(s.k), alpha, a, blasint(s.lda()), b, blasint(s.ldb()), beta, c,
              blasint(s.ldc()));
}

/// Integer GEMM, wrapping like the element-wise integer ops.
template <typename T>
void loopGemm(const GemmShape &s, T alpha, const T *a, const T *b, T beta, T *c) {
  using U = std::make_unsigned_t<T>;
  for (int64_t i = 0; i < s.m; ++i)
    for (int64_t j = 0; j < s.n; ++j) {
      U sum = 0;
      for (int64_t p = 0; p < s.k; ++p) {
        T x = s.transposeA ? a[p * s.lda() + i] : a[i * s.lda() + p];
        T y = s.transposeB ? b[j * s.ldb() + p] : b[p * s.ldb() + j];
        sum += U(x) * U(y);
      }
      U scaled = U(alpha) * sum;
      if (beta != 0)
        scaled += U(beta) * U(c[i * s.ldc() + j]);
      c[i * s.ldc() + j] = T(scaled);
    }
}

/// C = alpha * op(A) op(B) + beta * C for any supported element type.
template <typename T>
void gemm(const GemmShape &s, T alpha, const T *a, const T *b, T beta, T *c) {
  if (s.m == 0 || s.n == 0)
    return;
  if (s.k == 0) {
    // BLAS may skip an empty product without touching C; scale it here.
    for (int64_t i = 0; i < s.m * s.n; ++i)
      c[i] = beta == 0 ? T(0) : T(beta * c[i]);
    return;
  }
  if constexpr (std::is_floating_point_v<T>)
    blasGemm(s, alpha, a, b, beta, c);
  else
    loopGemm(s, alpha, a, b, beta, c);
}


std::string checkBlasDims(std::initializer_list<int64_t> dims) {
  for (int64_t dim : dims)
    if (dim > INT_MAX)
      return "matrix dim " + std::to_string(dim) + " exceeds what BLAS can index";
  return {};
}

//===----------------------------------------------------------------------===//
// matmul
//===----------------------------------------------------------------------===//

/// matmul's operands as batches of matrices (sp/Semantics/Matmul.h); every
/// runtime dim is known.
using MatmulLayout = semantics::MatmulShape;
constexpr int64_t kNoUnknownDim = -1;

/// Why `lhs` and `rhs` do not multiply, in words; empty when they do.
std::string productError(semantics::ProductError error, const Shape &lhs, const Shape &rhs) {
  return semantics::describeProductError(error, formatShape(lhs), formatShape(rhs));
}

std::string checkMatmul(const KernelArgs &args) {
  if (std::string error = firstError({checkArity(args, 2, 1), checkPresent(args, 0, "lhs"),
                                      checkPresent(args, 1, "rhs")});
      !error.empty())
    return error;
  const TensorArg &lhs = args.inputs[0], &rhs = args.inputs[1], &out = args.outputs[0];
  if (std::string error = checkNumericOrBFloat16(lhs, "lhs"); !error.empty())
    return error;
  if (rhs.dtype != lhs.dtype || out.dtype != lhs.dtype)
    return "operands and result must share one element type, got " + describe(lhs) +
           ", " + describe(rhs) + " and " + describe(out);
  MatmulLayout layout;
  if (std::string error = productError(
          semantics::matmulShape(lhs.shape, rhs.shape, kNoUnknownDim, layout), lhs.shape,
          rhs.shape);
      !error.empty())
    return error;
  return firstError({checkShape(out, layout.result, "result"),
                     checkBlasDims({layout.m, layout.n, layout.k,
                                    product(layout.batch) * layout.m})});
}

/// Element offsets of each batch's matrix in a row-major operand whose batch
/// dims broadcast against `batch`.
std::vector<int64_t> batchOffsets(const Shape &operandBatch, const Shape &batch,
                                  int64_t matrixSize) {
  Shape padded(batch.size() - operandBatch.size(), 1);
  padded.insert(padded.end(), operandBatch.begin(), operandBatch.end());
  Shape strides = rowMajorStrides(padded);
  int64_t count = product(batch);
  std::vector<int64_t> offsets(count);
  Shape index(batch.size(), 0);
  for (int64_t b = 0; b < count; ++b) {
    int64_t offset = 0;
    for (size_t d = 0; d < batch.size(); ++d)
      if (padded[d] != 1)
        offset += index[d] * strides[d];
    offsets[b] = offset * matrixSize;
    for (size_t d = batch.size(); d-- > 0;) {
      if (++index[d] < batch[d])
        break;
      index[d] = 0;
    }
  }
  return offsets;
}

/// Below this many multiply-adds, BLAS's threads cannot split a product
/// profitably.
constexpr int64_t kSmallProduct = int64_t(1) << 18;

template <typename T> void runMatmulOf(const KernelArgs &args) {
  const TensorArg &lhs = args.inputs[0], &rhs = args.inputs[1], &out = args.outputs[0];
  MatmulLayout layout;
  semantics::matmulShape(lhs.shape, rhs.shape, kNoUnknownDim, layout);
  const T *a = lhs.as<T>();
  const T *b = rhs.as<T>();
  T *c = out.as<T>();
  int64_t batches = product(layout.batch);
  GemmShape shape{layout.m, layout.n, layout.k};
  // x @ W with a row-major x: all batches are rows of one tall matrix.
  if (product(layout.rhsBatch) == 1 && product(layout.lhsBatch) == batches) {
    shape.m *= batches;
    gemm<T>(shape, T(1), a, b, T(0), c);
    return;
  }
  std::vector<int64_t> lhsOffsets =
      batchOffsets(layout.lhsBatch, layout.batch, layout.m * layout.k);
  std::vector<int64_t> rhsOffsets =
      batchOffsets(layout.rhsBatch, layout.batch, layout.k * layout.n);
  int64_t resultSize = layout.m * layout.n;
  auto one = [&](int64_t batch) {
    gemm<T>(shape, T(1), a + lhsOffsets[batch], b + rhsOffsets[batch], T(0),
            c + batch * resultSize);
  };
  // Whole products per thread when the batches share out evenly (attention's
  // batch x heads) or are too small to split; else BLAS threads each one.
  int64_t work = layout.m * layout.n * layout.k;
  int64_t threads = maxParallelChunks();
  bool balanced = batches >= threads && (batches % threads == 0 || batches >= 4 * threads);
  if (balanced || work < kSmallProduct) {
    parallelFor(batches, work, [&](int64_t begin, int64_t end) {
      for (int64_t batch = begin; batch < end; ++batch)
        one(batch);
    });
  } else {
    for (int64_t batch = 0; batch < batches; ++batch)
      one(batch);
  }
}

#ifdef SP_HAVE_DNNL
//===----------------------------------------------------------------------===//
// bf16 through oneDNN
//===----------------------------------------------------------------------===//

/// A row-major bf16 operand of `dims` (strides given for a transposed one).
dnnl::memory::desc bfloat16Desc(const dnnl::memory::dims &dims,
                                const dnnl::memory::dims &strides = {}) {
  if (!strides.empty())
    return dnnl::memory::desc(dims, dnnl::memory::data_type::bf16, strides);
  dnnl::memory::dims rowMajor(dims.size(), 1);
  for (size_t d = dims.size(); d-- > 1;)
    rowMajor[d - 1] = rowMajor[d] * dims[d];
  return dnnl::memory::desc(dims, dnnl::memory::data_type::bf16, rowMajor);
}

/// out = lhs x rhs (+ bias) in oneDNN's bf16 matmul; false when oneDNN has
/// no implementation for these descriptors (the caller widens instead).
bool dnnlMatmul(const dnnl::memory::desc &lhs, const void *lhsData,
                const dnnl::memory::desc &rhs, const void *rhsData,
                const dnnl::memory::desc *bias, const void *biasData,
                const dnnl::memory::desc &out, void *outData) {
  static const dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  try {
    dnnl::matmul::primitive_desc description(
        bias ? dnnl::matmul::desc(lhs, rhs, *bias, out) : dnnl::matmul::desc(lhs, rhs, out),
        engine, /*allow_empty=*/true);
    if (!description)
      return false;
    // oneDNN caches primitives by descriptor, so a step's products are
    // built once.
    dnnl::matmul product(description);
    dnnl::stream stream(engine);
    std::unordered_map<int, dnnl::memory> arguments = {
        {DNNL_ARG_SRC, dnnl::memory(lhs, engine, const_cast<void *>(lhsData))},
        {DNNL_ARG_WEIGHTS, dnnl::memory(rhs, engine, const_cast<void *>(rhsData))},
        {DNNL_ARG_DST, dnnl::memory(out, engine, outData)}};
    if (bias)
      arguments.emplace(DNNL_ARG_BIAS, dnnl::memory(*bias, engine, const_cast<void *>(biasData)));
    product.execute(stream, arguments);
    stream.wait();
    return true;
  } catch (const dnnl::error &) {
    return false;
  }
}

/// matmul's batch dims broadcast as oneDNN's do (equal, or 1 on one side);
/// oneDNN takes up to 12 dims.
bool dnnlMatmulOf(const KernelArgs &args) {
  const TensorArg &lhs = args.inputs[0], &rhs = args.inputs[1], &out = args.outputs[0];
  MatmulLayout layout;
  semantics::matmulShape(lhs.shape, rhs.shape, kNoUnknownDim, layout);
  size_t rank = layout.batch.size() + 2;
  if (rank > DNNL_MAX_NDIMS)
    return false;
  auto padded = [&](const Shape &batch, int64_t rows, int64_t columns) {
    dnnl::memory::dims dims(rank - 2 - batch.size(), 1);
    dims.insert(dims.end(), batch.begin(), batch.end());
    dims.push_back(rows);
    dims.push_back(columns);
    return dims;
  };
  if (layout.m == 0 || layout.n == 0 || layout.k == 0 || product(layout.batch) == 0)
    return false;
  return dnnlMatmul(bfloat16Desc(padded(layout.lhsBatch, layout.m, layout.k)), lhs.data,
                    bfloat16Desc(padded(layout.rhsBatch, layout.k, layout.n)), rhs.data,
                    nullptr, nullptr,
                    bfloat16Desc(padded(layout.batch, layout.m, layout.n)), out.data);
}

/// gemm with alpha 1 and a bias, if any, at beta 1 (oneDNN adds it
/// unscaled); anything else widens.
bool dnnlGemmOf(const KernelArgs &args) {
  const Attributes &attributes = attributesOf(args);
  const TensorArg &a = args.inputs[0], &b = args.inputs[1], &out = args.outputs[0];
  bool hasBias = args.inputs.size() == 3 && args.inputs[2].present &&
                 floatAttribute(attributes, "beta", 1.0) != 0.0;
  if (floatAttribute(attributes, "alpha", 1.0) != 1.0 ||
      (hasBias && floatAttribute(attributes, "beta", 1.0) != 1.0))
    return false;
  bool transposeA = boolAttribute(attributes, "transpose_a", false);
  bool transposeB = boolAttribute(attributes, "transpose_b", false);
  int64_t m = out.shape[0], n = out.shape[1], k = a.shape[transposeA ? 0 : 1];
  if (m == 0 || n == 0 || k == 0)
    return false;
  // A transposed operand is the row-major matrix read with swapped strides.
  dnnl::memory::desc lhs = transposeA ? bfloat16Desc({m, k}, {1, m}) : bfloat16Desc({m, k});
  dnnl::memory::desc rhs = transposeB ? bfloat16Desc({k, n}, {1, k}) : bfloat16Desc({k, n});
  dnnl::memory::desc result = bfloat16Desc({m, n});
  if (!hasBias)
    return dnnlMatmul(lhs, a.data, rhs, b.data, nullptr, nullptr, result, out.data);
  const TensorArg &c = args.inputs[2];
  // The bias broadcasts to [m, n] from rank 0, 1 or 2.
  dnnl::memory::dims biasDims(2 - c.shape.size(), 1);
  biasDims.insert(biasDims.end(), c.shape.begin(), c.shape.end());
  dnnl::memory::desc bias = bfloat16Desc(biasDims);
  return dnnlMatmul(lhs, a.data, rhs, b.data, &bias, c.data, result, out.data);
}
#endif

std::string runMatmul(const KernelArgs &args) {
  if (args.inputs[0].dtype == DType::BFloat16) {
#ifdef SP_HAVE_DNNL
    if (dnnlMatmulOf(args))
      return {};
#endif
    return runWidened(args, runMatmul);
  }
  visitNumeric(args.inputs[0].dtype, [&](auto tag) { runMatmulOf<decltype(tag)>(args); });
  return {};
}

//===----------------------------------------------------------------------===//
// gemm
//===----------------------------------------------------------------------===//

std::string checkGemm(const KernelArgs &args) {
  if (args.inputs.size() == 2) {
    // The optional bias may be left out entirely as well as marked absent.
  } else if (std::string error = checkArity(args, 3, 1); !error.empty()) {
    return error;
  }
  if (args.outputs.size() != 1)
    return "expects 1 output, got " + std::to_string(args.outputs.size());
  if (std::string error = firstError({checkPresent(args, 0, "a"), checkPresent(args, 1, "b")});
      !error.empty())
    return error;
  const Attributes &attributes = attributesOf(args);
  if (std::string error = firstError({checkFloatAttribute(attributes, "alpha"),
                                      checkFloatAttribute(attributes, "beta"),
                                      checkBoolAttribute(attributes, "transpose_a"),
                                      checkBoolAttribute(attributes, "transpose_b")});
      !error.empty())
    return error;
  const TensorArg &a = args.inputs[0], &b = args.inputs[1], &out = args.outputs[0];
  if (std::string error = checkNumericOrBFloat16(a, "a"); !error.empty())
    return error;
  if (b.dtype != a.dtype || out.dtype != a.dtype)
    return "operands and result must share one element type, got " + describe(a) +
           ", " + describe(b) + " and " + describe(out);
  semantics::GemmDims dims;
  if (std::string error = productError(
          semantics::gemmShape(a.shape, b.shape, boolAttribute(attributes, "transpose_a", false),
                               boolAttribute(attributes, "transpose_b", false), kNoUnknownDim,
                               dims),
          a.shape, b.shape);
      !error.empty())
    return error;
  Shape shape = {dims.m, dims.n};
  if (std::string error = firstError({checkShape(out, shape, "result"),
                                      checkBlasDims({dims.m, dims.n, dims.k})});
      !error.empty())
    return error;
  if (args.inputs.size() == 3 && args.inputs[2].present) {
    const TensorArg &c = args.inputs[2];
    if (c.dtype != a.dtype)
      return "bias must be " + std::string(dtypeName(a.dtype)) + ", got " + describe(c);
    if (c.shape.size() > 2 || !broadcastsTo(c.shape, shape))
      return "bias " + describe(c) + " does not broadcast to " + formatShape(shape);
  }
  return {};
}

template <typename T> void runGemmOf(const KernelArgs &args) {
  const Attributes &attributes = attributesOf(args);
  const TensorArg &a = args.inputs[0], &b = args.inputs[1], &out = args.outputs[0];
  GemmShape shape;
  shape.transposeA = boolAttribute(attributes, "transpose_a", false);
  shape.transposeB = boolAttribute(attributes, "transpose_b", false);
  shape.m = out.shape[0];
  shape.n = out.shape[1];
  shape.k = a.shape[shape.transposeA ? 0 : 1];
  T alpha = T(floatAttribute(attributes, "alpha", 1.0));
  T beta = T(floatAttribute(attributes, "beta", 1.0));
  T *c = out.as<T>();
  bool hasBias = args.inputs.size() == 3 && args.inputs[2].present && beta != T(0);
  if (hasBias) {
    // Broadcast the bias into the result, which GEMM then accumulates into.
    const TensorArg &bias = args.inputs[2];
    const T *values = bias.as<T>();
    BroadcastLoop loop(out.shape, {&bias.shape});
    loop.run(1, [&](int64_t at, const BroadcastLoop::Offsets &from, int64_t n,
                    const BroadcastLoop::Offsets &step) {
      for (int64_t i = 0; i < n; ++i)
        c[at + i] = values[from[0] + (step[0] ? i : 0)];
    });
  }
  gemm<T>(shape, alpha, a.as<T>(), b.as<T>(), hasBias ? beta : T(0), c);
}

std::string runGemm(const KernelArgs &args) {
  if (args.inputs[0].dtype == DType::BFloat16) {
#ifdef SP_HAVE_DNNL
    if (dnnlGemmOf(args))
      return {};
#endif
    return runWidened(args, runGemm);
  }
  visitNumeric(args.inputs[0].dtype, [&](auto tag) { runGemmOf<decltype(tag)>(args); });
  return {};
}

} // namespace

void addLinalgKernels(std::vector<Kernel> &kernels) {
  kernels.push_back({"matmul", checkMatmul, runMatmul, false, kFloatOrBFloat16ElementTypes,
                     widenedBFloat16Workspace});
  kernels.push_back({"gemm", checkGemm, runGemm, false, kFloatOrBFloat16ElementTypes,
                     widenedBFloat16Workspace});
}

} // namespace sp::runtime::cpu
