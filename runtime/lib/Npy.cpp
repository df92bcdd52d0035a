//===- Npy.cpp - NumPy .npy files -----------------------------------------===//

#include "sp/runtime/Npy.h"
#include "sp/runtime/Files.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

namespace sp::runtime {

namespace {
struct DTypeInfo {
  DType dtype;
  const char *descr;
  const char *name;
  int64_t size;
};
// NumPy has no bfloat16; ml_dtypes writes it as '<V2' with this name in
// other tools, so only the descr below is accepted for it.
constexpr DTypeInfo kDTypes[] = {
    {DType::Float32, "<f4", "float32", 4}, {DType::Float64, "<f8", "float64", 8},
    {DType::Float16, "<f2", "float16", 2}, {DType::BFloat16, "<V2", "bfloat16", 2},
    {DType::Int64, "<i8", "int64", 8},     {DType::Int32, "<i4", "int32", 4},
    {DType::Int8, "|i1", "int8", 1},       {DType::UInt8, "|u1", "uint8", 1},
    {DType::Bool, "|b1", "bool", 1},
};
const DTypeInfo &info(DType dtype) {
  for (const DTypeInfo &entry : kDTypes)
    if (entry.dtype == dtype)
      return entry;
  return kDTypes[0];
}
constexpr char kMagic[] = "\x93NUMPY";
} // namespace

int64_t dtypeSize(DType dtype) { return info(dtype).size; }
const char *dtypeDescr(DType dtype) { return info(dtype).descr; }
const char *dtypeName(DType dtype) { return info(dtype).name; }

int64_t numElements(const std::vector<int64_t> &shape) {
  int64_t count = 1;
  for (int64_t dim : shape)
    count *= dim;
  return count;
}

int64_t NpyArray::numElements() const { return sp::runtime::numElements(shape); }

std::string formatShape(const std::vector<int64_t> &shape) {
  if (shape.empty())
    return "scalar";
  std::string text;
  for (size_t i = 0; i < shape.size(); ++i)
    text += (i ? "x" : "") + std::to_string(shape[i]);
  return text;
}

/// `text` as one printable line for an error message: control and non-ASCII
/// bytes as '?', trailing padding dropped, at most 160 characters.
static std::string quotedForMessage(const std::string &text) {
  std::string line = text.substr(0, text.find_last_not_of(" \n") + 1);
  if (line.size() > 160)
    line = line.substr(0, 157) + "...";
  for (char &c : line)
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f)
      c = '?';
  return line;
}

/// The value text of `key` in the header dict, e.g. "'<f4'" or "(2, 3)".
static bool findHeaderValue(const std::string &header, const std::string &key,
                            std::string &value) {
  size_t at = header.find("'" + key + "'");
  if (at == std::string::npos)
    return false;
  size_t colon = header.find(':', at);
  if (colon == std::string::npos)
    return false;
  size_t start = header.find_first_not_of(' ', colon + 1);
  if (start == std::string::npos)
    return false;
  size_t end = header[start] == '(' ? header.find(')', start) + 1
                                    : header.find_first_of(",}", start);
  if (end == std::string::npos || end == 0)
    return false;
  value = header.substr(start, end - start);
  return true;
}

static bool parseShape(const std::string &text, std::vector<int64_t> &shape) {
  if (text.size() < 2 || text.front() != '(' || text.back() != ')')
    return false;
  std::string inner = text.substr(1, text.size() - 2);
  std::stringstream stream(inner);
  std::string piece;
  while (std::getline(stream, piece, ',')) {
    size_t first = piece.find_first_not_of(' ');
    if (first == std::string::npos)
      continue; // the trailing comma of a 1-tuple
    size_t last = piece.find_last_not_of(' ');
    std::string digits = piece.substr(first, last - first + 1);
    if (digits.empty() || digits.find_first_not_of("0123456789") != std::string::npos ||
        digits.size() > 15)
      return false;
    shape.push_back(std::stoll(digits));
  }
  return true;
}

