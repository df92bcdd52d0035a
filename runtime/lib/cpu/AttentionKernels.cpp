//===- AttentionKernels.cpp - fused attention, forward and backward -------===//
//
// FlashAttention on the CPU. The forward pass walks each block of query rows
// across the keys in blocks, keeps a running maximum and denominator per row
// (online softmax) and accumulates the output in place, so a head never holds
// more than one [query block, key block] tile of scores. It saves each row's
// logsumexp; the backward pass (FlashAttention-2) recomputes the probabilities
// of a tile from it and accumulates dQ, dK and dV tile by tile. Tile products
// go to BLAS; the OpenMP loops hand out (batch, head, block) tasks, and BLAS
// stays single-threaded inside them.
//
// Causal masks skip the tiles above the diagonal and mask only the tiles it
// crosses. A query row that sees no key (every score -inf) gets a zero output
// and a logsumexp of -inf, which the backward pass reads as "no gradient".
// A NaN score, or a +inf one (whose exp(s - max) is NaN), makes the whole row
// NaN, output and logsumexp, as softmax followed by a matmul would: the
// running denominator carries the NaN to the end of the row. A NaN value
// reaches its column of every row, as in softmax(S) V (propagateValueNaN).
//
//===----------------------------------------------------------------------===//

#include "AttentionSupport.h"
#include "FastMath.h"

#include <algorithm>
#include <climits>
#include <cmath>
#include <limits>

namespace sp::runtime::cpu {

namespace {

/// Query rows and keys per tile. 64 x 128 f32 scores are 32 KiB: a tile, its
/// probabilities and the blocks of Q, K and V it reads stay in L2.
constexpr int64_t kQueryBlock = 64;
constexpr int64_t kKeyBlock = 128;

/// C = alpha * op(A) op(B) + beta * C on row-major tiles with leading dims
/// lda, ldb, ldc (C has n columns).
template <typename T>
void tileGemm(bool transposeA, bool transposeB, int64_t m, int64_t n, int64_t k, T alpha,
              const T *a, int64_t lda, const T *b, int64_t ldb, T beta, T *c, int64_t ldc) {
  if (m == 0 || n == 0)
    return;
  if (k == 0) {
    // BLAS may skip an empty product without touching C.
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j)
        c[i * ldc + j] = beta == T(0) ? T(0) : beta * c[i * ldc + j];
    return;
  }
  blasGemm(transposeA, transposeB, m, n, k, alpha, a, std::max<int64_t>(lda, 1), b,
           std::max<int64_t>(ldb, 1), beta, c, std::max<int64_t>(ldc, 1));
}

/// Calls body(item, scratch) for every item in [0, count), handing items to
/// the OpenMP team one at a time: attention tiles under a causal mask differ
/// in cost, so callers order items heaviest first. Each thread owns one
/// Scratch. Stays on the caller's thread when the work is small.
template <typename Scratch, typename Body>
void parallelTasks(int64_t count, int64_t costPerItem, Body &&body) {
  if (count <= 0)
    return;
  int64_t work = count * std::max<int64_t>(costPerItem, 1);
  int threads = int(
      std::min<int64_t>({int64_t(maxParallelChunks()), count, work / (kMinParallelWork / 2)}));
  if (threads <= 1) {
    Scratch scratch;
    for (int64_t item = 0; item < count; ++item)
      body(item, scratch);
    return;
  }
#pragma omp parallel num_threads(threads)
  {
    Scratch scratch;
#pragma omp for schedule(dynamic, 1)
    for (int64_t item = 0; item < count; ++item)
      body(item, scratch);
  }
}

//===----------------------------------------------------------------------===//
// Operands
//===----------------------------------------------------------------------===//

std::string checkAttentionOperands(const TensorArg &query, const TensorArg &key,
                                   const TensorArg &value, const TensorArg *bias,
                                   AttentionDims &dims) {
  if (std::string error = checkQueryKeyValue(query, key, value, dims); !error.empty())
    return error;
  if (bias && bias->present) {
    if (bias->dtype != query.dtype)
      return "bias must be " + std::string(dtypeName(query.dtype)) + ", got " + describe(*bias);
    Shape scores = dims.with({dims.queryHeads, dims.sq, dims.sk});
    if (!broadcastsTo(bias->shape, scores))
      return "bias " + describe(*bias) + " does not broadcast to the scores " +
             formatShape(scores);
  }
  return {};
}

std::string checkAttentionAttributes(const Attributes &attributes) {
  return firstError({checkFloatAttribute(attributes, "scale", true),
                     checkBoolAttribute(attributes, "causal"), checkAttentionMasks(attributes)});
}

/// The optional bias: the last input when there is one and it is present.
const TensorArg *biasOf(const KernelArgs &args, size_t index) {
  return args.inputs.size() > index && args.inputs[index].present ? &args.inputs[index]
                                                                  : nullptr;
}

/// The tiles (query block, key block) of each head whose bias hides every
/// key from every row: the kernels skip them, as they skip the tiles a causal
/// mask hides. A dense mask built from Hugging Face's attention_mask holds
/// the causal triangle too, so this halves the work of a causal model fed a
/// mask. Skipping keys the bias hides (biasHidesKey) changes no bit for a
/// row that sees a key. A row that sees none
/// (its lse loses the sum: logsumexpLosesTheSum) is the softmax over every
/// key, so its block is never skipped; nor is any tile when an input is not
/// finite, since NaN or infinity plus the mask must reach the result as it
/// does without skipping.
class MaskedTiles {
public:
  template <typename T>
  MaskedTiles(const AttentionDims &dims, const T *bias, const BiasLayout &layout,
              const BandMask<T> &band, int64_t queryBlock, int64_t keyBlock)
      : queryBlocks((dims.sq + queryBlock - 1) / queryBlock),
        keyBlocks((dims.sk + keyBlock - 1) / keyBlock), planeOfHead(layout.planeOfHead) {
    // Heads that broadcast one bias plane share its map.
    const std::vector<int64_t> &planeOffsets = layout.planeOffsets;
    hidden.assign(planeOffsets.size() * size_t(queryBlocks * keyBlocks), 0);
    std::vector<uint8_t> blockHidden(static_cast<size_t>(keyBlocks));
    for (size_t plane = 0; plane < planeOffsets.size(); ++plane) {
      for (int64_t qb = 0; qb < queryBlocks; ++qb) {
        int64_t i0 = qb * queryBlock, rows = std::min(queryBlock, dims.sq - i0);
        std::fill(blockHidden.begin(), blockHidden.end(), 1);
        bool everyRowSees = true;
        // A bias broadcast along the queries has one row for all, unless a
        // band tells the rows apart.
        int64_t distinctRows = layout.rowStride == 0 && !band.present ? 1 : rows;
        for (int64_t r = 0; r < distinctRows; ++r) {
          const T *row = bias ? bias + planeOffsets[plane] + (i0 + r) * layout.rowStride : nullptr;
          int64_t queryPosition = i0 + r + dims.causalOffset();
          bool sees = false;
          for (int64_t kb = 0; kb < keyBlocks; ++kb) {
            int64_t j0 = kb * keyBlock, cols = std::min(keyBlock, dims.sk - j0);
            bool allHidden = true;
            for (int64_t c = 0; c < cols; ++c)
              allHidden &= biasHidesKey(band.value(
                  row ? row + (j0 + c) * layout.columnStride : nullptr, queryPosition, j0 + c));
            blockHidden[size_t(kb)] &= uint8_t(allHidden);
            sees |= !allHidden;
          }
          everyRowSees &= sees;
        }
        if (!everyRowSees)
          continue;
        uint8_t *blockRow = hidden.data() + (plane * size_t(queryBlocks) + size_t(qb)) *
                                                size_t(keyBlocks);
        std::copy(blockHidden.begin(), blockHidden.end(), blockRow);
      }
    }
  }

