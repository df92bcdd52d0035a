//===- CpuKernels.cpp - the table of CPU kernels --------------------------===//

#include "CpuKernelSupport.h"

extern "C" void openblas_set_num_threads(int threads);

namespace sp::runtime {

namespace {

#ifdef SP_CPU_KERNELS_ARCH
// This file is compiled for the x86-64 baseline; the kernels are compiled for
// SP_CPU_KERNELS_ARCH and must not run on a CPU below it.
bool cpuRunsKernels() {
  static const bool supported = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports(SP_CPU_KERNELS_ARCH) != 0;
  }();
  return supported;
}

std::string unsupportedCpu(const KernelArgs &) {
  return "the CPU kernels were built for " SP_CPU_KERNELS_ARCH
         ", which this CPU does not support; rebuild with -DSP_CPU_ARCH=x86-64";
}

/// What findCpuKernel gives for every name on such a CPU.
const Kernel kUnsupportedCpuKernel = {"unsupported_cpu", unsupportedCpu, unsupportedCpu};
#else
bool cpuRunsKernels() { return true; }
#endif

/// Every CPU kernel, sorted by name; built once, on first use.
const std::vector<Kernel> &kernelTable() {
  static const std::vector<Kernel> table = [] {
    std::vector<Kernel> kernels;
    // Families whose kernels compute in float32 or float64 only (visitFloat)
    // are registered for those, unless a kernel names its own types (bf16
    // besides them); the others take any element type their check accepts.
    auto floatOnly = [&kernels](void (*add)(std::vector<Kernel> &)) {
      size_t first = kernels.size();
      add(kernels);
      for (size_t index = first; index < kernels.size(); ++index)
        if (kernels[index].elementTypes == 0)
          kernels[index].elementTypes = kFloatElementTypes;
    };
    cpu::addElementwiseKernels(kernels);
    floatOnly(cpu::addLinalgKernels);
    floatOnly(cpu::addNormalizationKernels);
    cpu::addReductionKernels(kernels);
    cpu::addDataMovementKernels(kernels);
    cpu::addIndexingKernels(kernels);
    floatOnly(cpu::addTrainingKernels);
    cpu::addScheduleKernels(kernels);
    cpu::addRandomKernels(kernels);
    cpu::addCollectiveKernels(kernels);
    floatOnly(cpu::addAttentionKernels);
    floatOnly(cpu::addBlockAttentionKernels);
    floatOnly(cpu::addRingAttentionKernels);
    floatOnly(cpu::addRmsNormKernels);
    std::sort(kernels.begin(), kernels.end(), [](const Kernel &a, const Kernel &b) {
      return std::string_view(a.name) < std::string_view(b.name);
    });
    return kernels;
  }();
  return table;
}
} // namespace

const Kernel *findCpuKernel(std::string_view name) {
#ifdef SP_CPU_KERNELS_ARCH
  if (!cpuRunsKernels())
    return &kUnsupportedCpuKernel;
#endif
  const std::vector<Kernel> &table = kernelTable();
  auto it = std::lower_bound(table.begin(), table.end(), name,
                             [](const Kernel &kernel, std::string_view key) {
                               return std::string_view(kernel.name) < key;
                             });
  if (it == table.end() || std::string_view(it->name) != name)
    return nullptr;
  return &*it;
}

void setCpuKernelThreads(int threads) {
  threads = std::max(threads, 1);
  omp_set_num_threads(threads);
  // The OpenMP build of OpenBLAS sizes its work from OpenMP, but keeps its
  // own cap from start-up too.
  openblas_set_num_threads(threads);
}

int cpuKernelThreads() { return omp_get_max_threads(); }

std::vector<std::string> cpuKernelNames() {
  std::vector<std::string> names;
  if (!cpuRunsKernels())
    return names;
  for (const Kernel &kernel : kernelTable())
    names.emplace_back(kernel.name);
  return names;
}

} // namespace sp::runtime
