//===- Files.cpp - file helpers shared by the runtime and its tools -------===//

#include "sp/runtime/Files.h"

#include <cerrno>
#include <cstdlib>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sys/stat.h>
#include <unistd.h>

namespace sp::runtime {

namespace {

/// Writes `path` in place (a device or FIFO, which a rename would replace).
bool writeInPlace(const std::string &path, const std::function<bool(std::ostream &)> &write,
                  std::string &error) {
  std::ofstream file(path, std::ios::binary);
  if (!file) {
    error = path + ": cannot write: " + std::strerror(errno);
    return false;
  }
  if (!write(file))
    return false;
  file.flush();
  if (!file) {
    error = path + ": write failed: " + std::strerror(errno);
    return false;
  }
  return true;
}

} // namespace

OutputKind classifyOutputPath(const std::string &path, std::string &error) {
  struct stat status;
  if (::stat(path.c_str(), &status) != 0) {
    if (errno == ENOENT)
      return OutputKind::RegularFile;
    error = path + ": cannot write: " + std::strerror(errno);
    return OutputKind::Invalid;
  }
  if (S_ISDIR(status.st_mode)) {
    error = path + ": is a directory, not a file";
    return OutputKind::Invalid;
  }
  return S_ISREG(status.st_mode) ? OutputKind::RegularFile : OutputKind::Special;
}

bool writeFileAtomically(const std::string &path, const std::function<bool(std::ostream &)> &write,
                         std::string &error) {
  switch (classifyOutputPath(path, error)) {
  case OutputKind::Invalid:
    return false;
  case OutputKind::Special:
    return writeInPlace(path, write, error);
  case OutputKind::RegularFile:
    break;
  }
  // Same folder as the target, so that the rename never crosses file systems.
  std::string temporary = path + ".tmp." + std::to_string(::getpid());
  std::ofstream file(temporary, std::ios::binary | std::ios::trunc);
  if (!file) {
    error = path + ": cannot write: " + std::strerror(errno);
    return false;
  }
  bool written = write(file);
  if (written) {
    file.flush();
    if (!file) {
      error = path + ": write failed: " + std::strerror(errno);
      written = false;
    }
  }
  file.close();
  if (written && file.fail()) {
    error = path + ": write failed: " + std::strerror(errno);
    written = false;
  }
  if (!written) {
    std::remove(temporary.c_str());
    return false;
  }
  if (std::rename(temporary.c_str(), path.c_str()) != 0) {
    error = path + ": cannot replace: " + std::strerror(errno);
    std::remove(temporary.c_str());
    return false;
  }
  return true;
}

std::string encodeFileName(const std::string &name) {
  auto isSafe = [](unsigned char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
  };
  static const char kHex[] = "0123456789ABCDEF";
  bool onlyDots = name.find_first_not_of('.') == std::string::npos && name.size() <= 2;
  std::string encoded;
  for (unsigned char c : name) {
    if (isSafe(c) && !onlyDots) {
      encoded.push_back(char(c));
    } else {
      encoded.push_back('%');
      encoded.push_back(kHex[c >> 4]);
      encoded.push_back(kHex[c & 15]);
    }
  }
  return encoded;
}

bool parseByteCount(const std::string &text, int64_t &value) {
  if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos)
    return false;
  errno = 0;
  char *end = nullptr;
  long long parsed = std::strtoll(text.c_str(), &end, 10);
  if (errno == ERANGE || *end != '\0')
    return false;
  value = int64_t(parsed);
  return true;
}

} // namespace sp::runtime
