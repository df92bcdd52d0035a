//===- PlanLoaderFuzzer.cpp - libFuzzer target for the plan loader --------===//
//
// Feeds arbitrary bytes to readPlanFile twice: as a whole file, and as the
// message of a plan whose header (and checksum) the target writes itself, so
// that the fuzzer reaches the protobuf parse behind the checksum. Either way
// the loader must parse or refuse in one line, never crash.
//
//===----------------------------------------------------------------------===//

#include "sp/plan/plan.pb.h"
#include "sp/runtime/PlanFile.h"

#include <cstdint>
#include <cstdio>
#include <string>
#include <unistd.h>

namespace {

/// A file name for this process that is removed when it exits (libFuzzer
/// ends with exit(), which runs static destructors).
struct ScratchFile : std::string {
  explicit ScratchFile(std::string name) : std::string(std::move(name)) {}
  ~ScratchFile() { std::remove(c_str()); }
};

void load(const std::string &path, const std::string &bytes) {
  FILE *file = std::fopen(path.c_str(), "wb");
  if (!file)
    return;
  std::fwrite(bytes.data(), 1, bytes.size(), file);
  std::fclose(file);
  sp::plan::Plan plan;
  std::string error;
  if (!sp::runtime::readPlanFile(path, plan, error) && error.find('\n') != std::string::npos)
    __builtin_trap(); // an error is one line
}

std::string littleEndian(uint64_t value, int bytes) {
  std::string out;
  for (int i = 0; i < bytes; ++i)
    out.push_back(char((value >> (8 * i)) & 0xff));
  return out;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const ScratchFile path(
      "/tmp/sp-fuzz-plan-" + std::to_string(::getpid()) + ".spplan");
  std::string bytes(reinterpret_cast<const char *>(data), size);
  load(path, bytes);
  sp::runtime::SidecarChecksum checksum;
  checksum.update(bytes.data(), bytes.size());
  load(path, std::string("SPPLAN\r\n") + littleEndian(sp::runtime::kPlanFormatVersion, 4) +
                 littleEndian(bytes.size(), 8) + littleEndian(checksum.value(), 8) + bytes);
  return 0;
}
