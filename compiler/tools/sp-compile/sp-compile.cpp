//===- sp-compile.cpp - ONNX model to sp IR ---------------------------------===//
//
// The user-facing compiler driver. Every failure is one line on stderr and
// exit code 1.
//
//===----------------------------------------------------------------------===//

#include "sp/Dialect/Graph/IR/GraphDialect.h"
#include "sp/Import/OnnxImporter.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/AsmState.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Transforms/Passes.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/raw_ostream.h"

using namespace mlir;
namespace cl = llvm::cl;

static cl::OptionCategory category("sp-compile options");

static cl::opt<std::string> modelPath(cl::Positional, cl::desc("MODEL.onnx"),
                                      cl::Required, cl::cat(category));
static cl::opt<std::string> outputPath("o", cl::desc("Output file (default: stdout)"),
                                       cl::value_desc("OUT"), cl::init("-"),
                                       cl::cat(category));
enum class EmitKind { Mlir };
static cl::opt<EmitKind> emit(
    "emit", cl::desc("What to write"), cl::init(EmitKind::Mlir),
    cl::values(clEnumValN(EmitKind::Mlir, "mlir",
                          "the module in the sp dialects, after the last stage asked for")),
    cl::cat(category));
static cl::list<std::string> inputShapes(
    "input-shape",
    cl::desc("Static shape of a graph input; binds its symbolic dims everywhere "
             "(repeatable)"),
    cl::value_desc("NAME=DxDx..."), cl::cat(category));

static int reportError(const llvm::Twine &message) {
  llvm::errs() << "sp-compile: error: " << message << "\n";
  return 1;
}

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  mlir::registerAsmPrinterCLOptions();
  mlir::registerMLIRContextCLOptions();
  cl::HideUnrelatedOptions(category);
  cl::SetVersionPrinter([](llvm::raw_ostream &os) {
    os << "sp-compile " SP_VERSION "\n";
  });
  cl::ParseCommandLineOptions(
      argc, argv,
      "sp-compile: import an ONNX transformer into the sp dialects\n\n"
      "  sp-compile MODEL.onnx --emit=mlir [-o OUT] [--input-shape NAME=DxD]\n\n"
      "Weights print as dense_resource blobs; MLIR's printer flags such as\n"
      "--mlir-elide-resource-strings-if-larger=N are accepted.\n");

  sp::OnnxImportOptions options;
  for (const std::string &shape : inputShapes)
    if (llvm::Error error = sp::parseInputShape(shape, options))
      return reportError(llvm::toString(std::move(error)));

  MLIRContext context;
  context.printOpOnDiagnostic(false);
  context.printStackTraceOnDiagnostic(false);
  auto module = sp::importOnnxModel(context, modelPath, options);
  if (!module)
    return reportError(llvm::toString(module.takeError()));

  // Fold what the importer left and drop computations nothing uses.
  std::string passError;
  {
    ScopedDiagnosticHandler handler(&context, [&](Diagnostic &diagnostic) {
      if (passError.empty())
        passError = diagnostic.str();
      return success();
    });
    PassManager pm(&context);
    pm.addNestedPass<func::FuncOp>(createCanonicalizerPass());
    pm.addNestedPass<func::FuncOp>(createCSEPass());
    if (failed(pm.run(**module)))
      return reportError(modelPath + ": " + passError);
  }

  if (llvm::Error error = llvm::writeToOutput(outputPath, [&](llvm::raw_ostream &os) {
        (*module)->print(os);
        return llvm::Error::success();
      }))
  {
    // Some write errors start with the quoted path; say it once.
    std::string why = llvm::toString(std::move(error));
    llvm::StringRef reason(why);
    reason.consume_front("'" + outputPath + "': ");
    return reportError("cannot write '" + outputPath + "': " + reason);
  }
  return 0;
}