  bool hides(int64_t bh, int64_t queryBlock, int64_t keyBlock) const {
    return hidden[(size_t(planeOfHead[size_t(bh)]) * size_t(queryBlocks) + size_t(queryBlock)) *
                      size_t(keyBlocks) +
                  size_t(keyBlock)];
  }

private:
  int64_t queryBlocks, keyBlocks;
  /// The bias layout's, which outlives this map.
  const std::vector<int64_t> &planeOfHead;
  std::vector<uint8_t> hidden;
};

/// What every tile of one instruction reads.
template <typename T> struct AttentionProblem {
  AttentionDims dims;
  T scale = 1;
  bool causal = false;
  const T *query = nullptr, *key = nullptr, *value = nullptr, *bias = nullptr;
  /// Set with a bias tensor or a band mask.
  const BiasLayout *biasLayout = nullptr;
  BandMask<T> band;
  /// Tiles the bias hides; null when none are skipped.
  const MaskedTiles *maskedTiles = nullptr;
  /// Dropout on the probabilities; query i and key j sit at positions i and
  /// j of one sequence (Sq = Sk, checked).
  AttentionDropout<T> dropout;
  SoftCap<T> softcap;

  const T *queryRows(int64_t bh, int64_t i) const {
    return query + (bh * dims.sq + i) * dims.d;
  }
  int64_t kvHead(int64_t bh) const {
    int64_t b = bh / dims.queryHeads, h = bh % dims.queryHeads;
    return b * dims.kvHeads + h / dims.group();
  }
  const T *keyRows(int64_t bh, int64_t j) const {
    return key + (kvHead(bh) * dims.sk + j) * dims.d;
  }
  const T *valueRows(int64_t bh, int64_t j) const {
    return value + (kvHead(bh) * dims.sk + j) * dims.dv;
  }
  /// One past the last key any of the rows [i0, i0 + rows) sees.
  int64_t keyEnd(int64_t i0, int64_t rows) const {
    if (!causal)
      return dims.sk;
    return std::clamp<int64_t>(i0 + rows + dims.causalOffset(), 0, dims.sk);
  }

  /// Whether the tile at query row i0 and key j0 of head bh is all hidden,
  /// by the causal mask or the bias: it contributes exactly nothing.
  bool skipsTile(int64_t bh, int64_t i0, int64_t rows, int64_t j0) const {
    return j0 >= keyEnd(i0, rows) ||
           (maskedTiles && maskedTiles->hides(bh, i0 / kQueryBlock, j0 / kKeyBlock));
  }

  /// scores[r][c] = scale * q_(i0+r) . k_(j0+c) (soft-capped) + bias, -inf
  /// where the causal mask hides the key; `scores` has `cols` columns. With
  /// a soft-cap, `capDerivatives` (when given) gets each score's 1 - tanh^2.
  void tileScores(int64_t bh, int64_t i0, int64_t rows, int64_t j0, int64_t cols, T *scores,
                  T *capDerivatives = nullptr) const {
    tileGemm(false, true, rows, cols, dims.d, scale, queryRows(bh, i0), dims.d, keyRows(bh, j0),
             dims.d, T(0), scores, cols);
    if (softcap.present())
      softcap.apply(scores, rows * cols, capDerivatives);
    if (bias || band.present) {
      int64_t columnStride = biasLayout->columnStride;
      for (int64_t r = 0; r < rows; ++r) {
        const T *row = bias ? bias + biasLayout->headOffsets[bh] + j0 * columnStride +
                                  (i0 + r) * biasLayout->rowStride
                            : nullptr;
        addBandedBias(scores + r * cols, cols, row, columnStride, band,
                      i0 + r + dims.causalOffset(), j0);
      }
    }
    // Rows whose last visible key lies inside the tile; the others see all of it.
    if (causal && j0 + cols - 1 > i0 + dims.causalOffset()) {
      for (int64_t r = 0; r < rows; ++r) {
        int64_t visible = std::clamp<int64_t>(i0 + r + dims.causalOffset() - j0 + 1, 0, cols);
        std::fill(scores + r * cols + visible, scores + (r + 1) * cols,
                  -std::numeric_limits<T>::infinity());
      }
    }
  }
};

/// Scratch of one thread in the forward pass: a tile of scores and a row
/// of dropout factors.
template <typename T> struct ForwardScratch {
  std::vector<T> scores = std::vector<T>(kQueryBlock * kKeyBlock);
  std::vector<T> factors = std::vector<T>(kKeyBlock);
};

/// Scratch of one thread in the backward pass: a tile of probabilities, one
/// of their gradients, a row of dropout factors and a tile of soft-cap
/// derivatives.
template <typename T> struct BackwardScratch {
  std::vector<T> probabilities = std::vector<T>(kQueryBlock * kKeyBlock);
  std::vector<T> gradients = std::vector<T>(kQueryBlock * kKeyBlock);
  std::vector<T> factors = std::vector<T>(kKeyBlock);
  std::vector<T> capDerivatives = std::vector<T>(kQueryBlock * kKeyBlock);
};

//===----------------------------------------------------------------------===//
// attention
//===----------------------------------------------------------------------===//

/// What attention and attention_grad check alike: the inputs named by
/// `roles`, the last of them the optional bias (which may be left out
/// entirely as well as marked absent), `outputs` outputs, the attributes,
/// and query, key, value and bias, whose sizes go to `dims`.
/// The fused kernels place query i and key j at positions i and j of one
/// sequence for the dropout mask: they need as many queries as keys.
std::string checkDropoutPositions(const KernelArgs &args, const AttentionDims &dims) {
  if (attributesOf(args).has("dropout_ratio") && dims.sq != dims.sk)
    return "dropout on the probabilities needs as many queries as keys, got " +
           std::to_string(dims.sq) + " and " + std::to_string(dims.sk);
  return {};
}

std::string checkAttentionCall(const KernelArgs &args, const std::vector<const char *> &roles,
                               size_t outputs, AttentionDims &dims) {
  size_t inputs = roles.size();
  if (args.inputs.size() != inputs && args.inputs.size() != inputs - 1)
    return "expects " + std::to_string(inputs - 1) + " or " + std::to_string(inputs) +
           " inputs, got " + std::to_string(args.inputs.size());
  if (args.outputs.size() != outputs)
    return "expects " + std::to_string(outputs) + " outputs, got " +
           std::to_string(args.outputs.size());
  for (size_t i = 0; i + 1 < inputs; ++i)
    if (std::string error = checkPresent(args, i, roles[i]); !error.empty())
      return error;
  if (std::string error = checkAttentionAttributes(attributesOf(args)); !error.empty())
    return error;
  return checkAttentionOperands(args.inputs[0], args.inputs[1], args.inputs[2],
                                biasOf(args, inputs - 1), dims);
}

std::string checkAttention(const KernelArgs &args) {
  AttentionDims dims;
  if (std::string error = checkAttentionCall(args, {"query", "key", "value", "bias"}, 2, dims);
      !error.empty())
    return error;
  if (std::string error = checkDropoutPositions(args, dims); !error.empty())
    return error;
  DType dtype = args.inputs[0].dtype;
  return firstError(
      {checkDType(args.outputs[0], dtype, "output"),
       checkShape(args.outputs[0], dims.with({dims.queryHeads, dims.sq, dims.dv}), "output"),
       checkDType(args.outputs[1], dtype, "logsumexp"),
       checkShape(args.outputs[1], dims.with({dims.queryHeads, dims.sq}), "logsumexp")});
}

/// Fills `problem` from an instruction whose inputs start with query, key,
/// value and whose bias is input `biasIndex` (when there is one).
template <typename T>
AttentionProblem<T> problemOf(const KernelArgs &args, size_t biasIndex,
                              std::optional<BiasLayout> &biasLayout,
                              std::optional<MaskedTiles> &maskedTiles,
                              std::initializer_list<size_t> mustBeFinite) {
  AttentionProblem<T> problem;
  const TensorArg *bias = biasOf(args, biasIndex);
  checkAttentionOperands(args.inputs[0], args.inputs[1], args.inputs[2], bias, problem.dims);
  const Attributes &attributes = attributesOf(args);
  problem.scale = T(floatAttribute(attributes, "scale", 1.0));
  problem.causal = boolAttribute(attributes, "causal", false);
  problem.query = args.inputs[0].as<T>();
  problem.key = args.inputs[1].as<T>();
  problem.value = args.inputs[2].as<T>();
  problem.band = BandMask<T>(attributes);
  problem.dropout = AttentionDropout<T>(args, problem.dims);
  problem.softcap = SoftCap<T>(attributes);
  if (bias || problem.band.present) {
    if (bias) {
      biasLayout.emplace(*bias, problem.dims);
      problem.bias = bias->as<T>();
    } else {
      biasLayout.emplace(problem.dims);
    }
    problem.biasLayout = &*biasLayout;
    // Tiles are skipped only when the inputs whose non-finite values would
    // reach the result through a hidden tile are finite.
    if (inputsFinite<T>(args, mustBeFinite)) {
      maskedTiles.emplace(problem.dims, problem.bias, *biasLayout, problem.band, kQueryBlock,
                          kKeyBlock);
      problem.maskedTiles = &*maskedTiles;
    }
  }
  return problem;
}

/// One block of query rows of one head across all the keys it sees.
template <typename T>
void forwardBlock(const AttentionProblem<T> &p, int64_t bh, int64_t i0, int64_t rows, T *output,
                  T *logsumexp, ForwardScratch<T> &scratch) {
  const AttentionDims &dims = p.dims;
  T *out = output + (bh * dims.sq + i0) * dims.dv;
  T *lse = logsumexp + bh * dims.sq + i0;
  constexpr T kNegInf = -std::numeric_limits<T>::infinity();
  T maxima[kQueryBlock], sums[kQueryBlock];
  std::fill(maxima, maxima + rows, kNegInf);
  std::fill(sums, sums + rows, T(0));
  std::fill(out, out + rows * dims.dv, T(0));
  int64_t keyEnd = p.keyEnd(i0, rows);
  for (int64_t j0 = 0; j0 < keyEnd; j0 += kKeyBlock) {
    if (p.skipsTile(bh, i0, rows, j0))
      continue;
    int64_t cols = std::min(kKeyBlock, keyEnd - j0);
    T *s = scratch.scores.data();
    p.tileScores(bh, i0, rows, j0, cols, s);
    for (int64_t r = 0; r < rows; ++r) {
      T *row = s + r * cols;
      T tileMax = kNegInf;
#pragma omp simd reduction(max : tileMax)
      for (int64_t c = 0; c < cols; ++c)
        tileMax = row[c] > tileMax ? row[c] : tileMax;
      // The comparison above skips NaN, so newMax is never NaN.
      T newMax = std::max(maxima[r], tileMax);
      if (newMax == kNegInf) {
        // Nothing visible yet: the row contributes nothing to the output;
        // but a NaN score among the -inf ones still poisons the row.
        if (std::any_of(row, row + cols, [](T score) { return std::isnan(score); }))
          sums[r] = std::numeric_limits<T>::quiet_NaN();
        std::fill(row, row + cols, T(0));
        continue;
      }
      T sum = 0;
#pragma omp simd reduction(+ : sum)
      for (int64_t c = 0; c < cols; ++c) {
        T e = expOf(row[c] - newMax);
        row[c] = e;
        sum += e;
      }
      if (newMax != maxima[r]) {
        T correction = expOf(maxima[r] - newMax);
        sums[r] *= correction;
        T *outRow = out + r * dims.dv;
#pragma omp simd
        for (int64_t c = 0; c < dims.dv; ++c)
          outRow[c] *= correction;
        maxima[r] = newMax;
      }
      sums[r] += sum;
      // The denominator is the undropped one; the output sums the kept.
      if (p.dropout.present)
        p.dropout.drop(row, p.dropout.rowStart(bh, i0 + r), j0, cols, scratch.factors.data());
    }
    tileGemm(false, false, rows, dims.dv, cols, T(1), s, cols, p.valueRows(bh, j0), dims.dv,
             T(1), out, dims.dv);
  }
  for (int64_t r = 0; r < rows; ++r) {
    T *outRow = out + r * dims.dv;
    if (sums[r] > T(0)) {
      T inverse = T(1) / sums[r];
#pragma omp simd
      for (int64_t c = 0; c < dims.dv; ++c)
        outRow[c] *= inverse;
      lse[r] = maxima[r] + std::log(sums[r]);
    } else if (sums[r] == T(0)) {
      // No visible key.
      std::fill(outRow, outRow + dims.dv, T(0));
      lse[r] = kNegInf;
    } else {
      // A NaN reached the denominator.
      std::fill(outRow, outRow + dims.dv, std::numeric_limits<T>::quiet_NaN());
      lse[r] = std::numeric_limits<T>::quiet_NaN();
    }
  }
}

/// Multiply-adds of one block of query rows against `keys` keys (for
/// sizing the OpenMP split).
int64_t blockCost(const AttentionDims &dims, int64_t keys) {
  return kQueryBlock * std::max<int64_t>(keys, 1) * (dims.d + dims.dv + 4);
}

std::string runAttention(const KernelArgs &args) {
  visitFloat(args.inputs[0].dtype, [&](auto tag) {
    using T = decltype(tag);
    std::optional<BiasLayout> biasLayout;
    std::optional<MaskedTiles> maskedTiles;
    AttentionProblem<T> p = problemOf<T>(args, 3, biasLayout, maskedTiles, {0, 1, 2});
    const AttentionDims &dims = p.dims;
    int64_t blocks = (dims.sq + kQueryBlock - 1) / kQueryBlock;
    int64_t heads = dims.batch * dims.queryHeads;
    T *output = args.outputs[0].as<T>();
    T *logsumexp = args.outputs[1].as<T>();
    int64_t meanKeys = p.causal ? std::max<int64_t>(dims.sk / 2, 1) : dims.sk;
    // Late query blocks see the most keys under a causal mask: they go first.
    parallelTasks<ForwardScratch<T>>(
        heads * blocks, blockCost(dims, meanKeys),
        [&](int64_t item, ForwardScratch<T> &scratch) {
          int64_t bh = item % heads, i0 = (blocks - 1 - item / heads) * kQueryBlock;
          forwardBlock(p, bh, i0, std::min(kQueryBlock, dims.sq - i0), output, logsumexp,
                       scratch);
        });
    propagateValueNaN(dims, p.value, output);
  });
  return {};
}

//===----------------------------------------------------------------------===//
// attention_grad
//===----------------------------------------------------------------------===//

std::string checkAttentionGrad(const KernelArgs &args) {
  AttentionDims dims;
  if (std::string error = checkAttentionCall(
          args, {"query", "key", "value", "output", "logsumexp", "output_grad", "bias"}, 3,
          dims);
      !error.empty())
    return error;
  if (std::string error = checkDropoutPositions(args, dims); !error.empty())
    return error;
  const TensorArg &query = args.inputs[0];
  Shape output = dims.with({dims.queryHeads, dims.sq, dims.dv});
  return firstError(
      {checkDType(args.inputs[3], query.dtype, "output"),
       checkShape(args.inputs[3], output, "output"),
       checkDType(args.inputs[4], query.dtype, "logsumexp"),
       checkShape(args.inputs[4], dims.with({dims.queryHeads, dims.sq}), "logsumexp"),
       checkSameType(args.inputs[5], args.inputs[3], "output_grad"),
       checkSameType(args.outputs[0], query, "query_grad"),
       checkSameType(args.outputs[1], args.inputs[1], "key_grad"),
       checkSameType(args.outputs[2], args.inputs[2], "value_grad")});
}

/// What the backward tiles read and write besides the forward operands.
template <typename T> struct BackwardState {
  const T *logsumexp = nullptr, *outputGrad = nullptr;
  /// Per query row: sum over the output dims of dO * O (FlashAttention-2's D).
  std::vector<T> rowDots;
  /// Per query row, what exp(s - lse) is multiplied by to be the softmax: 1,
  /// or the inverse of the row's sum where lse lost it
  /// (logsumexpLosesTheSum); empty when no row needs it.
  std::vector<T> rowScales;
  T *queryGrad = nullptr, *keyGrad = nullptr, *valueGrad = nullptr;
};

/// One tile (query rows [i0, i0 + rows) of head bh, keys [j0, j0 + cols)):
/// adds its share to dK and dV (withKeyValue) and to dQ (withQuery).
template <typename T>
void backwardTile(const AttentionProblem<T> &p, const BackwardState<T> &g, int64_t bh,
                  int64_t i0, int64_t rows, int64_t j0, int64_t cols, bool withKeyValue,
                  bool withQuery, BackwardScratch<T> &scratch) {
  const AttentionDims &dims = p.dims;
  T *prob = scratch.probabilities.data(), *grad = scratch.gradients.data();
  T *capDerivatives = p.softcap.present() ? scratch.capDerivatives.data() : nullptr;
  p.tileScores(bh, i0, rows, j0, cols, prob, capDerivatives);
  const T *lse = g.logsumexp + bh * dims.sq + i0;
  const T *dots = g.rowDots.data() + bh * dims.sq + i0;
  for (int64_t r = 0; r < rows; ++r) {
    T *row = prob + r * cols;
    T shift = lse[r];
    if (shift == -std::numeric_limits<T>::infinity()) {
      // A row that saw no key has no probabilities to differentiate.
      std::fill(row, row + cols, T(0));
      continue;
    }
    T rowScale = g.rowScales.empty() ? T(1) : g.rowScales[bh * dims.sq + i0 + r];
#pragma omp simd
    for (int64_t c = 0; c < cols; ++c)
      row[c] = expOf(row[c] - shift) * rowScale;
  }
  const T *outputGrad = g.outputGrad + (bh * dims.sq + i0) * dims.dv;
  int64_t kv = p.kvHead(bh);
  // dP = dO V_j^T, then dS = P * (dP - D) in place; with dropout factors Z,
  // the output reads P * Z: dP = Z * (dO V_j^T), and P becomes P * Z for dV.
  tileGemm(false, true, rows, cols, dims.dv, T(1), outputGrad, dims.dv, p.valueRows(bh, j0),
           dims.dv, T(0), grad, cols);
  T *factors = p.dropout.present ? scratch.factors.data() : nullptr;
  for (int64_t r = 0; r < rows; ++r) {
    if (factors)
      p.dropout.factors(p.dropout.rowStart(bh, i0 + r), j0, cols, factors);
    probabilityGradientRow(prob + r * cols, grad + r * cols, factors, dots[r], cols);
  }
  // Through the soft-cap: d(cap tanh(s / cap)) / ds = 1 - tanh^2.
  if (capDerivatives) {
#pragma omp simd
    for (int64_t e = 0; e < rows * cols; ++e)
      grad[e] *= capDerivatives[e];
  }
  if (withKeyValue)
    // dV_j += (P * Z)^T dO
    tileGemm(true, false, cols, dims.dv, rows, T(1), prob, cols, outputGrad, dims.dv, T(1),
             g.valueGrad + (kv * dims.sk + j0) * dims.dv, dims.dv);
  if (withKeyValue)
    // dK_j += scale * dS^T Q_i
    tileGemm(true, false, cols, dims.d, rows, p.scale, grad, cols, p.queryRows(bh, i0), dims.d,
             T(1), g.keyGrad + (kv * dims.sk + j0) * dims.d, dims.d);
  if (withQuery)
    // dQ_i += scale * dS K_j
    tileGemm(false, false, rows, dims.d, cols, p.scale, grad, cols, p.keyRows(bh, j0), dims.d,
             T(1), g.queryGrad + (bh * dims.sq + i0) * dims.d, dims.d);
}

std::string runAttentionGrad(const KernelArgs &args) {
  visitFloat(args.inputs[0].dtype, [&](auto tag) {
    using T = decltype(tag);
    std::optional<BiasLayout> biasLayout;
    std::optional<MaskedTiles> maskedTiles;
    // Query, key, value, the output and its gradient: 0 * NaN is NaN in a
    // hidden tile's dS.
    AttentionProblem<T> p = problemOf<T>(args, 6, biasLayout, maskedTiles, {0, 1, 2, 3, 5});
    const AttentionDims &dims = p.dims;
    BackwardState<T> g;
    const T *output = args.inputs[3].as<T>();
    g.logsumexp = args.inputs[4].as<T>();
    g.outputGrad = args.inputs[5].as<T>();
    g.queryGrad = args.outputs[0].as<T>();
    g.keyGrad = args.outputs[1].as<T>();
    g.valueGrad = args.outputs[2].as<T>();
    std::fill(g.queryGrad, g.queryGrad + args.outputs[0].numElements(), T(0));
    std::fill(g.keyGrad, g.keyGrad + args.outputs[1].numElements(), T(0));
    std::fill(g.valueGrad, g.valueGrad + args.outputs[2].numElements(), T(0));

    int64_t queryRows = dims.batch * dims.queryHeads * dims.sq;
    if (queryRows == 0 || dims.sk == 0)
      return;
    g.rowDots.resize(queryRows);
    parallelFor(queryRows, dims.dv, [&](int64_t begin, int64_t end) {
      for (int64_t row = begin; row < end; ++row) {
        const T *o = output + row * dims.dv, *dO = g.outputGrad + row * dims.dv;
        T dot = 0;
#pragma omp simd reduction(+ : dot)
        for (int64_t c = 0; c < dims.dv; ++c)
          dot += o[c] * dO[c];
        g.rowDots[row] = dot;
      }
    });

    // Rows whose logsumexp lost its sum (HF padding): the sum again, over
    // every key the row sees, before the tiles split the row.
    int64_t heads = dims.batch * dims.queryHeads;
    bool anyLost = false;
    for (int64_t row = 0; row < queryRows && !anyLost; ++row)
      anyLost = logsumexpLosesTheSum(g.logsumexp[row]);
    if (anyLost) {
      g.rowScales.assign(size_t(queryRows), T(1));
      parallelFor(queryRows, dims.sk * dims.d, [&](int64_t begin, int64_t end) {
        std::vector<T> scores(static_cast<size_t>(kKeyBlock));
        for (int64_t row = begin; row < end; ++row) {
          T lse = g.logsumexp[row];
          if (!logsumexpLosesTheSum(lse))
            continue;
          int64_t bh = row / dims.sq, i = row % dims.sq;
          T sum = 0;
          for (int64_t j0 = 0; j0 < p.keyEnd(i, 1); j0 += kKeyBlock) {
            int64_t cols = std::min(kKeyBlock, dims.sk - j0);
            p.tileScores(bh, i, 1, j0, cols, scores.data());
            for (int64_t c = 0; c < cols; ++c)
              sum += expOf(scores[size_t(c)] - lse);
          }
          if (sum > T(0))
            g.rowScales[size_t(row)] = T(1) / sum;
        }
      });
    }

    int64_t queryBlocks = (dims.sq + kQueryBlock - 1) / kQueryBlock;
    int64_t keyBlocks = (dims.sk + kKeyBlock - 1) / kKeyBlock;
    int64_t meanKeys = p.causal ? std::max<int64_t>(dims.sk / 2, 1) : dims.sk;
    // Work of one query block against the keys it sees: five tile products.
    int64_t blockWork = blockCost(dims, meanKeys) * 5 / 2;
    int64_t kvPairs = dims.batch * dims.kvHeads;
    int threads = maxParallelChunks();
    // One task per key/value head computes everything with no conflicting
    // writes: dK and dV are its own, and so are the dQ of the query heads
    // that read it. With fewer such heads than threads (or a poor fit),
    // dK/dV tasks split the keys and a second pass computes dQ per query
    // block, recomputing the tiles (seven products instead of five).
    int64_t rounds = (kvPairs + threads - 1) / threads;
    bool perHead = threads == 1 || double(rounds * threads) / double(kvPairs) <= 1.4;
    if (perHead) {
      parallelTasks<BackwardScratch<T>>(
          kvPairs, blockWork * queryBlocks * dims.group(),
          [&](int64_t pair, BackwardScratch<T> &scratch) {
            int64_t b = pair / dims.kvHeads, kv = pair % dims.kvHeads;
            for (int64_t j0 = 0; j0 < dims.sk; j0 += kKeyBlock)
              for (int64_t h = kv * dims.group(); h < (kv + 1) * dims.group(); ++h)
                for (int64_t i0 = 0; i0 < dims.sq; i0 += kQueryBlock) {
                  int64_t rows = std::min(kQueryBlock, dims.sq - i0);
                  if (p.skipsTile(b * dims.queryHeads + h, i0, rows, j0))
                    continue;
                  backwardTile(p, g, b * dims.queryHeads + h, i0, rows, j0,
                               std::min(kKeyBlock, dims.sk - j0), true, true, scratch);
                }
          });
      return;
    }
    // Early key blocks are seen by the most query blocks under a causal
    // mask, late query blocks see the most keys: both go first.
    int64_t keyBlockWork = blockWork * queryBlocks / std::max<int64_t>(keyBlocks, 1);
    parallelTasks<BackwardScratch<T>>(
        kvPairs * keyBlocks, keyBlockWork * dims.group(),
        [&](int64_t item, BackwardScratch<T> &scratch) {
          int64_t pair = item % kvPairs, j0 = (item / kvPairs) * kKeyBlock;
          int64_t b = pair / dims.kvHeads, kv = pair % dims.kvHeads;
          for (int64_t h = kv * dims.group(); h < (kv + 1) * dims.group(); ++h)
            for (int64_t i0 = 0; i0 < dims.sq; i0 += kQueryBlock) {
              int64_t rows = std::min(kQueryBlock, dims.sq - i0);
              if (p.skipsTile(b * dims.queryHeads + h, i0, rows, j0))
                continue;
              backwardTile(p, g, b * dims.queryHeads + h, i0, rows, j0,
                           std::min(kKeyBlock, dims.sk - j0), true, false, scratch);
            }
        });
    parallelTasks<BackwardScratch<T>>(
        heads * queryBlocks, blockWork, [&](int64_t item, BackwardScratch<T> &scratch) {
          int64_t bh = item % heads, i0 = (queryBlocks - 1 - item / heads) * kQueryBlock;
          int64_t rows = std::min(kQueryBlock, dims.sq - i0);
          for (int64_t j0 = 0; j0 < p.keyEnd(i0, rows); j0 += kKeyBlock)
            if (!p.skipsTile(bh, i0, rows, j0))
              backwardTile(p, g, bh, i0, rows, j0, std::min(kKeyBlock, dims.sk - j0), false,
                           true, scratch);
        });
  });
  return {};
}

} // namespace

