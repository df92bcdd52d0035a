//===- AttentionSupport.h - shared pieces of the attention kernels -*- C++ -*-===//
//
// Internal to runtime/lib/cpu: what the fused, block and ring attention
// kernels share — their operand shapes and the BLAS call on row-major tiles.
//
//===----------------------------------------------------------------------===//
#ifndef SP_RUNTIME_LIB_CPU_ATTENTIONSUPPORT_H
#define SP_RUNTIME_LIB_CPU_ATTENTIONSUPPORT_H

#include "CpuKernelSupport.h"
#include "FastMath.h"

#include "sp/Semantics/Random.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>
#include <vector>

namespace sp::runtime::cpu {

/// The sizes of one attention instruction: query [lead..., Hq, Sq, D], key
/// [lead..., Hkv, Sk, D], value [lead..., Hkv, Sk, Dv].
struct AttentionDims {
  Shape lead;
  int64_t batch = 1, queryHeads = 0, kvHeads = 0, sq = 0, sk = 0, d = 0, dv = 0;

  int64_t group() const { return queryHeads / kvHeads; }
  /// Keys visible from query i under a causal mask: [0, i + causalOffset].
  int64_t causalOffset() const { return sk - sq; }
  Shape with(std::initializer_list<int64_t> tail) const {
    Shape shape = lead;
    shape.insert(shape.end(), tail);
    return shape;
  }
};

/// Where the bias element of (batch b, query head h, row i, key j) lives:
/// headOffsets[b * Hq + h] + i * rowStride + j * columnStride, with stride 0
/// along broadcast dims.
struct BiasLayout {
  std::vector<int64_t> headOffsets;
  int64_t rowStride = 0, columnStride = 0;
  /// The distinct head offsets (bias planes that heads broadcast), in the
  /// order heads first reach them, and each head's plane among them.
  std::vector<int64_t> planeOffsets, planeOfHead;

  /// The layout of no bias tensor (a band mask alone): one plane of zeros.
  explicit BiasLayout(const AttentionDims &dims)
      : headOffsets(size_t(dims.batch * dims.queryHeads), 0), planeOffsets{0},
        planeOfHead(size_t(dims.batch * dims.queryHeads), 0) {}

