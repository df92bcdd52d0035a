//===- CpuKernelAttentionTest.cpp - fused attention and RMS norm kernels --===//
//
// attention and attention_grad against a naive float64 reference that
// materializes every score matrix (grouped-query heads, bias broadcasting,
// bottom-right causal masks, rows that see no key), over shapes that cross
// the kernels' tile boundaries; small cases also against finite differences.
// rms_norm and rms_norm_grad against a reference and finite differences.
//
//===----------------------------------------------------------------------===//

#include "CpuKernelTesting.h"

#include "sp/Semantics/Random.h"

#include <cmath>
#include <limits>

using namespace sp::runtime;
using namespace sp::runtime::testing;

namespace {

/// One attention problem: query [lead..., Hq, Sq, D], key/value [lead...,
/// Hkv, Sk, D/Dv], and an optional bias of shape `biasShape`.
struct AttentionCase {
  Shape lead;
  int64_t queryHeads, kvHeads, sq, sk, d, dv;
  bool causal = false;
  Shape biasShape; // empty: no bias
  double scale = 0.37;
  /// Dropout on the probabilities (0: none), drawn for site 5 with the
  /// context's seed and step (Graph_AttentionDropoutAttrs).
  double dropout = 0;
  ExecutionContext context;
  /// Logit soft-capping (0: none): scores become softcap * tanh(s / softcap).
  double softcap = 0;

