//===- PlanFile.cpp - reading and writing plan files ----------------------===//

#include "sp/runtime/PlanFile.h"
#include "sp/runtime/Files.h"

#include "sp/plan/plan.pb.h"

#include <google/protobuf/stubs/logging.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

namespace sp::runtime {

namespace {
constexpr char kMagic[8] = {'S', 'P', 'P', 'L', 'A', 'N', '\r', '\n'};
// Magic, format version (4 bytes), payload length (8), payload checksum (8).
constexpr size_t kVersionEnd = 12;
constexpr size_t kHeaderSize = 28;

// The checksum is a polynomial hash over the prime field of 2^61 - 1: the
// h-th little-endian 4-byte piece of the file is weighted by kBase^(h+1) and
// the weighted pieces are summed. Each byte enters linearly, so a piece split
// across update() calls adds up to the same value; over a prime field, two
// different files collide only when kBase is a root of their difference (a
// polynomial of degree below size/4), which no structured corruption such as
// flipped sign bits makes likely. Four lanes with independent multiply chains
// and products summed in 128 bits before reduction keep it at memory speed.
constexpr uint64_t kPrime = (uint64_t(1) << 61) - 1;
constexpr uint64_t kBase = 0x1f3d5b79a2c4e687ull % kPrime;
using Wide = unsigned __int128;

/// `x` modulo kPrime, fully reduced.
uint64_t reduce(Wide x) {
  x = (x & kPrime) + (x >> 61);
  x = (x & kPrime) + (x >> 61);
  x = (x & kPrime) + (x >> 61);
  uint64_t r = uint64_t(x);
  return r >= kPrime ? r - kPrime : r;
}

/// a * b modulo kPrime for a, b below 2^62; the result is below 2^61 + 4,
/// reduced enough to multiply again.
uint64_t multiply(uint64_t a, uint64_t b) {
  Wide x = Wide(a) * b;
  uint64_t r = (uint64_t(x) & kPrime) + uint64_t(x >> 61);
  return (r & kPrime) + (r >> 61);
}

uint64_t power(uint64_t base, uint64_t exponent) {
  uint64_t result = 1;
  while (exponent) {
    if (exponent & 1)
      result = multiply(result, base);
    base = multiply(base, base);
    exponent >>= 1;
  }
  return result;
}

uint64_t loadLittleEndian64(const unsigned char *bytes) {
  uint64_t value;
  std::memcpy(&value, bytes, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  value = __builtin_bswap64(value);
#endif
  return value;
}

void putLittleEndian(char *out, uint64_t value, int bytes) {
  for (int i = 0; i < bytes; ++i)
    out[i] = char((value >> (8 * i)) & 0xff);
}

uint64_t getLittleEndian(const char *in, int bytes) {
  uint64_t value = 0;
  for (int i = bytes - 1; i >= 0; --i)
    value = (value << 8) | static_cast<unsigned char>(in[i]);
  return value;
}
} // namespace

void SidecarChecksum::update(const void *data, size_t size) {
  const auto *bytes = static_cast<const unsigned char *>(data);
  uint64_t position = length_;
  length_ += size;
  uint64_t weight = power(kBase, position / 4 + 1);
  Wide sum = state_;

  // Bytes up to the next 4-byte boundary.
  for (; size && position % 4; ++bytes, --size, ++position) {
    sum += Wide(uint64_t(*bytes) << (8 * (position % 4))) * weight;
    if (position % 4 == 3)
      weight = multiply(weight, kBase);
  }
  // 16 bytes (four pieces) at a time. Each product is below 2^94; reducing
  // every 2^20 rounds keeps the 128-bit sums far from overflowing.
  if (size >= 16) {
    const uint64_t stride = power(kBase, 4);
    uint64_t weights[4] = {weight, multiply(weight, kBase), 0, 0};
    weights[2] = multiply(weights[1], kBase);
    weights[3] = multiply(weights[2], kBase);
    while (size >= 16) {
      Wide sums[4] = {0, 0, 0, 0};
      size_t rounds = std::min<size_t>(size / 16, size_t(1) << 20);
      for (size_t round = 0; round < rounds; ++round, bytes += 16) {
        uint64_t first = loadLittleEndian64(bytes), second = loadLittleEndian64(bytes + 8);
        sums[0] += Wide(first & 0xffffffffu) * weights[0];
        sums[1] += Wide(first >> 32) * weights[1];
        sums[2] += Wide(second & 0xffffffffu) * weights[2];
        sums[3] += Wide(second >> 32) * weights[3];
        for (uint64_t &lane : weights)
          lane = multiply(lane, stride);
      }
      size -= rounds * 16;
      position += rounds * 16;
      sum =
          reduce(sum) + Wide(reduce(sums[0])) + reduce(sums[1]) + reduce(sums[2]) + reduce(sums[3]);
    }
    weight = weights[0];
  }
  // Whole pieces, then a partial last piece that a later update() continues.
  for (; size >= 4; bytes += 4, size -= 4, position += 4) {
    uint32_t piece = uint32_t(bytes[0]) | uint32_t(bytes[1]) << 8 | uint32_t(bytes[2]) << 16 |
                     uint32_t(bytes[3]) << 24;
    sum += Wide(piece) * weight;
    weight = multiply(weight, kBase);
  }
  for (; size; ++bytes, --size, ++position)
    sum += Wide(uint64_t(*bytes) << (8 * (position % 4))) * weight;
  state_ = reduce(sum);
}

uint64_t SidecarChecksum::value() const {
  // splitmix64's finalizer over the sum and the length, so that appended
  // zero bytes change the value too.
  uint64_t x = reduce(state_) ^ (length_ * 0xbf58476d1ce4e5b9ull + 0x94d049bb133111ebull);
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  x ^= x >> 31;
  return x;
}

bool writePlanFiles(const std::string &path, sp::plan::Plan &plan, const void *sidecar,
                    size_t sidecarSize, std::string &error) {
  std::string sidecarPath = path + ".weights";
  SidecarChecksum checksum;
  checksum.update(sidecar, sidecarSize);
  plan.mutable_weights()->set_file(std::filesystem::path(sidecarPath).filename().string());
  plan.mutable_weights()->set_size(sidecarSize);
  plan.mutable_weights()->set_checksum(checksum.value());

  size_t payloadSize = plan.ByteSizeLong();
  if (payloadSize > size_t(INT_MAX)) {
    error = path + ": the plan message is " + std::to_string(payloadSize) +
            " bytes, over protobuf's 2 GiB limit";
    return false;
  }
  std::string payload;
  if (!plan.SerializeToString(&payload)) {
    error = path + ": cannot serialize the plan";
    return false;
  }
  char header[kHeaderSize];
  std::memcpy(header, kMagic, sizeof(kMagic));
  putLittleEndian(header + 8, kPlanFormatVersion, 4);
  putLittleEndian(header + 12, payload.size(), 8);
  SidecarChecksum payloadChecksum;
  payloadChecksum.update(payload.data(), payload.size());
  putLittleEndian(header + 20, payloadChecksum.value(), 8);
  auto writePlan = [&](std::ostream &out) {
    out.write(header, kHeaderSize);
    out.write(payload.data(), std::streamsize(payload.size()));
    return true;
  };
  auto writeSidecar = [&](std::ostream &out) {
    out.write(static_cast<const char *>(sidecar), std::streamsize(sidecarSize));
    return true;
  };

  // A device or FIFO (`-o /dev/null` for a report only) is written in place;
  // its sidecar only where one already exists, since a device has no folder
  // to put a new file beside it.
  switch (classifyOutputPath(path, error)) {
  case OutputKind::Invalid:
    return false;
  case OutputKind::Special: {
    std::error_code code;
    if (std::filesystem::exists(sidecarPath, code) &&
        !writeFileAtomically(sidecarPath, writeSidecar, error))
      return false;
    return writeFileAtomically(path, writePlan, error);
  }
  case OutputKind::RegularFile:
    break;
  }

  // Stage both files completely before either replaces its predecessor, so
  // that a failure leaves the previous plan and its sidecar together.
  std::string stagedSidecar = sidecarPath + ".staged";
  std::string stagedPlan = path + ".staged";
  if (!writeFileAtomically(stagedSidecar, writeSidecar, error)) {
    error = sidecarPath + error.substr(stagedSidecar.size());
    return false;
  }
  if (!writeFileAtomically(stagedPlan, writePlan, error)) {
    error = path + error.substr(stagedPlan.size());
    std::remove(stagedSidecar.c_str());
    return false;
  }
  if (std::rename(stagedSidecar.c_str(), sidecarPath.c_str()) != 0) {
    error = sidecarPath + ": cannot replace: " + std::strerror(errno);
    std::remove(stagedSidecar.c_str());
    std::remove(stagedPlan.c_str());
    return false;
  }
  if (std::rename(stagedPlan.c_str(), path.c_str()) != 0) {
    error = path + ": cannot replace: " + std::strerror(errno);
    std::remove(stagedPlan.c_str());
    return false;
  }
  return true;
}

bool readPlanFile(const std::string &path, sp::plan::Plan &plan, std::string &error) {
  auto fail = [&](const std::string &why) {
    error = path + ": " + why;
    return false;
  };
  std::error_code code;
  if (std::filesystem::is_directory(path, code))
    return fail("is a directory, not a plan file");
  std::ifstream file(path, std::ios::binary);
  if (!file)
    return fail(std::string("cannot open: ") + std::strerror(errno));
  file.seekg(0, std::ios::end);
  std::streamoff fileSize = file.tellg();
  file.seekg(0);
  if (fileSize < 0)
    return fail("cannot read the file size");
  if (fileSize == 0)
    return fail("file is empty, not a plan file");

  char header[kHeaderSize];
  size_t headerBytes = size_t(std::min<std::streamoff>(fileSize, kHeaderSize));
  if (!file.read(header, std::streamsize(headerBytes)))
    return fail("read failed");
  size_t magicBytes = std::min(headerBytes, sizeof(kMagic));
  if (std::memcmp(header, kMagic, magicBytes) != 0 || headerBytes < sizeof(kMagic))
    return fail("not a plan file (bad magic)");
  // The version comes first, so that a plan of another version says so
  // whatever its header looks like.
  if (headerBytes >= kVersionEnd) {
    uint64_t version = getLittleEndian(header + 8, 4);
    if (version != kPlanFormatVersion)
      return fail("plan format version " + std::to_string(version) +
                  "; this runtime reads version " + std::to_string(kPlanFormatVersion) +
                  " (recompile with sp-compile " SP_VERSION ")");
  }
  if (headerBytes < kHeaderSize)
    return fail("truncated header (" + std::to_string(fileSize) + " bytes; a plan header is " +
                std::to_string(kHeaderSize) + ")");
  uint64_t payloadSize = getLittleEndian(header + 12, 8);
  uint64_t available = uint64_t(fileSize) - kHeaderSize;
  if (payloadSize > available)
    return fail("truncated: the header announces " + std::to_string(payloadSize) +
                " plan bytes, the file holds " + std::to_string(available));
  if (payloadSize < available)
    return fail(std::to_string(available - payloadSize) +
                " unexpected bytes after the plan (corrupt file?)");
  if (payloadSize > uint64_t(INT_MAX))
    return fail("the plan message is " + std::to_string(payloadSize) +
                " bytes, over protobuf's 2 GiB limit");
  std::string payload(payloadSize, '\0');
  if (payloadSize && !file.read(payload.data(), std::streamsize(payloadSize)))
    return fail("read failed");
  SidecarChecksum checksum;
  checksum.update(payload.data(), payload.size());
  if (checksum.value() != getLittleEndian(header + 20, 8))
    return fail("the plan message does not match its checksum (corrupt file?)");
  // A corrupt payload would make protobuf log to stderr (invalid UTF-8 in a
  // string); the error line below says all there is to say.
  google::protobuf::LogSilencer silencer;
  if (!plan.ParseFromString(payload))
    return fail("the plan message does not parse (corrupt file?)");
  return true;
}

} // namespace sp::runtime
