//===- Files.h - file helpers shared by the runtime and its tools -*- C++ -*-===//
//
// Every file the runtime writes (plans, sidecars, .npy dumps, checkpoints,
// traces) goes through writeFileAtomically, so a failed write never leaves a
// half-written file where a good one was.
//
//===----------------------------------------------------------------------===//
#ifndef SP_RUNTIME_FILES_H
#define SP_RUNTIME_FILES_H

#include <cstdint>
#include <functional>
#include <ostream>
#include <string>

namespace sp::runtime {

/// What an output path names, as far as writing it goes.
enum class OutputKind {
  /// A regular file, or nothing yet: written through a temporary and a rename.
  RegularFile,
  /// A device or FIFO (/dev/null, a pipe): written in place, never replaced.
  Special,
  /// A directory, or a path that cannot be inspected; `error` says why.
  Invalid,
};

/// Classifies `path` (following symlinks); on Invalid sets `error` to one line.
OutputKind classifyOutputPath(const std::string &path, std::string &error);

/// Writes `path` through a temporary file in the same folder and a rename.
/// A device or FIFO at `path` is written in place instead, and a directory is
/// an error. `write` streams the contents and returns false to abandon the
/// write (then `error` must already say why). On failure returns false, sets
/// `error` to one line naming `path`, and leaves any existing regular file at
/// `path` untouched.
bool writeFileAtomically(const std::string &path, const std::function<bool(std::ostream &)> &write,
                         std::string &error);

/// Percent-encodes every byte of `name` outside [A-Za-z0-9._-] as %XX, so
/// that any non-empty tensor name is one safe file name (DESIGN.md, `--dump`).
/// The names "." and ".." are encoded too ("%2E", "%2E%2E").
std::string encodeFileName(const std::string &name);

/// Parses a decimal byte count: digits only, no sign, within int64.
bool parseByteCount(const std::string &text, int64_t &value);

} // namespace sp::runtime

#endif // SP_RUNTIME_FILES_H
