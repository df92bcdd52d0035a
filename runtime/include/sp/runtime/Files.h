//===- Files.h - file helpers shared by the runtime and its tools -*- C++ -*-===//
//
// Every file the runtime writes (plans, sidecars, .npy dumps, checkpoints,
// traces) goes through writeFileAtomically, so a failed write never leaves a
// half-written file where a good one was.
//
//===----------------------------------------------------------------------===//
#ifndef SP_RUNTIME_FILES_H
#define SP_RUNTIME_FILES_H

#include <functional>
#include <ostream>
#include <string>

namespace sp::runtime {

/// Writes `path` through a temporary file in the same folder and a rename.
/// `write` streams the contents and returns false to abandon the write (then
/// `error` must already say why). On failure returns false, sets `error` to
/// one line naming `path`, and leaves any existing file at `path` untouched.
bool writeFileAtomically(const std::string &path, const std::function<bool(std::ostream &)> &write,
                         std::string &error);

/// Percent-encodes every byte of `name` outside [A-Za-z0-9._-] as %XX, so
/// that any non-empty tensor name is one safe file name (DESIGN.md, `--dump`).
/// The names "." and ".." are encoded too ("%2E", "%2E%2E").
std::string encodeFileName(const std::string &name);

} // namespace sp::runtime

#endif // SP_RUNTIME_FILES_H
