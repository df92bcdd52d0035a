// bf16 matmul on the CPU: the runtime's path (widen both operands to f32,
// OpenBLAS sgemm, round the result to bf16 once) against oneDNN's bf16
// matmul (bf16 in and out, f32 accumulation; AVX-512 BF16 where the CPU has
// it), with f32 sgemm and oneDNN f32 for reference. docs/PERF.md records the
// numbers and the choice. Not part of the build (oneDNN is no dependency of
// sp); on Debian 12 with libdnnl-dev and libopenblas-openmp-dev:
//
//   g++ -O2 -march=x86-64-v3 -fopenmp -I semantics/include utils/bench/bf16_matmul.cpp \
//       -I/usr/include/x86_64-linux-gnu/openblas-openmp \
//       -L/usr/lib/x86_64-linux-gnu/openblas-openmp -lopenblas -ldnnl -o /tmp/bf16_matmul
//   OMP_NUM_THREADS=1 /tmp/bf16_matmul
//
// Prints, per shape M x K x N, the median of 7 timed runs of each path in
// GFLOP/s (2MNK flops), and the largest difference of oneDNN's bf16 result
// from the runtime's relative to the largest result (both accumulate in f32,
// in different orders, and round once).
#include "sp/Semantics/BFloat16.h"

#include <cblas.h>
#include <dnnl.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
#include <vector>

using sp::semantics::BFloat16;

static double medianSeconds(const std::function<void()> &body) {
  body(); // warm up
  std::vector<double> times;
  for (int i = 0; i < 7; ++i) {
    auto start = std::chrono::steady_clock::now();
    body();
    times.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
                        .count());
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

int main() {
  const int shapes[][3] = {{512, 64, 192},   {512, 256, 64},    {512, 64, 256},
                           {2048, 256, 1024}, {2048, 1024, 1024}, {4096, 1024, 4096}};
  dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  dnnl::stream stream(engine);
  std::printf("| M x K x N | f32 sgemm | bf16: widen + sgemm + round | oneDNN bf16 | oneDNN f32 "
              "| oneDNN vs runtime, max diff / max result |\n|---|---|---|---|---|---|\n");
  for (const auto &shape : shapes) {
    int m = shape[0], k = shape[1], n = shape[2];
    std::vector<float> a(size_t(m) * k), b(size_t(k) * n), c(size_t(m) * n);
    uint64_t state = 1;
    auto next = [&] {
      state = state * 6364136223846793005ull + 1442695040888963407ull;
      return float(double(state >> 11) / double(1ull << 53) * 2 - 1);
    };
    for (float &x : a) x = float(BFloat16(next()));
    for (float &x : b) x = float(BFloat16(next()));
    std::vector<BFloat16> a16(a.size()), b16(b.size()), c16(c.size()), d16(c.size());
    for (size_t i = 0; i < a.size(); ++i) a16[i] = BFloat16(a[i]);
    for (size_t i = 0; i < b.size(); ++i) b16[i] = BFloat16(b[i]);
    std::vector<float> wa(a.size()), wb(b.size()), wc(c.size());
    double flops = 2.0 * m * n * k;

    double sgemm = medianSeconds([&] {
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1, a.data(), k, b.data(),
                  n, 0, c.data(), n);
    });
    double widened = medianSeconds([&] {
      for (size_t i = 0; i < a.size(); ++i) wa[i] = float(a16[i]);
      for (size_t i = 0; i < b.size(); ++i) wb[i] = float(b16[i]);
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1, wa.data(), k,
                  wb.data(), n, 0, wc.data(), n);
      for (size_t i = 0; i < c.size(); ++i) c16[i] = BFloat16(wc[i]);
    });

    auto onednn = [&](dnnl::memory::data_type type, void *pa, void *pb, void *pc) {
      using tag = dnnl::memory::format_tag;
      dnnl::memory::desc ad({m, k}, type, tag::ab), bd({k, n}, type, tag::ab),
          cd({m, n}, type, tag::ab);
      dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(ad, bd, cd), engine);
      dnnl::matmul matmul(pd);
      dnnl::memory am(ad, engine, pa), bm(bd, engine, pb), cm(cd, engine, pc);
      return medianSeconds([&] {
        matmul.execute(stream, {{DNNL_ARG_SRC, am}, {DNNL_ARG_WEIGHTS, bm}, {DNNL_ARG_DST, cm}});
        stream.wait();
      });
    };
    double dnnlBf16 = onednn(dnnl::memory::data_type::bf16, a16.data(), b16.data(), d16.data());
    double dnnlF32 = onednn(dnnl::memory::data_type::f32, a.data(), b.data(), wc.data());

    float worst = 0, largest = 0;
    for (size_t i = 0; i < c16.size(); ++i) {
      worst = std::max(worst, std::abs(float(c16[i]) - float(d16[i])));
      largest = std::max(largest, std::abs(float(c16[i])));
    }
    std::printf("| %d x %d x %d | %.1f | %.1f | %.1f | %.1f | %.1e |\n", m, k, n,
                flops / sgemm / 1e9, flops / widened / 1e9, flops / dnnlBf16 / 1e9,
                flops / dnnlF32 / 1e9, double(worst / largest));
  }
  return 0;
}
