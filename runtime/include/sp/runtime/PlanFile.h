//===- PlanFile.h - reading and writing plan files ----------------*- C++ -*-===//
//
// The on-disk form of runtime/proto/plan.proto: a fixed header (magic, format
// version, payload length, payload checksum) and the serialized Plan, plus the
// weights sidecar, which the Plan names with its size and checksum.
// sp-compile writes plans through writePlanFiles and the runtime reads them
// through readPlanFile, so both sides agree on one implementation.
//
//===----------------------------------------------------------------------===//
#ifndef SP_RUNTIME_PLANFILE_H
#define SP_RUNTIME_PLANFILE_H

#include <cstddef>
#include <cstdint>
#include <string>

namespace sp::plan {
class Plan;
} // namespace sp::plan

namespace sp::runtime {

/// Bumped whenever a plan written by one version cannot be read by another.
/// Version 2 added the checksum of the plan message to the header.
constexpr uint32_t kPlanFormatVersion = 2;

/// Streaming 64-bit checksum of the weights sidecar and of the plan message.
/// Any single flipped bit changes it (each byte enters the sum linearly over a
/// prime field).
class SidecarChecksum {
public:
  void update(const void *data, size_t size);
  uint64_t value() const;

private:
  uint64_t state_ = 0xcbf29ce484222325ull;
  uint64_t length_ = 0;
};

/// Writes `plan` to `path` and `sidecar` to `path + ".weights"`, each through
/// a temporary file and a rename, after filling in plan.weights (file name,
/// size, checksum). A device or FIFO at `path` (/dev/null) is written in place,
/// and its sidecar only where `path + ".weights"` already exists. On failure
/// returns false, sets `error` to one line, and leaves any previous files in
/// place.
bool writePlanFiles(const std::string &path, sp::plan::Plan &plan,
                    const void *sidecar, size_t sidecarSize, std::string &error);

/// Reads, verifies against its checksum, and parses the plan file at `path`
/// (header and message only; the sidecar is checked when a session loads it). On failure returns false and
/// sets `error` to one line naming the file and what is wrong.
bool readPlanFile(const std::string &path, sp::plan::Plan &plan, std::string &error);

} // namespace sp::runtime

#endif // SP_RUNTIME_PLANFILE_H
