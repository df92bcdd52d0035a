//===- Random.h - counter-based random numbers and dropout -------*- C++ -*-===//
//
// Randomness in sp is a function of position: Philox4x32-10 (Salmon et al.,
// "Parallel random numbers: as easy as 1, 2, 3", SC'11; the generator behind
// cuRAND's and PyTorch's CUDA dropout) maps a 128-bit counter and a 64-bit
// key to four 32-bit words with no state in between. Dropout keys it by the
// run's seed, the step, the dropout site and each element's index in the
// whole (unsharded) tensor, so a mask is the same on any rank count, under
// any strategy, on any device and after a resume.
//
// Plain integer code (no library calls, no exceptions), so that a CUDA kernel
// can include it as the CPU kernels and the compiler do.
//
//===----------------------------------------------------------------------===//
#ifndef SP_SEMANTICS_RANDOM_H
#define SP_SEMANTICS_RANDOM_H

#include <cstdint>

#if defined(__CUDACC__)
#define SP_SEMANTICS_HOST_DEVICE __host__ __device__
#else
#define SP_SEMANTICS_HOST_DEVICE
#endif

// GCC unrolls a loop over a constant count of lanes completely before it
// would vectorize it; kept a loop, it becomes vector multiplies (2.5x faster
// dropout on AVX2).
#if defined(__GNUC__) && !defined(__clang__) && !defined(__CUDACC__)
#define SP_SEMANTICS_VECTORIZED_LOOP _Pragma("GCC unroll 1")
#else
#define SP_SEMANTICS_VECTORIZED_LOOP
#endif

