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

namespace sp::semantics {

/// Philox's counter (four words) or its output block.
struct PhiloxBlock {
  uint32_t word[4];
};

/// Philox4x32 with 10 rounds, as Random123's philox4x32_R(10, ...).
SP_SEMANTICS_HOST_DEVICE constexpr PhiloxBlock philox4x32_10(PhiloxBlock counter, uint32_t key0,
                                                             uint32_t key1) {
  constexpr uint32_t kMultiplier0 = 0xD2511F53u, kMultiplier1 = 0xCD9E8D57u;
  constexpr uint32_t kWeyl0 = 0x9E3779B9u, kWeyl1 = 0xBB67AE85u;
  for (int round = 0; round < 10; ++round) {
    if (round > 0) {
      key0 += kWeyl0;
      key1 += kWeyl1;
    }
    uint64_t product0 = uint64_t(kMultiplier0) * counter.word[0];
    uint64_t product1 = uint64_t(kMultiplier1) * counter.word[2];
    counter = PhiloxBlock{{uint32_t(product1 >> 32) ^ counter.word[1] ^ key0, uint32_t(product1),
                           uint32_t(product0 >> 32) ^ counter.word[3] ^ key1,
                           uint32_t(product0)}};
  }
  return counter;
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

/// The Philox block of elements [4 * group, 4 * group + 4) of the whole
/// tensor (counter: group in the first two words, the site and the step in
/// the last two; key: the seed). Sites and steps are taken modulo 2^32.
SP_SEMANTICS_HOST_DEVICE constexpr PhiloxBlock dropoutBlock(const DropoutKey &key,
                                                            uint64_t group) {
  return philox4x32_10(
      PhiloxBlock{{uint32_t(group), uint32_t(group >> 32), uint32_t(key.site), uint32_t(key.step)}},
      uint32_t(key.seed), uint32_t(key.seed >> 32));
}

/// The 24-bit uniform integer of element `index` of the whole tensor, from
/// its group's block (dropoutBlock(key, index / 4)): word index % 4.
SP_SEMANTICS_HOST_DEVICE constexpr uint32_t dropoutUniformBits(const PhiloxBlock &block,
                                                               uint64_t index) {
  return block.word[index & 3] >> 8;
}
SP_SEMANTICS_HOST_DEVICE constexpr uint32_t dropoutUniformBits(const DropoutKey &key,
                                                               uint64_t index) {
  return dropoutUniformBits(dropoutBlock(key, index >> 2), index);
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

/// Whether element `index` is kept; `block` is its group's (kernels reuse
/// one block for four elements).
SP_SEMANTICS_HOST_DEVICE constexpr bool dropoutKeeps(const PhiloxBlock &block, uint64_t index,
                                                     uint32_t keepThreshold) {
  return dropoutUniformBits(block, index) < keepThreshold;
}
SP_SEMANTICS_HOST_DEVICE constexpr bool dropoutKeeps(const DropoutKey &key, uint64_t index,
                                                     uint32_t keepThreshold) {
  return dropoutKeeps(dropoutBlock(key, index >> 2), index, keepThreshold);
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