void addAttentionKernels(std::vector<Kernel> &kernels) {
  kernels.push_back({"attention", checkAttention, runAttention});
  kernels.push_back({"attention_grad", checkAttentionGrad, runAttentionGrad});
}

std::string checkBandMask(const Attributes &attributes) {
  if (std::string error = firstError({checkIntAttribute(attributes, "band_lower"),
                                      checkIntAttribute(attributes, "band_upper"),
                                      checkFloatAttribute(attributes, "band_fill")});
      !error.empty())
    return error;
  if ((attributes.has("band_lower") || attributes.has("band_upper")) &&
      !attributes.has("band_fill"))
    return "a band mask needs band_fill";
  if (attributes.has("band_lower") && attributes.has("band_upper") &&
      attributes.getInt("band_lower") > attributes.getInt("band_upper"))
    return "band_lower " + std::to_string(attributes.getInt("band_lower")) +
           " is above band_upper " + std::to_string(attributes.getInt("band_upper"));
  return {};
}

std::string checkAttentionMasks(const Attributes &attributes) {
  if (std::string error = firstError({checkBandMask(attributes), checkAttentionDropout(attributes),
                                      checkFloatAttribute(attributes, "softcap")});
      !error.empty())
    return error;
  if (attributes.has("softcap")) {
    double cap = attributes.getFloat("softcap");
    if (!(cap > 0.0) || !std::isfinite(cap))
      return "softcap " + std::to_string(cap) + " must be positive and finite";
  }
  return {};
}