  BiasLayout(const TensorArg &bias, const AttentionDims &dims) {
    Shape scores = dims.with({dims.queryHeads, dims.sq, dims.sk});
    size_t rank = scores.size();
    Shape padded(rank - bias.shape.size(), 1);
    padded.insert(padded.end(), bias.shape.begin(), bias.shape.end());
    Shape strides = rowMajorStrides(padded);
    for (size_t d = 0; d < rank; ++d)
      if (padded[d] == 1)
        strides[d] = 0;
    rowStride = strides[rank - 2];
    columnStride = strides[rank - 1];
    headOffsets.resize(dims.batch * dims.queryHeads);
    Shape index(rank - 2, 0);
    for (int64_t &offset : headOffsets) {
      offset = 0;
      for (size_t d = 0; d < rank - 2; ++d)
        offset += index[d] * strides[d];
      for (size_t d = rank - 2; d-- > 0;) {
        if (++index[d] < scores[d])
          break;
        index[d] = 0;
      }
    }
    planeOfHead.reserve(headOffsets.size());
    for (int64_t offset : headOffsets) {
      auto known = std::find(planeOffsets.begin(), planeOffsets.end(), offset);
      planeOfHead.push_back(int64_t(known - planeOffsets.begin()));
      if (known == planeOffsets.end())
        planeOffsets.push_back(offset);
    }
  }
};

/// The band mask of an attention instruction (band_lower, band_upper and
/// band_fill; Graph_BandMaskAttrs in GraphDialect.td): the key at sequence
/// position kp is visible from the query at qp iff lower <= kp - qp <= upper;
/// elsewhere the bias reads `fill` instead of its own element. Where it lets
/// a key through and there is no bias tensor, the bias is 0. The kernels read
/// every bias element through it, so that the mask they compute is, bit for
/// bit, the [Sq, Sk] tensor it stands for.
template <typename T> struct BandMask {
  bool present = false;
  int64_t lower = std::numeric_limits<int64_t>::min();
  int64_t upper = std::numeric_limits<int64_t>::max();
  T fill = 0;

  BandMask() = default;
  explicit BandMask(const Attributes &attributes)
      : present(attributes.has("band_fill")),
        lower(attributes.has("band_lower") ? attributes.getInt("band_lower")
                                           : std::numeric_limits<int64_t>::min()),
        upper(attributes.has("band_upper") ? attributes.getInt("band_upper")
                                           : std::numeric_limits<int64_t>::max()),
        fill(T(attributes.getFloat("band_fill"))) {}

  bool hides(int64_t queryPosition, int64_t keyPosition) const {
    if (!present)
      return false;
    // Positions of one sequence: their difference does not overflow.
    int64_t offset = keyPosition - queryPosition;
    return offset < lower || offset > upper;
  }
  /// The keys [begin, end) among `count` at consecutive positions from
  /// `firstKey` that the band lets through from `queryPosition`.
  std::pair<int64_t, int64_t> visible(int64_t queryPosition, int64_t firstKey,
                                      int64_t count) const {
    if (!present)
      return {0, count};
    int64_t begin = lower == std::numeric_limits<int64_t>::min()
                        ? 0
                        : std::clamp<int64_t>(queryPosition + lower - firstKey, 0, count);
    int64_t end = upper == std::numeric_limits<int64_t>::max()
                      ? count
                      : std::clamp<int64_t>(queryPosition + upper - firstKey + 1, 0, count);
    return {begin, std::max(begin, end)};
  }
  /// The bias of the key at `keyPosition` from the query at `queryPosition`,
  /// whose own element (when there is a bias tensor) is at `element`.
  T value(const T *element, int64_t queryPosition, int64_t keyPosition) const {
    if (hides(queryPosition, keyPosition))
      return fill;
    return element ? *element : T(0);
  }
};

/// "" when the band mask attributes are absent or well typed, with a fill
/// wherever there is a bound.
std::string checkBandMask(const Attributes &attributes);

/// "" when the dropout attributes (Graph_AttentionDropoutAttrs) are absent
/// or well typed: a ratio in [0, 1] with a site, the rest only with them.
std::string checkAttentionDropout(const Attributes &attributes);

/// "" when the band mask, dropout and soft-cap attributes are absent or
/// well formed: what every attention kernel checks beyond scale and causal.
std::string checkAttentionMasks(const Attributes &attributes);

/// Logit soft-capping (softcap; Graph_AttentionSoftCapAttr in
/// GraphDialect.td): a score s = scale * q.k becomes cap * tanh(s / cap)
/// before the bias is added, as Gemma 2's attention writes it.
template <typename T> struct SoftCap {
  T cap = 0, inverse = 0;

  SoftCap() = default;
  explicit SoftCap(const Attributes &attributes) {
    if (!attributes.has("softcap"))
      return;
    cap = T(attributes.getFloat("softcap"));
    inverse = T(1) / cap;
  }
  bool present() const { return cap > T(0); }
  /// Caps `count` scores in place; with `derivatives`, writes each capped
  /// score's derivative by the uncapped one, 1 - tanh^2, which the backward
  /// pass multiplies dS by.
  void apply(T *scores, int64_t count, T *derivatives) const {
    for (int64_t c = 0; c < count; ++c) {
      T t = std::tanh(scores[c] * inverse);
      scores[c] = cap * t;
      if (derivatives)
        derivatives[c] = T(1) - t * t;
    }
  }
};

/// Dropout on the attention probabilities (Graph_AttentionDropoutAttrs in
/// GraphDialect.td): the factor, 1 / (1 - ratio) or 0, that multiplies each
/// probability before the product with V. Element (batch b, head h, query
/// position q, key position k) draws what graph.dropout draws for element
/// ((b * H + h) * L + q) * L + k of the [B, H, L, L] probabilities, counted
/// on from the micro-batch's slice, so that the fused, block and ring
/// kernels keep the mask of the unfused graph on any rank count.
template <typename T> class AttentionDropout {
public:
  AttentionDropout() = default;
  /// `dims` are the instruction's; its query heads are a rank's share of
  /// the whole tensor's under dropout_head_ranks.
  AttentionDropout(const KernelArgs &args, const AttentionDims &dims) {
    const Attributes &attributes = attributesOf(args);
    if (!attributes.has("dropout_ratio"))
      return;
    present = true;
    double ratio = attributes.getFloat("dropout_ratio");
    keepThreshold = sp::semantics::dropoutKeepThreshold(ratio);
    scale = sp::semantics::dropoutScale<T>(ratio);
    key.site = uint64_t(intAttribute(attributes, "dropout_site", 0));
    if (args.context) {
      key.seed = args.context->seed;
      key.step = uint64_t(args.context->step);
    }
    int64_t headRanks = intAttribute(attributes, "dropout_head_ranks", 1);
    int64_t rank = args.context ? args.context->rank : 0;
    localHeads = dims.queryHeads;
    wholeHeads = uint64_t(dims.queryHeads * headRanks);
    firstHead = uint64_t((rank % headRanks) * dims.queryHeads);
    length = uint64_t(intAttribute(attributes, "dropout_sequence_length", dims.sk));
    sliceOffset = uint64_t(intAttribute(attributes, "dropout_micro_batch", 0)) *
                  uint64_t(dims.batch) * wholeHeads * length * length;
  }

  bool present = false;

  /// The index of key position 0 in the row of query position
  /// `queryPosition` of head `bh` (batch * local heads + local head).
  uint64_t rowStart(int64_t bh, int64_t queryPosition) const {
    uint64_t b = uint64_t(bh / localHeads), h = firstHead + uint64_t(bh % localHeads);
    return sliceOffset + ((b * wholeHeads + h) * length + uint64_t(queryPosition)) * length;
  }

  /// factors[c] for the keys at positions firstKey + c, c in [0, count).
  void factors(uint64_t start, int64_t firstKey, int64_t count, T *out) const {
    dropoutFactors(key, keepThreshold, scale, start + uint64_t(firstKey), count, out);
  }
  /// Multiplies `row`'s probabilities of the keys at `keys` (a first
  /// position, or each key's position) by their factors, drawn into
  /// `factors` (`count` of them).
  template <typename Keys>
  void drop(T *row, uint64_t start, Keys keys, int64_t count, T *scratch) const {
    factors(start, keys, count, scratch);
#pragma omp simd
    for (int64_t c = 0; c < count; ++c)
      row[c] *= scratch[c];
  }
  /// factors[c] for the keys at positions keyPositions[c], drawn by runs of
  /// consecutive positions.
  void factors(uint64_t start, const int64_t *keyPositions, int64_t count, T *out) const {
    for (int64_t begin = 0, end; begin < count; begin = end) {
      for (end = begin + 1; end < count && keyPositions[end] == keyPositions[end - 1] + 1; ++end)
        ;
      factors(start, keyPositions[begin], end - begin, out + begin);
    }
  }

private:
  sp::semantics::DropoutKey key;
  uint32_t keepThreshold = 0;
  T scale = 1;
  int64_t localHeads = 1;
  uint64_t wholeHeads = 1, firstHead = 0, length = 0, sliceOffset = 0;
};

/// Adds to `scores[0, count)` the bias of `count` keys at consecutive
/// positions from `firstKey` seen from `queryPosition`: `biasRow`'s elements
/// (stride `columnStride`; null: none) inside the band, its fill outside.
template <typename T>
void addBandedBias(T *scores, int64_t count, const T *biasRow, int64_t columnStride,
                   const BandMask<T> &band, int64_t queryPosition, int64_t firstKey) {
  auto [begin, end] = band.visible(queryPosition, firstKey, count);
  for (int64_t c = 0; c < begin; ++c)
    scores[c] += band.fill;
  if (biasRow && columnStride == 1) {
#pragma omp simd
    for (int64_t c = begin; c < end; ++c)
      scores[c] += biasRow[c];
  } else if (biasRow) {
    for (int64_t c = begin; c < end; ++c)
      scores[c] += biasRow[c * columnStride];
  }
  for (int64_t c = end; c < count; ++c)
    scores[c] += band.fill;
}

/// One row of the softmax's backward pass, in place: dS = P * (Z * dP - D)
/// over `gradients` (dP, from dO V^T), with D the row's `dot`, and P * Z
/// over `probabilities`, which dV reads: the output read the probabilities
/// times their dropout factors Z (`factors`; null: no dropout, Z = 1).
template <typename T>
void probabilityGradientRow(T *probabilities, T *gradients, const T *factors, T dot,
                            int64_t count) {
  if (!factors) {
#pragma omp simd
    for (int64_t c = 0; c < count; ++c)
      gradients[c] = probabilities[c] * (gradients[c] - dot);
    return;
  }
#pragma omp simd
  for (int64_t c = 0; c < count; ++c) {
    gradients[c] = probabilities[c] * (factors[c] * gradients[c] - dot);
    probabilities[c] *= factors[c];
  }
}

/// Checks that query, key and value share one float type and fit the shapes
/// above (Hq a multiple of Hkv, dims BLAS can index); fills `dims`. One line
/// on failure, empty on success.
std::string checkQueryKeyValue(const TensorArg &query, const TensorArg &key,
                               const TensorArg &value, AttentionDims &dims);

/// Whether a row's logsumexp is too large in magnitude to hold the log of its
/// sum: every score of the row sits near the float minimum, as Hugging Face's
/// additive mask puts a query that sees only padding. There lse rounds to the
/// row maximum, so exp(s - lse) is not the softmax (each key at the maximum
/// would get 1); the kernels divide by the row's own sum instead, which gives
/// what softmax gives (those keys share the row evenly).
template <typename T> bool logsumexpLosesTheSum(T lse) {
  return std::isfinite(lse) && std::abs(lse) * std::numeric_limits<T>::epsilon() > T(1) / 1024;
}

/// exp(row - lse) in place, then, for a row whose lse lost its sum, divided
/// by the row's sum; zeros for a row that sees no key (lse -inf). `row` must
/// hold every key the row sees.
template <typename T> void softmaxFromLogsumexp(T *row, int64_t keys, T lse) {
  if (lse == -std::numeric_limits<T>::infinity()) {
    std::fill(row, row + keys, T(0));
    return;
  }
  T sum = 0;
#pragma omp simd reduction(+ : sum)
  for (int64_t j = 0; j < keys; ++j) {
    row[j] = expOf(row[j] - lse);
    sum += row[j];
  }
  if (logsumexpLosesTheSum(lse) && sum > T(0)) {
    T inverse = T(1) / sum;
#pragma omp simd
    for (int64_t j = 0; j < keys; ++j)
      row[j] *= inverse;
  }
}

/// Whether a bias element hides its key: at most half the float minimum
/// (Hugging Face's masks hold the minimum, others -inf), which leaves
/// exp(score + bias - max) exactly 0 beside any visible key, so the kernels
/// may skip such keys without changing a bit of a row that sees a key. NaN
/// hides nothing.
template <typename T> bool biasHidesKey(T bias) {
  return bias <= std::numeric_limits<T>::lowest() / 2;
}

/// Whether all `count` values are finite. Kernels skip hidden keys only
/// when their inputs are: NaN or infinity plus a mask is not a hidden score.
template <typename T> bool allFinite(const T *values, int64_t count) {
  bool finite = true;
#pragma omp simd reduction(&& : finite)
  for (int64_t i = 0; i < count; ++i)
    finite = finite && std::isfinite(values[i]);
  return finite;
}

/// Whether the inputs at `indices` (those present) are all finite: the
/// kernels skip what a mask hides only then.
template <typename T>
bool inputsFinite(const KernelArgs &args, std::initializer_list<size_t> indices) {
  for (size_t i : indices)
    if (args.inputs[i].present && !allFinite(args.inputs[i].as<T>(), args.inputs[i].numElements()))
      return false;
  return true;
}

/// Makes output column c of every row of a query head NaN where column c of
/// its value head holds a NaN. The unfused softmax(S) V multiplies every value
/// row, masked keys' zero probabilities included (0 * NaN = NaN); the kernels
/// skip the keys a causal mask hides, so they put that NaN back here. Reads
/// the values once: O(Sk Dv) per head against the kernel's O(Sq Sk D).
template <typename T>
void propagateValueNaN(const AttentionDims &dims, const T *value, T *output) {
  int64_t kvHeads = dims.batch * dims.kvHeads;
  std::vector<char> nanColumns(size_t(dims.dv));
  for (int64_t kv = 0; kv < kvHeads; ++kv) {
    std::fill(nanColumns.begin(), nanColumns.end(), 0);
    bool any = false;
    const T *rows = value + kv * dims.sk * dims.dv;
    for (int64_t j = 0; j < dims.sk; ++j)
      for (int64_t c = 0; c < dims.dv; ++c)
        if (std::isnan(rows[j * dims.dv + c])) {
          nanColumns[size_t(c)] = 1;
          any = true;
        }
    if (!any)
      continue;
    int64_t b = kv / dims.kvHeads, firstHead = (kv % dims.kvHeads) * dims.group();
    for (int64_t h = firstHead; h < firstHead + dims.group(); ++h) {
      T *out = output + (b * dims.queryHeads + h) * dims.sq * dims.dv;
      for (int64_t i = 0; i < dims.sq; ++i)
        for (int64_t c = 0; c < dims.dv; ++c)
          if (nanColumns[size_t(c)])
            out[i * dims.dv + c] = std::numeric_limits<T>::quiet_NaN();
    }
  }
}

/// C = alpha * op(A) op(B) + beta * C on row-major tiles with leading dims
/// lda, ldb, ldc.
inline void blasGemm(bool transposeA, bool transposeB, int64_t m, int64_t n, int64_t k,
                     float alpha, const float *a, int64_t lda, const float *b, int64_t ldb,
                     float beta, float *c, int64_t ldc) {
  cblas_sgemm(CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans,
              transposeB ? CblasTrans : CblasNoTrans, blasint(m), blasint(n), blasint(k), alpha,
              a, blasint(std::max<int64_t>(lda, 1)), b, blasint(std::max<int64_t>(ldb, 1)), beta,
              c, blasint(std::max<int64_t>(ldc, 1)));
}
inline void blasGemm(bool transposeA, bool transposeB, int64_t m, int64_t n, int64_t k,
                     double alpha, const double *a, int64_t lda, const double *b, int64_t ldb,
                     double beta, double *c, int64_t ldc) {
  cblas_dgemm(CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans,
              transposeB ? CblasTrans : CblasNoTrans, blasint(m), blasint(n), blasint(k), alpha,
              a, blasint(std::max<int64_t>(lda, 1)), b, blasint(std::max<int64_t>(ldb, 1)), beta,
              c, blasint(std::max<int64_t>(ldc, 1)));
}

} // namespace sp::runtime::cpu

#endif // SP_RUNTIME_LIB_CPU_ATTENTIONSUPPORT_H