  Shape with(std::initializer_list<int64_t> tail) const {
    Shape shape = lead;
    shape.insert(shape.end(), tail);
    return shape;
  }
  Shape queryShape() const { return with({queryHeads, sq, d}); }
  Shape keyShape() const { return with({kvHeads, sk, d}); }
  Shape valueShape() const { return with({kvHeads, sk, dv}); }
  Shape outputShape() const { return with({queryHeads, sq, dv}); }
  Shape logsumexpShape() const { return with({queryHeads, sq}); }
  int64_t batch() const {
    int64_t count = 1;
    for (int64_t dim : lead)
      count *= dim;
    return count;
  }
  Attributes attributes() const {
    Attributes attributes = attrs({{"scale", scale}, {"causal", causal}});
    if (dropout > 0) {
      attributes.set("dropout_ratio", dropout);
      attributes.set("dropout_site", int64_t(5));
    }
    if (softcap > 0)
      attributes.set("softcap", softcap);
    return attributes;
  }
  /// What graph.dropout multiplies probability (flat batch-and-head bh,
  /// query i, key j) of the [..., Hq, Sq, Sk] tensor by: 1 / (1 - p) or 0.
  double dropoutFactor(int64_t bh, int64_t i, int64_t j) const {
    if (dropout == 0)
      return 1;
    sp::semantics::DropoutKey key{context.seed, uint64_t(context.step), 5};
    uint64_t index = (uint64_t(bh * sq + i)) * uint64_t(sk) + uint64_t(j);
    return sp::semantics::dropoutKeeps(key, index, sp::semantics::dropoutKeepThreshold(dropout))
               ? sp::semantics::dropoutScale<double>(dropout)
               : 0.0;
  }
};

/// The bias element for (flat batch b, head h, row i, key j), broadcasting
/// `bias` (of `c.biasShape`) against [lead..., Hq, Sq, Sk].
double biasAt(const AttentionCase &c, const std::vector<double> &bias, int64_t b, int64_t h,
              int64_t i, int64_t j) {
  Shape full = c.with({c.queryHeads, c.sq, c.sk});
  Shape index(full.size());
  int64_t rest = b;
  for (size_t d = c.lead.size(); d-- > 0;) {
    index[d] = rest % c.lead[d];
    rest /= c.lead[d];
  }
  index[full.size() - 3] = h;
  index[full.size() - 2] = i;
  index[full.size() - 1] = j;
  size_t offset = full.size() - c.biasShape.size();
  int64_t at = 0;
  for (size_t d = 0; d < c.biasShape.size(); ++d)
    at = at * c.biasShape[d] + (c.biasShape[d] == 1 ? 0 : index[offset + d]);
  return bias[at];
}

/// Naive attention in float64: the scores of every (batch, head), their
/// softmax (zero for rows that see no key), and the backward pass from them.
struct Reference {
  std::vector<double> output, logsumexp, queryGrad, keyGrad, valueGrad;
};

Reference reference(const AttentionCase &c, const std::vector<double> &q,
                    const std::vector<double> &k, const std::vector<double> &v,
                    const std::vector<double> &bias, const std::vector<double> *outputGrad) {
  Reference r;
  int64_t heads = c.batch() * c.queryHeads, group = c.queryHeads / c.kvHeads;
  r.output.assign(heads * c.sq * c.dv, 0.0);
  r.logsumexp.assign(heads * c.sq, 0.0);
  r.queryGrad.assign(q.size(), 0.0);
  r.keyGrad.assign(k.size(), 0.0);
  r.valueGrad.assign(v.size(), 0.0);
  constexpr double kNegInf = -std::numeric_limits<double>::infinity();
  for (int64_t bh = 0; bh < heads; ++bh) {
    int64_t b = bh / c.queryHeads, h = bh % c.queryHeads;
    int64_t kv = b * c.kvHeads + h / group;
    for (int64_t i = 0; i < c.sq; ++i) {
      std::vector<double> s(c.sk), p(c.sk, 0.0), capDerivative(c.sk, 1.0);
      double max = kNegInf;
      for (int64_t j = 0; j < c.sk; ++j) {
        double dotQK = 0;
        for (int64_t e = 0; e < c.d; ++e)
          dotQK += q[(bh * c.sq + i) * c.d + e] * k[(kv * c.sk + j) * c.d + e];
        s[j] = c.scale * dotQK;
        if (c.softcap > 0) {
          double t = std::tanh(s[j] / c.softcap);
          s[j] = c.softcap * t;
          capDerivative[j] = 1 - t * t;
        }
        if (!c.biasShape.empty())
          s[j] += biasAt(c, bias, b, h, i, j);
        if (c.causal && j > i + c.sk - c.sq)
          s[j] = kNegInf;
        max = std::max(max, s[j]);
      }
      double sum = 0;
      if (max != kNegInf)
        for (int64_t j = 0; j < c.sk; ++j)
          sum += (p[j] = std::exp(s[j] - max));
      for (int64_t j = 0; j < c.sk && sum > 0; ++j)
        p[j] /= sum;
      r.logsumexp[bh * c.sq + i] = sum > 0 ? max + std::log(sum) : kNegInf;
      // Dropout after the softmax: O = (P * Z) V.
      std::vector<double> z(c.sk);
      for (int64_t j = 0; j < c.sk; ++j)
        z[j] = c.dropoutFactor(bh, i, j);
      for (int64_t j = 0; j < c.sk; ++j)
        for (int64_t e = 0; e < c.dv; ++e)
          r.output[(bh * c.sq + i) * c.dv + e] += p[j] * z[j] * v[(kv * c.sk + j) * c.dv + e];
      if (!outputGrad)
        continue;
      // dP = Z (dO V^T), dS = P (dP - sum(dP P)), dQ = scale dS K, dK = scale dS^T Q,
      // dV = (P Z)^T dO.
      const double *dO = outputGrad->data() + (bh * c.sq + i) * c.dv;
      std::vector<double> dp(c.sk, 0.0);
      double weighted = 0;
      for (int64_t j = 0; j < c.sk; ++j) {
        for (int64_t e = 0; e < c.dv; ++e)
          dp[j] += dO[e] * v[(kv * c.sk + j) * c.dv + e];
        dp[j] *= z[j];
        weighted += dp[j] * p[j];
      }
      for (int64_t j = 0; j < c.sk; ++j) {
        double ds = p[j] * (dp[j] - weighted) * capDerivative[j];
        for (int64_t e = 0; e < c.d; ++e) {
          r.queryGrad[(bh * c.sq + i) * c.d + e] += c.scale * ds * k[(kv * c.sk + j) * c.d + e];
          r.keyGrad[(kv * c.sk + j) * c.d + e] += c.scale * ds * q[(bh * c.sq + i) * c.d + e];
        }
        for (int64_t e = 0; e < c.dv; ++e)
          r.valueGrad[(kv * c.sk + j) * c.dv + e] += p[j] * z[j] * dO[e];
      }
    }
  }
  return r;
}

int64_t elementCount(const Shape &shape) {
  int64_t count = 1;
  for (int64_t dim : shape)
    count *= dim;
  return count;
}

/// Inputs of one case, deterministic per seed. With `maskSome`, every third
/// bias element is -inf (a padding mask).
template <typename T> struct AttentionInputs {
  Tensor query, key, value, bias, outputGrad;
  bool hasBias = false;

  /// With `paddedKeys` > 0, the first keys of every row get the float
  /// minimum, as Hugging Face's additive mask hides left padding.
  AttentionInputs(const AttentionCase &c, uint64_t seed, bool maskSome = false,
                  int64_t paddedKeys = 0) {
    auto random = [&](const Shape &shape, uint64_t offset) {
      return tensor<T>(shape, sequence<T>(elementCount(shape), -1, 1, seed + offset));
    };
    query = random(c.queryShape(), 0);
    key = random(c.keyShape(), 1);
    value = random(c.valueShape(), 2);
    outputGrad = random(c.outputShape(), 3);
    hasBias = !c.biasShape.empty();
    if (hasBias) {
      std::vector<T> values = sequence<T>(elementCount(c.biasShape), -2, 2, seed + 4);
      if (maskSome)
        for (size_t i = 0; i < values.size(); i += 3)
          values[i] = -std::numeric_limits<T>::infinity();
      int64_t columns = c.biasShape.back();
      for (size_t i = 0; i < values.size(); ++i)
        if (int64_t(i) % columns < paddedKeys)
          values[i] = std::numeric_limits<T>::lowest();
      bias = tensor<T>(c.biasShape, values);
    }
  }
  std::vector<Tensor *> forwardInputs() {
    std::vector<Tensor *> inputs = {&query, &key, &value};
    if (hasBias)
      inputs.push_back(&bias);
    return inputs;
  }
  std::vector<double> biasValues() const {
    return hasBias ? asDoubles(bias) : std::vector<double>();
  }
  static std::vector<double> asDoubles(const Tensor &tensor) {
    std::vector<T> values = tensor.values<T>();
    return std::vector<double>(values.begin(), values.end());
  }
};

/// The outputs of attention and attention_grad for one case.
struct KernelResults {
  Tensor output, logsumexp, queryGrad, keyGrad, valueGrad;
};

template <typename T> KernelResults runKernels(const AttentionCase &c, AttentionInputs<T> &in) {
  constexpr DType dtype = dtypeOf<T>();
  KernelResults out{Tensor(dtype, c.outputShape()), Tensor(dtype, c.logsumexpShape()),
                    Tensor(dtype, c.queryShape()), Tensor(dtype, c.keyShape()),
                    Tensor(dtype, c.valueShape())};
  KernelCall forward =
      call("attention", in.forwardInputs(), {&out.output, &out.logsumexp}, c.attributes());
  forward.context = &c.context;
  EXPECT_EQ(forward.run(), "");
  std::vector<Tensor *> inputs = {&in.query,   &in.key,        &in.value,
                                  &out.output, &out.logsumexp, &in.outputGrad};
  if (in.hasBias)
    inputs.push_back(&in.bias);
  KernelCall backward =
      call("attention_grad", inputs, {&out.queryGrad, &out.keyGrad, &out.valueGrad},
           c.attributes());
  backward.context = &c.context;
  EXPECT_EQ(backward.run(), "");
  return out;
}

/// Runs both kernels in T and compares every output with the reference.
template <typename T>
void expectMatchesReference(const AttentionCase &c, double tolerance, bool maskSome = false,
                            int64_t paddedKeys = 0) {
  AttentionInputs<T> in(c, 7, maskSome, paddedKeys);
  KernelResults out = runKernels(c, in);
  std::vector<double> outputGrad = in.asDoubles(in.outputGrad);
  Reference expected = reference(c, in.asDoubles(in.query), in.asDoubles(in.key),
                                 in.asDoubles(in.value), in.biasValues(), &outputGrad);
  expectNear(in.asDoubles(out.output), expected.output, tolerance, "output");
  std::vector<double> logsumexp = in.asDoubles(out.logsumexp);
  ASSERT_EQ(logsumexp.size(), expected.logsumexp.size());
  for (size_t i = 0; i < logsumexp.size(); ++i) {
    if (std::isinf(expected.logsumexp[i]))
      EXPECT_EQ(logsumexp[i], expected.logsumexp[i]) << "logsumexp element " << i;
    else
      EXPECT_NEAR(logsumexp[i], expected.logsumexp[i], tolerance) << "logsumexp element " << i;
  }
  expectNear(in.asDoubles(out.queryGrad), expected.queryGrad, tolerance, "query_grad");
  expectNear(in.asDoubles(out.keyGrad), expected.keyGrad, tolerance, "key_grad");
  expectNear(in.asDoubles(out.valueGrad), expected.valueGrad, tolerance, "value_grad");
}

//===----------------------------------------------------------------------===//
// attention against the reference
//===----------------------------------------------------------------------===//

TEST(CpuKernelAttentionTest, GroupedQueryWithBroadcastBias) {
  AttentionCase c{{2}, 4, 2, 5, 7, 3, 2};
  c.biasShape = {2, 1, 5, 7};
  expectMatchesReference<double>(c, 1e-12);
  expectMatchesReference<float>(c, 2e-5);
}

TEST(CpuKernelAttentionTest, CausalSquareAndRectangular) {
  for (auto [sq, sk] : {std::pair<int64_t, int64_t>{6, 6}, {4, 9}, {9, 4}}) {
    AttentionCase c{{1}, 2, 1, sq, sk, 4, 3};
    c.causal = true;
    SCOPED_TRACE("Sq " + std::to_string(sq) + " Sk " + std::to_string(sk));
    // Sq > Sk leaves the first query rows with no visible key: zero output.
    expectMatchesReference<double>(c, 1e-12);
  }
}

TEST(CpuKernelAttentionTest, NoLeadingDimsAndRowBias) {
  // Rank 3, and a bias [Sk] shared by every row (a key padding mask).
  AttentionCase c{{}, 3, 3, 4, 5, 2, 2};
  c.biasShape = {5};
  expectMatchesReference<double>(c, 1e-12);
}

TEST(CpuKernelAttentionTest, TilesAcrossBlockBoundaries) {
  // Sq and Sk cross the 64-row and 128-key tiles; one key/value head per
  // batch entry, so the backward pass splits keys over threads and computes
  // dQ in a second pass.
  AttentionCase c{{1}, 2, 1, 130, 300, 8, 5};
  c.biasShape = {130, 300};
  expectMatchesReference<double>(c, 1e-11);
  c.causal = true;
  c.biasShape = {};
  expectMatchesReference<double>(c, 1e-11);
  expectMatchesReference<float>(c, 5e-5);
  // Two key/value heads: one task per head computes everything.
  AttentionCase perHead{{2}, 4, 2, 100, 150, 8, 8};
  perHead.causal = true;
  expectMatchesReference<double>(perHead, 1e-11);
}

TEST(CpuKernelAttentionTest, MaskedKeysAndRowsThatSeeNothing) {
  // -inf bias on every third element; with Sq > Sk under causal masking
  // some rows see no key at all and must give zeros, not NaN.
  AttentionCase c{{2}, 2, 2, 7, 5, 3, 3};
  c.causal = true;
  c.biasShape = {2, 2, 7, 5};
  expectMatchesReference<double>(c, 1e-12, /*maskSome=*/true);
  expectMatchesReference<float>(c, 2e-5, /*maskSome=*/true);
}

TEST(CpuKernelAttentionTest, RowsAtTheFloatMinimumAreSoftmax) {
  // Causal with 3 keys of left padding at the float minimum: queries 0..2
  // see only masked keys, every score of their rows sits at the minimum,
  // and softmax spreads them evenly, as PyTorch does; at that magnitude the
  // logsumexp cannot hold log(count), so the kernels must not divide by it.
  // Sq > Sk and Sk over one key tile cover the tiled backward pass too.
  for (int64_t keys : {5, 70}) {
    SCOPED_TRACE(std::to_string(keys) + " keys");
    AttentionCase c{{2}, 2, 1, 7, keys, 3, 3};
    c.causal = true;
    c.sq = keys;
    c.biasShape = {1, 1, keys, keys};
    expectMatchesReference<double>(c, 1e-12, false, 3);
    expectMatchesReference<float>(c, 2e-5, false, 3);
  }
}

/// A causal mask in the bias, as Hugging Face builds it from attention_mask:
/// `hidden` above the diagonal, the random bias elsewhere; with `paddedKeys`,
/// the first keys hidden from every row (left padding) too.
template <typename T>
void maskCausallyInBias(const AttentionCase &c, AttentionInputs<T> &in, T hidden,
                        int64_t paddedKeys = 0) {
  T *bias = in.bias.template data<T>();
  for (int64_t i = 0; i < c.sq; ++i)
    for (int64_t j = 0; j < c.sk; ++j)
      if (j > i || j < paddedKeys)
        bias[i * c.sk + j] = hidden;
}

/// Every output of both kernels but the logsumexp of rows that see no key,
/// which is the mask's value there (the rows' softmax is even either way).
template <typename T = float>
std::vector<std::vector<T>> allOutputs(const KernelResults &out) {
  std::vector<std::vector<T>> values;
  for (const Tensor *tensor :
       {&out.output, &out.logsumexp, &out.queryGrad, &out.keyGrad, &out.valueGrad})
    values.push_back(tensor->values<T>());
  for (T &lse : values[1])
    if (lse < T(-1e30))
      lse = -std::numeric_limits<T>::infinity();
  return values;
}

TEST(CpuKernelAttentionTest, TilesTheBiasHidesAreSkippedExactly) {
  // A [1, 1, S, S] causal bias at the float minimum hides whole tiles (S
  // crosses the 64-row and 128-key tiles). Skipping them must give the
  // reference's results, and the very bits of the same bias at a quarter of
  // the minimum, which is above the skipping threshold yet still underflows
  // every hidden score's exp to 0: those tiles are then computed.
  for (int64_t padded : {0, 3}) {
    SCOPED_TRACE(std::to_string(padded) + " keys of left padding");
    AttentionCase c{{1}, 2, 1, 300, 300, 8, 5};
    c.biasShape = {1, 1, 300, 300};
    AttentionInputs<float> skipped(c, 5), computed(c, 5);
    maskCausallyInBias(c, skipped, std::numeric_limits<float>::lowest(), padded);
    maskCausallyInBias(c, computed, std::numeric_limits<float>::lowest() / 4, padded);
    KernelResults fast = runKernels(c, skipped), slow = runKernels(c, computed);
    EXPECT_EQ(allOutputs(fast), allOutputs(slow));
    std::vector<double> outputGrad = skipped.asDoubles(skipped.outputGrad);
    Reference expected =
        reference(c, skipped.asDoubles(skipped.query), skipped.asDoubles(skipped.key),
                  skipped.asDoubles(skipped.value), skipped.biasValues(), &outputGrad);
    expectNear(skipped.asDoubles(fast.output), expected.output, 5e-5, "output");
    expectNear(skipped.asDoubles(fast.queryGrad), expected.queryGrad, 5e-5, "query_grad");
    expectNear(skipped.asDoubles(fast.keyGrad), expected.keyGrad, 5e-5, "key_grad");
    expectNear(skipped.asDoubles(fast.valueGrad), expected.valueGrad, 5e-5, "value_grad");
  }
}

/// A band mask (band_lower/band_upper/band_fill) over a key bias [B, 1, 1,
/// Sk] is the [B, 1, Sq, Sk] bias it stands for: the fill outside the band,
/// the key bias inside. The kernels must give the very bits the dense bias
/// gives, also for rows that see no key (left padding at the float minimum,
/// whose softmax spreads over every key) and across tiles.
template <typename T> void expectBandIsItsBias(int64_t s, std::optional<int64_t> lower,
                                               T fill, int64_t paddedKeys) {
  AttentionCase banded{{2}, 2, 1, s, s, 8, 5};
  banded.biasShape = {2, 1, 1, s};
  AttentionCase dense = banded;
  dense.biasShape = {2, 1, s, s};
  AttentionInputs<T> keyBias(banded, 11), denseBias(dense, 11);
  T *keys = keyBias.bias.template data<T>();
  for (int64_t b = 0; b < 2; ++b)
    for (int64_t j = 0; j < s; ++j)
      if (j < paddedKeys || (b == 1 && j >= s - 2))
        keys[b * s + j] = fill;
  T *whole = denseBias.bias.template data<T>();
  for (int64_t b = 0; b < 2; ++b)
    for (int64_t i = 0; i < s; ++i)
      for (int64_t j = 0; j < s; ++j)
        whole[(b * s + i) * s + j] = j > i || (lower && j - i < *lower) ? fill : keys[b * s + j];
  Attributes attributes = attrs({{"scale", banded.scale},
                                  {"causal", false},
                                  {"band_upper", int64_t(0)},
                                  {"band_fill", double(fill)}});
  if (lower)
    attributes.set("band_lower", *lower);
  constexpr DType dtype = dtypeOf<T>();
  KernelResults got{Tensor(dtype, banded.outputShape()), Tensor(dtype, banded.logsumexpShape()),
                    Tensor(dtype, banded.queryShape()), Tensor(dtype, banded.keyShape()),
                    Tensor(dtype, banded.valueShape())};
  ASSERT_EQ(call("attention", keyBias.forwardInputs(), {&got.output, &got.logsumexp}, attributes)
                .run(),
            "");
  ASSERT_EQ(call("attention_grad",
                 {&keyBias.query, &keyBias.key, &keyBias.value, &got.output, &got.logsumexp,
                  &keyBias.outputGrad, &keyBias.bias},
                 {&got.queryGrad, &got.keyGrad, &got.valueGrad}, attributes)
                .run(),
            "");
  KernelResults want = runKernels(dense, denseBias);
  EXPECT_EQ(allOutputs<T>(got), allOutputs<T>(want));
}

TEST(CpuKernelAttentionTest, BandMaskIsTheBiasItStandsFor) {
  for (int64_t s : {7, 300})
    for (std::optional<int64_t> lower : {std::optional<int64_t>(), std::optional<int64_t>(-3)})
      for (int64_t padded : {0, 3}) {
        SCOPED_TRACE("S " + std::to_string(s) + (lower ? " window 4" : " causal") + ", " +
                     std::to_string(padded) + " keys of left padding");
        expectBandIsItsBias<float>(s, lower, std::numeric_limits<float>::lowest(), padded);
        expectBandIsItsBias<double>(s, lower, -std::numeric_limits<double>::infinity(), padded);
        expectBandIsItsBias<double>(s, lower, std::numeric_limits<double>::lowest(), padded);
      }
}

TEST(CpuKernelAttentionTest, NaNInATileTheBiasHidesStillPropagates) {
  // NaN plus the float minimum is NaN, as in the unfused softmax: a NaN key
  // that the causal bias hides from rows 0..199 still makes them NaN, so
  // tiles are not skipped when an input is not finite.
  AttentionCase c{{1}, 1, 1, 300, 300, 4, 3};
  c.biasShape = {1, 1, 300, 300};
  AttentionInputs<float> in(c, 9);
  maskCausallyInBias(c, in, std::numeric_limits<float>::lowest());
  in.key.data<float>()[200 * c.d] = std::numeric_limits<float>::quiet_NaN();
  KernelResults out = runKernels(c, in);
  std::vector<float> logsumexp = out.logsumexp.values<float>();
  for (int64_t row : {0, 63, 199, 200, 299})
    EXPECT_TRUE(std::isnan(logsumexp[size_t(row)])) << "row " << row;
}

/// Row i of attention's [1, 1, S, Dv] output and [1, 1, S] logsumexp: all NaN
/// (`nan`), or all finite.
template <typename T>
void expectRows(const KernelResults &out, int64_t dv, std::initializer_list<bool> nanRows) {
  std::vector<T> output = out.output.values<T>(), logsumexp = out.logsumexp.values<T>();
  int64_t row = 0;
  for (bool nan : nanRows) {
    SCOPED_TRACE("row " + std::to_string(row));
    EXPECT_EQ(std::isnan(logsumexp[row]), nan) << logsumexp[row];
    for (int64_t c = 0; c < dv; ++c)
      EXPECT_EQ(nan ? std::isnan(output[row * dv + c]) : std::isfinite(output[row * dv + c]),
                true)
          << output[row * dv + c];
    ++row;
  }
}

// NaN and Inf reach the output as they would through softmax and a matmul:
// a row is NaN where a score it sees is NaN or +inf (exp(inf - inf)); rows
// that do not see the bad key stay finite; a NaN value reaches its column.
template <typename T> void expectNaNPropagates() {
  AttentionCase c{{1}, 1, 1, 5, 5, 3, 2};
  c.causal = true;
  constexpr T kNaN = std::numeric_limits<T>::quiet_NaN();
  {
    SCOPED_TRACE("NaN in key 2: rows 2 to 4 see it");
    AttentionInputs<T> in(c, 3);
    in.key.template data<T>()[2 * c.d] = kNaN;
    expectRows<T>(runKernels(c, in), c.dv, {false, false, true, true, true});
  }
  {
    // Row 0's only visible score is NaN: the online maximum never sees a
    // number, yet the row must not read as "no visible key".
    SCOPED_TRACE("NaN in key 0: every row sees it");
    AttentionInputs<T> in(c, 3);
    in.key.template data<T>()[0] = kNaN;
    expectRows<T>(runKernels(c, in), c.dv, {true, true, true, true, true});
  }
  {
    SCOPED_TRACE("+inf in query 3");
    AttentionInputs<T> in(c, 3);
    in.query.template data<T>()[3 * c.d] = std::numeric_limits<T>::infinity();
    in.key.template data<T>()[0] = T(1); // so that score (3, 0) is +inf
    expectRows<T>(runKernels(c, in), c.dv, {false, false, false, true, false});
  }
  {
    // softmax(S) V multiplies value 1 into every row, row 0's zero
    // probability for it included: column 0 is NaN everywhere, column 1 not.
    SCOPED_TRACE("NaN in column 0 of value 1");
    AttentionInputs<T> in(c, 3);
    in.value.template data<T>()[1 * c.dv] = kNaN;
    KernelResults out = runKernels(c, in);
    std::vector<T> output = out.output.values<T>(), logsumexp = out.logsumexp.values<T>();
    for (int64_t row = 0; row < 5; ++row) {
      EXPECT_TRUE(std::isnan(output[row * c.dv])) << "row " << row;
      EXPECT_TRUE(std::isfinite(output[row * c.dv + 1])) << "row " << row;
      EXPECT_TRUE(std::isfinite(logsumexp[row])) << "row " << row;
    }
  }
}

TEST(CpuKernelAttentionTest, NaNAndInfPropagateAsThroughSoftmax) {
  expectNaNPropagates<float>();
  expectNaNPropagates<double>();
}

/// attention_grad against central differences of attention's output
/// weighted by the case's output gradient, in float64 (the case's context:
/// a dropout draws one mask throughout).
void expectGradMatchesFiniteDifferences(const AttentionCase &c, uint64_t seed) {
  AttentionInputs<double> in(c, seed);
  KernelResults out = runKernels(c, in);
  std::vector<double> weights = in.asDoubles(in.outputGrad);
  Tensor output(DType::Float64, c.outputShape()), logsumexp(DType::Float64, c.logsumexpShape());
  auto loss = [&] {
    KernelCall forward =
        call("attention", in.forwardInputs(), {&output, &logsumexp}, c.attributes());
    forward.context = &c.context;
    EXPECT_EQ(forward.run(), "");
    return dot(output.values<double>(), weights);
  };
  expectNear(out.queryGrad.values<double>(), finiteDifference(in.query, loss), 1e-8,
             "query_grad");
  expectNear(out.keyGrad.values<double>(), finiteDifference(in.key, loss), 1e-8, "key_grad");
  expectNear(out.valueGrad.values<double>(), finiteDifference(in.value, loss), 1e-8,
             "value_grad");
}

TEST(CpuKernelAttentionTest, GradMatchesFiniteDifferences) {
  AttentionCase c{{1}, 2, 1, 3, 4, 2, 3};
  c.causal = true;
  c.biasShape = {1, 1, 3, 4};
  expectGradMatchesFiniteDifferences(c, 11);
}

//===----------------------------------------------------------------------===//
// Dropout on the probabilities
//===----------------------------------------------------------------------===//

TEST(CpuKernelAttentionTest, DropoutDrawsTheUnfusedMask) {
  // The kernels' mask is graph.dropout's on the [B, Hq, S, S] probabilities,
  // forward and backward: grouped heads under a causal mask and a bias, then
  // across the 64-row and 128-key tiles (both backward schedules).
  AttentionCase c{{2}, 4, 2, 7, 7, 3, 2};
  c.causal = true;
  c.biasShape = {2, 1, 7, 7};
  c.dropout = 0.3;
  c.context.seed = 11;
  c.context.step = 3;
  expectMatchesReference<double>(c, 1e-12);
  expectMatchesReference<float>(c, 2e-5);
  AttentionCase tiles{{1}, 2, 1, 150, 150, 8, 5};
  tiles.causal = true;
  tiles.dropout = 0.1;
  tiles.context.seed = 2;
  expectMatchesReference<double>(tiles, 1e-11);
  AttentionCase perHead{{2}, 4, 2, 100, 100, 8, 8};
  perHead.dropout = 0.5;
  expectMatchesReference<double>(perHead, 1e-11);
  // The mask is drawn, not ignored: the same case without it differs.
  AttentionInputs<double> in(c, 7);
  KernelResults dropped = runKernels(c, in);
  AttentionCase kept = c;
  kept.dropout = 0;
  KernelResults whole = runKernels(kept, in);
  EXPECT_NE(dropped.output.values<double>(), whole.output.values<double>());
}

TEST(CpuKernelAttentionTest, DropoutGradMatchesFiniteDifferences) {
  AttentionCase c{{1}, 2, 1, 4, 4, 2, 3};
  c.causal = true;
  c.biasShape = {1, 1, 4, 4};
  c.dropout = 0.4;
  c.context.seed = 9;
  expectGradMatchesFiniteDifferences(c, 11);
}

TEST(CpuKernelAttentionTest, DropoutOfAShareOfHeadsOrOfTheBatch) {
  // Ulysses: rank r of groups of 2 holds head chunk r mod 2; micro-batch k
  // holds slice k of the batch. Each draws the whole tensor's mask there.
  AttentionCase whole{{2}, 4, 4, 6, 6, 3, 2};
  whole.causal = true;
  whole.dropout = 0.3;
  whole.context.seed = 4;
  AttentionInputs<double> in(whole, 3);
  KernelResults expected = runKernels(whole, in);
  std::vector<double> query = in.asDoubles(in.query), key = in.asDoubles(in.key),
                      value = in.asDoubles(in.value), output = in.asDoubles(expected.output);
  // Elements [first, first + count) of every `period` of `values`.
  auto take = [](const std::vector<double> &values, int64_t period, int64_t first,
                 int64_t count) {
    std::vector<double> taken;
    for (size_t start = 0; start < values.size(); start += size_t(period))
      taken.insert(taken.end(), values.begin() + int64_t(start) + first,
                   values.begin() + int64_t(start) + first + count);
    return taken;
  };
  int64_t head = 6 * 3, headOut = 6 * 2;
  for (int rank : {1, 3}) {
    SCOPED_TRACE("rank " + std::to_string(rank) + " of head groups of 2");
    AttentionCase share = whole;
    share.queryHeads = share.kvHeads = 2;
    share.context.rank = rank;
    Attributes attributes = share.attributes();
    attributes.set("dropout_head_ranks", int64_t(2));
    Tensor q = doubles(share.queryShape(), take(query, 4 * head, 2 * head, 2 * head));
    Tensor k = doubles(share.keyShape(), take(key, 4 * head, 2 * head, 2 * head));
    Tensor v = doubles(share.valueShape(), take(value, 4 * headOut, 2 * headOut, 2 * headOut));
    Tensor o(DType::Float64, share.outputShape()), lse(DType::Float64, share.logsumexpShape());
    KernelCall forward = call("attention", {&q, &k, &v}, {&o, &lse}, attributes);
    forward.context = &share.context;
    ASSERT_EQ(forward.run(), "");
    expectNear(o.values<double>(), take(output, 4 * headOut, 2 * headOut, 2 * headOut), 1e-12,
               "output");
  }
  AttentionCase slice = whole;
  slice.lead = {1};
  Attributes attributes = slice.attributes();
  attributes.set("dropout_micro_batch", int64_t(1));
  int64_t batchIn = 4 * head, batchOut = 4 * headOut;
  Tensor q = doubles(slice.queryShape(), take(query, 2 * batchIn, batchIn, batchIn));
  Tensor k = doubles(slice.keyShape(), take(key, 2 * batchIn, batchIn, batchIn));
  Tensor v = doubles(slice.valueShape(), take(value, 2 * batchOut, batchOut, batchOut));
  Tensor o(DType::Float64, slice.outputShape()), lse(DType::Float64, slice.logsumexpShape());
  KernelCall forward = call("attention", {&q, &k, &v}, {&o, &lse}, attributes);
  forward.context = &slice.context;
  ASSERT_EQ(forward.run(), "");
  expectNear(o.values<double>(), take(output, 2 * batchOut, batchOut, batchOut), 1e-12,
             "micro-batch 1's output");
}

TEST(CpuKernelAttentionTest, SoftCapIsTanhOfTheScores) {
  // Gemma 2's cap * tanh(s / cap) before the bias, forward and backward
  // (dS through 1 - tanh^2), with a cap near the scores' size so that tanh
  // bends them; across tiles, and with dropout.
  AttentionCase c{{2}, 4, 2, 7, 7, 3, 2};
  c.causal = true;
  c.biasShape = {2, 1, 7, 7};
  c.scale = 2.5;
  c.softcap = 1.5;
  expectMatchesReference<double>(c, 1e-12);
  expectMatchesReference<float>(c, 2e-5);
  AttentionCase tiles{{1}, 2, 1, 150, 300, 8, 5};
  tiles.scale = 1.7;
  tiles.softcap = 2.0;
  expectMatchesReference<double>(tiles, 1e-11);
  c.dropout = 0.2;
  expectMatchesReference<double>(c, 1e-12);
  // The cap bends the result: without it the output differs.
  AttentionInputs<double> in(c, 7);
  KernelResults capped = runKernels(c, in);
  AttentionCase uncapped = c;
  uncapped.softcap = 0;
  EXPECT_NE(capped.output.values<double>(), runKernels(uncapped, in).output.values<double>());
}

TEST(CpuKernelAttentionTest, SoftCapGradMatchesFiniteDifferences) {
  AttentionCase c{{1}, 2, 1, 3, 4, 2, 3};
  c.causal = true;
  c.scale = 2.0;
  c.softcap = 1.2;
  expectGradMatchesFiniteDifferences(c, 13);
}

TEST(CpuKernelAttentionTest, RejectsDropoutItCannotPlace) {
  Tensor q(DType::Float32, {1, 1, 4, 2}), k(DType::Float32, {1, 1, 5, 2}),
      v(DType::Float32, {1, 1, 5, 2}), out(DType::Float32, {1, 1, 4, 2}),
      lse(DType::Float32, {1, 1, 4});
  EXPECT_EQ(call("attention", {&q, &k, &v}, {&out, &lse},
                 attrs({{"scale", 1.0}, {"dropout_ratio", 0.1}, {"dropout_site", int64_t(0)}}))
                .check(),
            "dropout on the probabilities needs as many queries as keys, got 4 and 5");
  Tensor square(DType::Float32, {1, 1, 5, 2}), squareOut(DType::Float32, {1, 1, 5, 2}),
      squareLse(DType::Float32, {1, 1, 5});
  EXPECT_EQ(call("attention", {&square, &k, &v}, {&squareOut, &squareLse},
                 attrs({{"scale", 1.0}, {"dropout_ratio", 1.5}, {"dropout_site", int64_t(0)}}))
                .check(),
            "dropout_ratio 1.500000 is not in [0, 1]");
  EXPECT_EQ(call("attention", {&square, &k, &v}, {&squareOut, &squareLse},
                 attrs({{"scale", 1.0}, {"dropout_ratio", 0.1}}))
                .check(),
            "dropout_ratio needs a non-negative dropout_site");
  EXPECT_EQ(call("attention", {&square, &k, &v}, {&squareOut, &squareLse},
                 attrs({{"scale", 1.0}, {"dropout_site", int64_t(2)}}))
                .check(),
            "dropout_site needs dropout_ratio");
  EXPECT_EQ(call("attention", {&square, &k, &v}, {&squareOut, &squareLse},
                 attrs({{"scale", 1.0}, {"softcap", -1.0}}))
                .check(),
            "softcap -1.000000 must be positive and finite");
}

TEST(CpuKernelAttentionTest, RejectsOperandsThatDoNotFit) {
  Attributes attributes = attrs({{"scale", 1.0}});
  Tensor q(DType::Float32, {1, 3, 4, 2}), k(DType::Float32, {1, 2, 5, 2}),
      v(DType::Float32, {1, 2, 5, 2}), out(DType::Float32, {1, 3, 4, 2}),
      lse(DType::Float32, {1, 3, 4});
  EXPECT_EQ(call("attention", {&q, &k, &v}, {&out, &lse}, attributes).check(),
            "query 1x3x4x2, key 1x2x5x2 and value 1x2x5x2 do not fit [..., Hq, Sq, D], [..., "
            "Hkv, Sk, D], [..., Hkv, Sk, Dv] with Hq a multiple of Hkv");
  Tensor q2(DType::Float32, {1, 2, 4, 2}), out2(DType::Float32, {1, 2, 4, 2}),
      lse2(DType::Float32, {1, 2, 4}), bias(DType::Float32, {3, 5});
  EXPECT_EQ(call("attention", {&q2, &k, &v, &bias}, {&out2, &lse2}, attributes).check(),
            "bias float32 3x5 does not broadcast to the scores 1x2x4x5");
  EXPECT_EQ(call("attention", {&q2, &k, &v}, {&out2, &lse2}).check(),
            "attribute 'scale' is required");
}

//===----------------------------------------------------------------------===//
// rms_norm
//===----------------------------------------------------------------------===//

TEST(CpuKernelRmsNormTest, MatchesReference) {
  std::vector<double> x = sequence<double>(24, -2, 3, 51),
                      g = sequence<double>(12, 0.5, 1.5, 52);
  Tensor input = doubles({2, 3, 4}, x), scale = doubles({3, 4}, g);
  Tensor result(DType::Float64, {2, 3, 4});
  Attributes attributes = attrs({{"axis", int64_t(1)}, {"epsilon", 1e-5}});
  ASSERT_EQ(call("rms_norm", {&input, &scale}, {&result}, attributes).run(), "");
  std::vector<double> expected(24);
  for (int64_t r = 0; r < 2; ++r) {
    double squares = 0;
    for (int64_t j = 0; j < 12; ++j)
      squares += x[r * 12 + j] * x[r * 12 + j];
    double inverse = 1 / std::sqrt(squares / 12 + 1e-5);
    for (int64_t j = 0; j < 12; ++j)
      expected[r * 12 + j] = x[r * 12 + j] * inverse * g[j];
  }
  expectNear(result.values<double>(), expected, 1e-14, "rms_norm f64");

  Tensor input32 = tensor<float>({2, 3, 4}, std::vector<float>(x.begin(), x.end()));
  Tensor scale32 = tensor<float>({3, 4}, std::vector<float>(g.begin(), g.end()));
  Tensor result32(DType::Float32, {2, 3, 4});
  ASSERT_EQ(call("rms_norm", {&input32, &scale32}, {&result32}, attributes).run(), "");
  std::vector<float> values = result32.values<float>();
  expectNear(std::vector<double>(values.begin(), values.end()), expected, 1e-5, "rms_norm f32");

  Tensor wrongScale(DType::Float64, {4});
  EXPECT_EQ(call("rms_norm", {&input, &wrongScale}, {&result}, attributes).check(),
            "scale must have shape 3x4, got float64 4");
}

TEST(CpuKernelRmsNormTest, GradMatchesFiniteDifferences) {
  Tensor x = doubles({3, 5}, sequence<double>(15, -2, 3, 61));
  Tensor g = doubles({5}, sequence<double>(5, 0.5, 1.5, 62));
  Tensor w = doubles({3, 5}, sequence<double>(15, -1, 1, 63));
  Tensor y(DType::Float64, {3, 5});
  Attributes attributes = attrs({{"axis", int64_t(-1)}, {"epsilon", 1e-6}});
  auto loss = [&] {
    EXPECT_EQ(call("rms_norm", {&x, &g}, {&y}, attributes).run(), "");
    return dot(y.values<double>(), w.values<double>());
  };
  std::vector<double> dxExpected = finiteDifference(x, loss);
  std::vector<double> dgExpected = finiteDifference(g, loss);
  Tensor dx(DType::Float64, {3, 5}), dg(DType::Float64, {5});
  ASSERT_EQ(call("rms_norm_grad", {&x, &g, &w}, {&dx, &dg}, attributes).run(), "");
  expectNear(dx.values<double>(), dxExpected, 1e-8, "input_grad");
  expectNear(dg.values<double>(), dgExpected, 1e-8, "scale_grad");
}

} // namespace