std::string checkAttentionDropout(const Attributes &attributes) {
  if (std::string error = firstError({checkFloatAttribute(attributes, "dropout_ratio"),
                                      checkIntAttribute(attributes, "dropout_site"),
                                      checkIntAttribute(attributes, "dropout_micro_batch"),
                                      checkIntAttribute(attributes, "dropout_sequence_length"),
                                      checkIntAttribute(attributes, "dropout_head_ranks")});
      !error.empty())
    return error;
  if (!attributes.has("dropout_ratio")) {
    for (const char *name : {"dropout_site", "dropout_micro_batch", "dropout_sequence_length",
                             "dropout_head_ranks"})
      if (attributes.has(name))
        return std::string(name) + " needs dropout_ratio";
    return {};
  }
  double ratio = attributes.getFloat("dropout_ratio");
  if (!(ratio >= 0.0 && ratio <= 1.0))
    return "dropout_ratio " + std::to_string(ratio) + " is not in [0, 1]";
  if (!attributes.has("dropout_site") || attributes.getInt("dropout_site") < 0)
    return "dropout_ratio needs a non-negative dropout_site";
  if (attributes.getInt("dropout_micro_batch", 0) < 0)
    return "dropout_micro_batch must be non-negative";
  for (const char *name : {"dropout_sequence_length", "dropout_head_ranks"})
    if (attributes.has(name) && attributes.getInt(name) < 1)
      return std::string(name) + " must be positive";
  return {};
}