namespace sp::semantics {

/// Philox's counter (four words) or its output block.
struct PhiloxBlock {
  uint32_t word[4];
};

/// Philox4x32 with 10 rounds, as Random123's philox4x32_R(10, ...), of
/// `Lanes` counters side by side (word w of lane l in words[w][l]), in place:
/// plain loops over the lanes, which CPU compilers vectorize.
template <int Lanes>
SP_SEMANTICS_HOST_DEVICE constexpr void philox4x32_10(uint32_t (&words)[4][Lanes],
                                                      uint32_t key0, uint32_t key1) {
  constexpr uint32_t kMultiplier0 = 0xD2511F53u, kMultiplier1 = 0xCD9E8D57u;
  constexpr uint32_t kWeyl0 = 0x9E3779B9u, kWeyl1 = 0xBB67AE85u;
  for (int round = 0; round < 10; ++round) {
    if (round > 0) {
      key0 += kWeyl0;
      key1 += kWeyl1;
    }
    // The high and low halves of the 64-bit products written apart: the
    // forms (high-part multiply, 32-bit multiply) GCC vectorizes.
    SP_SEMANTICS_VECTORIZED_LOOP
    for (int lane = 0; lane < Lanes; ++lane) {
      uint32_t word0 = words[0][lane], word1 = words[1][lane];
      uint32_t word2 = words[2][lane], word3 = words[3][lane];
      words[0][lane] = uint32_t((uint64_t(kMultiplier1) * word2) >> 32) ^ word1 ^ key0;
      words[1][lane] = kMultiplier1 * word2;
      words[2][lane] = uint32_t((uint64_t(kMultiplier0) * word0) >> 32) ^ word3 ^ key1;
      words[3][lane] = kMultiplier0 * word0;
    }
  }
}

/// One counter's block.
SP_SEMANTICS_HOST_DEVICE constexpr PhiloxBlock philox4x32_10(PhiloxBlock counter, uint32_t key0,
                                                             uint32_t key1) {
  uint32_t words[4][1] = {{counter.word[0]}, {counter.word[1]}, {counter.word[2]},
                          {counter.word[3]}};
  philox4x32_10<1>(words, key0, key1);
  return PhiloxBlock{{words[0][0], words[1][0], words[2][0], words[3][0]}};
}

//===----------------------------------------------------------------------===//
// Dropout
//===----------------------------------------------------------------------===//

/// What one dropout mask is drawn from. `seed` is the run's (sp-run --seed),
/// `step` the steps completed before this one, `site` the dropout op's
/// stable id (graph.dropout's `site`), so that two sites draw independent
/// masks and a step's backward pass redraws its forward mask.
struct DropoutKey {
  uint64_t seed = 0;
  uint64_t step = 0;
  uint64_t site = 0;
};

/// The Philox blocks of elements [4 * group, 4 * group + 4) of the whole
/// tensor for groups firstGroup, firstGroup + 1, ... in lanes 0, 1, ...
/// (counter: the group in the first two words, the site and the step in the
/// last two; key: the seed). Sites and steps are taken modulo 2^32.
template <int Lanes>
SP_SEMANTICS_HOST_DEVICE constexpr void dropoutBlocks(const DropoutKey &key, uint64_t firstGroup,
                                                      uint32_t (&words)[4][Lanes]) {
  for (int lane = 0; lane < Lanes; ++lane) {
    uint64_t group = firstGroup + uint64_t(lane);
    words[0][lane] = uint32_t(group);
    words[1][lane] = uint32_t(group >> 32);
    words[2][lane] = uint32_t(key.site);
    words[3][lane] = uint32_t(key.step);
  }
  philox4x32_10<Lanes>(words, uint32_t(key.seed), uint32_t(key.seed >> 32));
}

SP_SEMANTICS_HOST_DEVICE constexpr PhiloxBlock dropoutBlock(const DropoutKey &key,
                                                            uint64_t group) {
  uint32_t words[4][1] = {};
  dropoutBlocks<1>(key, group, words);
  return PhiloxBlock{{words[0][0], words[1][0], words[2][0], words[3][0]}};
}

/// The 24-bit uniform integer of element `index` of the whole tensor: the
/// top bits of word index % 4 of its group's block (dropoutBlock(key,
/// index / 4)).
SP_SEMANTICS_HOST_DEVICE constexpr uint32_t dropoutUniformBits(uint32_t word) {
  return word >> 8;
}
SP_SEMANTICS_HOST_DEVICE constexpr uint32_t dropoutUniformBits(const DropoutKey &key,
                                                               uint64_t index) {
  return dropoutUniformBits(dropoutBlock(key, index >> 2).word[index & 3]);
}

/// An element is kept when its uniform u = bits / 2^24 in [0, 1) is below
/// the keep probability 1 - ratio (PyTorch's bernoulli_(1 - p)): when its
/// bits are below this threshold. Ratio 0 keeps everything, ratio 1 nothing.
SP_SEMANTICS_HOST_DEVICE constexpr uint32_t dropoutKeepThreshold(double ratio) {
  double keep = (1.0 - ratio) * double(1u << 24);
  if (!(keep > 0.0))
    return 0;
  if (keep >= double(1u << 24))
    return 1u << 24;
  uint32_t whole = uint32_t(keep);
  return double(whole) < keep ? whole + 1 : whole; // ceil: u < keep exactly
}

/// Whether the element whose block word is `word` is kept (kernels draw the
/// blocks of many elements at once with dropoutBlocks).
SP_SEMANTICS_HOST_DEVICE constexpr bool dropoutKeeps(uint32_t word, uint32_t keepThreshold) {
  return dropoutUniformBits(word) < keepThreshold;
}
SP_SEMANTICS_HOST_DEVICE constexpr bool dropoutKeeps(const DropoutKey &key, uint64_t index,
                                                     uint32_t keepThreshold) {
  return dropoutUniformBits(key, index) < keepThreshold;
}

/// What a kept element is multiplied by, in T as PyTorch computes it
/// (`noise.div_(1 - p)` on a tensor of T: one over 1 - p rounded to T).
/// Dropped elements are multiplied by zero, so NaN and infinity stay NaN
/// as in `input * noise`; ratio 1 makes every element `x * 0`.
template <typename T> SP_SEMANTICS_HOST_DEVICE constexpr T dropoutScale(double ratio) {
  return T(1) / T(1.0 - ratio);
}

} // namespace sp::semantics

#endif // SP_SEMANTICS_RANDOM_H
