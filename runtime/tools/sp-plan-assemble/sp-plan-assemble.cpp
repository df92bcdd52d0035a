//===- sp-plan-assemble.cpp - plan files from protobuf text ---------------===//
//
// A developer tool: writes a plan file (and its weights sidecar) from the
// protobuf text form that `sp-run --print-plan` prints, so that tests and
// debugging sessions can write or edit plans by hand. The sidecar bytes come
// from a raw file; plan.weights is filled in by writePlanFiles.
//
//===----------------------------------------------------------------------===//

#include "sp/runtime/PlanFile.h"

#include "sp/plan/plan.pb.h"

#include <google/protobuf/io/tokenizer.h>
#include <google/protobuf/text_format.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>

namespace {

constexpr const char *kUsage =
    R"(sp-plan-assemble: write a plan file from its protobuf text form

usage: sp-plan-assemble PLAN.txt -o OUT.spplan [--weights FILE]

  PLAN.txt        an sp.plan.Plan in protobuf text format (as sp-run --print-plan
                  prints it); its `weights` field is ignored and recomputed
  -o OUT.spplan   the plan to write; the sidecar goes to OUT.spplan.weights
  --weights FILE  the sidecar's bytes (default: none)
)";

int reportError(const std::string &message) {
  std::fprintf(stderr, "sp-plan-assemble: error: %s\n", message.c_str());
  return 1;
}

/// Keeps the first parse error as one line.
class FirstError : public google::protobuf::io::ErrorCollector {
public:
  void AddError(int line, int column, const std::string &message) override {
    if (text.empty())
      text = std::to_string(line + 1) + ":" + std::to_string(column + 1) + ": " + message;
  }
  std::string text;
};

bool readFile(const std::string &path, std::string &contents, std::string &error) {
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    error = path + ": cannot open: " + std::strerror(errno);
    return false;
  }
  contents.assign(std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>());
  return true;
}

} // namespace

int main(int argc, char **argv) {
  std::string input, output, weightsPath;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    if ((arg == "-o" || arg == "--weights") && i + 1 < argc) {
      (arg == "-o" ? output : weightsPath) = argv[++i];
    } else if (!arg.empty() && arg[0] != '-' && input.empty()) {
      input = arg;
    } else {
      return reportError("unexpected argument '" + arg + "' (see --help)");
    }
  }
  if (input.empty() || output.empty())
    return reportError("expected PLAN.txt -o OUT.spplan (see --help)");

  std::string text, weights, error;
  if (!readFile(input, text, error) ||
      (!weightsPath.empty() && !readFile(weightsPath, weights, error)))
    return reportError(error);
  sp::plan::Plan plan;
  google::protobuf::TextFormat::Parser parser;
  FirstError errors;
  parser.RecordErrorsTo(&errors);
  if (!parser.ParseFromString(text, &plan))
    return reportError(input + ":" + errors.text);
  if (!sp::runtime::writePlanFiles(output, plan, weights.data(), weights.size(), error))
    return reportError(error);
  return 0;
}