std::string checkQueryKeyValue(const TensorArg &query, const TensorArg &key,
                               const TensorArg &value, AttentionDims &dims) {
  if (std::string error =
          firstError({checkFloat(query, "query"), checkDType(key, query.dtype, "key"),
                      checkDType(value, query.dtype, "value")});
      !error.empty())
    return error;
  size_t rank = query.shape.size();
  if (rank < 3 || key.shape.size() != rank || value.shape.size() != rank)
    return "query, key and value must have one rank >= 3, got " + describe(query) + ", " +
           describe(key) + " and " + describe(value);
  dims.lead.assign(query.shape.begin(), query.shape.end() - 3);
  dims.batch = product(dims.lead);
  dims.queryHeads = query.shape[rank - 3];
  dims.sq = query.shape[rank - 2];
  dims.d = query.shape[rank - 1];
  dims.kvHeads = key.shape[rank - 3];
  dims.sk = key.shape[rank - 2];
  dims.dv = value.shape[rank - 1];
  Shape keyLead(key.shape.begin(), key.shape.end() - 3),
      valueLead(value.shape.begin(), value.shape.end() - 3);
  if (keyLead != dims.lead || valueLead != dims.lead || key.shape[rank - 1] != dims.d ||
      value.shape[rank - 3] != dims.kvHeads || value.shape[rank - 2] != dims.sk ||
      dims.kvHeads == 0 || dims.queryHeads % dims.kvHeads != 0)
    return "query " + formatShape(query.shape) + ", key " + formatShape(key.shape) +
           " and value " + formatShape(value.shape) +
           " do not fit [..., Hq, Sq, D], [..., Hkv, Sk, D], [..., Hkv, Sk, Dv] with Hq a "
           "multiple of Hkv";
  for (int64_t dim : {dims.sq, dims.sk, dims.d, dims.dv})
    if (dim > INT_MAX)
      return "attention dim " + std::to_string(dim) + " exceeds what BLAS can index";
  return {};
}

} // namespace sp::runtime::cpu
