//===- ExternalData.cpp - reading ONNX external data safely ---------------===//

#include "sp/runtime/ExternalData.h"
#include "sp/runtime/Files.h"

#include <cctype>
#include <filesystem>
#include <fstream>

namespace fs = std::filesystem;

namespace sp::runtime {

std::string parseExternalData(const std::vector<std::pair<std::string, std::string>> &entries,
                              ExternalDataRef &ref) {
  for (const auto &[key, value] : entries) {
    if (key == "location")
      ref.location = value;
    else if ((key == "offset" || key == "length") &&
             !parseByteCount(value, key == "offset" ? ref.offset : ref.length))
      return "external data " + key + " '" + value + "' is not a byte count";
  }
  if (ref.location.empty())
    return "external data without a location";
  return "";
}

std::string readExternalData(const std::string &modelFolder, const ExternalDataRef &ref,
                             std::string &bytes) {
  std::string what = "external data location '" + ref.location + "'";
  fs::path relative(ref.location);
  // Windows forms too ("C:\\w.bin", "\\\\server\\w.bin"): a model may come from anywhere.
  bool windowsAbsolute = (!ref.location.empty() && ref.location[0] == '\\') ||
                         (ref.location.size() >= 2 && std::isalpha((unsigned char)ref.location[0]) &&
                          ref.location[1] == ':');
  if (relative.is_absolute() || windowsAbsolute)
    return what + " is an absolute path; it must be relative to the model's folder";
  for (const fs::path &part : relative)
    if (part == "..")
      return what + " climbs out of the model's folder";
  fs::path folder = modelFolder.empty() ? fs::path(".") : fs::path(modelFolder);
  fs::path path = folder / relative;
  std::string file = "external data file '" + path.string() + "'";
  // A symlink may still point elsewhere: compare the resolved paths. A path
  // that does not resolve is missing, which opening it reports.
  std::error_code code;
  fs::path realFolder = fs::canonical(folder, code);
  fs::path realData = code ? fs::path() : fs::canonical(path, code);
  if (!code) {
    std::string prefix = realFolder.string();
    if (prefix.empty() || prefix.back() != '/')
      prefix += '/';
    if (realData.string().compare(0, prefix.size(), prefix) != 0)
      return what + " resolves to '" + realData.string() + "', outside the model's folder";
    if (!fs::is_regular_file(realData, code))
      return what + " is not a regular file";
  }
  std::ifstream stream(path, std::ios::binary);
  if (!stream)
    return file + " cannot be opened";
  stream.seekg(0, std::ios::end);
  int64_t size = stream.tellg();
  int64_t length = ref.length < 0 ? size - ref.offset : ref.length;
  if (!stream || ref.offset < 0 || length < 0 || ref.offset > size || length > size - ref.offset)
    return file + " has " + std::to_string(size) + " bytes, too short for offset " +
           std::to_string(ref.offset) + " + length " + std::to_string(length);
  bytes.resize(size_t(length));
  stream.seekg(ref.offset);
  stream.read(bytes.data(), length);
  if (!stream)
    return "reading " + file + " failed";
  return "";
}

} // namespace sp::runtime