bool readNpy(const std::string &path, NpyArray &array, std::string &error) {
  // What a file says is quoted as one printable line, whatever its bytes.
  auto fail = [&](const std::string &why) {
    error = path + ": " + quotedForMessage(why);
    return false;
  };
  std::error_code code;
  if (std::filesystem::is_directory(path, code))
    return fail("is a directory, not a .npy file");
  std::ifstream file(path, std::ios::binary);
  if (!file)
    return fail(std::string("cannot open: ") + std::strerror(errno));
  file.seekg(0, std::ios::end);
  int64_t fileSize = file.tellg();
  file.seekg(0);
  if (fileSize == 0)
    return fail("file is empty, not a .npy file");
  char preamble[10];
  if (fileSize < 10 || !file.read(preamble, 10) ||
      std::memcmp(preamble, kMagic, 6) != 0)
    return fail("not a .npy file (bad magic)");
  int major = static_cast<unsigned char>(preamble[6]);
  int64_t headerLength;
  int64_t preambleLength;
  if (major == 1) {
    headerLength = static_cast<unsigned char>(preamble[8]) |
                   (static_cast<unsigned char>(preamble[9]) << 8);
    preambleLength = 10;
  } else if (major == 2 || major == 3) {
    char extra[2];
    if (!file.read(extra, 2))
      return fail("truncated header");
    headerLength = 0;
    unsigned char bytes[4] = {static_cast<unsigned char>(preamble[8]),
                              static_cast<unsigned char>(preamble[9]),
                              static_cast<unsigned char>(extra[0]),
                              static_cast<unsigned char>(extra[1])};
    for (int i = 3; i >= 0; --i)
      headerLength = (headerLength << 8) | bytes[i];
    preambleLength = 12;
  } else {
    return fail("unsupported .npy format version " + std::to_string(major));
  }
  if (preambleLength + headerLength > fileSize)
    return fail("truncated header");
  std::string header(headerLength, '\0');
  file.read(header.data(), headerLength);

  std::string descr, fortran, shapeText;
  if (!findHeaderValue(header, "descr", descr) ||
      !findHeaderValue(header, "fortran_order", fortran) ||
      !findHeaderValue(header, "shape", shapeText))
    return fail("malformed header '" + header + "'");
  if (fortran != "False")
    return fail("Fortran-ordered arrays are not supported; save in C order");
  bool known = false;
  for (const DTypeInfo &entry : kDTypes) {
    if (descr == std::string("'") + entry.descr + "'") {
      array.dtype = entry.dtype;
      known = true;
    }
  }
  if (!known)
    return fail("unsupported dtype " + descr);
  array.shape.clear();
  if (!parseShape(shapeText, array.shape))
    return fail("malformed shape " + shapeText);
  int64_t count = 1;
  for (int64_t dim : array.shape) {
    if (dim != 0 && count > std::numeric_limits<int64_t>::max() / 16 / dim)
      return fail("shape " + shapeText + " is too large");
    count *= dim;
  }
  int64_t bytes = count * dtypeSize(array.dtype);
  int64_t available = fileSize - preambleLength - headerLength;
  if (available != bytes)
    return fail("holds " + std::to_string(available) + " data bytes but shape " +
                formatShape(array.shape) + " of " + dtypeName(array.dtype) +
                " needs " + std::to_string(bytes) +
                (available < bytes ? " (truncated?)" : ""));
  array.data.resize(bytes);
  if (bytes && !file.read(array.data.data(), bytes))
    return fail("read failed");
  return true;
}

bool writeNpy(const std::string &path, const NpyArray &array, std::string &error) {
  std::string shape = "(";
  for (int64_t dim : array.shape)
    shape += std::to_string(dim) + ", ";
  if (array.shape.size() > 1)
    shape.erase(shape.size() - 2);
  else if (array.shape.size() == 1)
    shape.erase(shape.size() - 1);
  shape += ")";
  std::string header = std::string("{'descr': '") + dtypeDescr(array.dtype) +
                       "', 'fortran_order': False, 'shape': " + shape + ", }";
  // Pad so that the data starts at a multiple of 64 bytes, as NumPy does.
  size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header.push_back('\n');
  if (array.data.size() != size_t(array.numElements() * dtypeSize(array.dtype))) {
    error = path + ": internal error: data size does not match shape " +
            formatShape(array.shape);
    return false;
  }

  return writeFileAtomically(
      path,
      [&](std::ostream &file) {
        char preamble[10];
        std::memcpy(preamble, kMagic, 6);
        preamble[6] = 1;
        preamble[7] = 0;
        preamble[8] = char(header.size() & 0xff);
        preamble[9] = char((header.size() >> 8) & 0xff);
        file.write(preamble, 10);
        file.write(header.data(), header.size());
        file.write(array.data.data(), array.data.size());
        return true;
      },
      error);
}

} // namespace sp::runtime
