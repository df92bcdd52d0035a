//===- MemoryPlan.h - where each tensor of the step lives -------*- C++ -*-===//
//
// A plan gives every tensor of one step (@main) a home: the arena (scratch
// bytes shared by tensors whose lifetimes do not overlap), the state region
// (mutable globals, kept across steps), or the read-only constants loaded from
// the sidecar. The memory planner (sp-plan-memory) and the plan emitter agree
// on those homes through StepAnalysis.
//
//===----------------------------------------------------------------------===//

#ifndef SP_PLAN_MEMORYPLAN_H
#define SP_PLAN_MEMORYPLAN_H

#include "sp/Dialect/Graph/IR/GraphOps.h"
#include "sp/Dialect/Plan/IR/PlanAttributes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/MLProgram/IR/MLProgram.h"
#include "mlir/IR/BuiltinOps.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/DenseSet.h"

#include <optional>
#include <vector>

namespace sp::planning {

/// Every arena and state offset and every sidecar entry is a multiple of it:
/// a cache line on the CPU, and enough for any vector access on the GPU.
constexpr uint64_t kPlanAlignment = 64;

/// Splat constants over this many bytes are written into the arena by a
/// `fill` instruction rather than stored, expanded, in the sidecar.
constexpr uint64_t kFillThresholdBytes = 4096;

/// What sp-plan-memory records: the arena offset of each result of an op (-1
/// where a result is not in the arena), of each argument of @main, and the
/// arena's size on the module.
/// Declared and verified by the plan dialect (PlanDialect.h).
using sp::planning::kArenaBytesAttr;
using sp::planning::kArgumentOffsetAttr;
using sp::planning::kOffsetsAttr;

/// Bytes per element of the element types plans hold (f32, f64, f16, bf16,
/// i64, i32 and i1, one byte per i1), or nullopt for any other type.
std::optional<uint64_t> getPlanElementBytes(mlir::Type elementType);

/// The tensor type whose bytes hold a value of `type`: T for a
/// !graph.future<T> (an arena buffer the collective writes), else `type`.
mlir::Type getPlanValueType(mlir::Type type);

/// Bytes of a statically shaped tensor of a supported element type (or of a
/// future of one).
std::optional<uint64_t> getPlanTensorBytes(mlir::Type type);

enum class HomeKind {
  /// Scratch bytes of the step, at an offset the memory planner chooses.
  Arena,
  /// Arena bytes that a `fill` instruction sets to a splat constant's value
  /// just before the constant's first use.
  Fill,
  /// Read-only bytes from the sidecar.
  Constant,
  /// The bytes of a mutable global.
  State,
};

struct ValueHome {
  HomeKind kind = HomeKind::Arena;
  /// The value that owns the bytes: the value itself, or for a view
  /// (reshape, squeeze, unsqueeze) the value it shares its bytes with. Null
  /// for State, whose bytes belong to `global`.
  mlir::Value root;
  /// State: the mutable global. Constant and Fill: the global the constant
  /// was loaded from, if any.
  mlir::ml_program::GlobalOp global;
};

/// The homes of @main's values, and the facts about its ops that placing
/// them needs. Building it checks that @main is something a plan can hold.
class StepAnalysis {
public:
  /// Analyzes `module`'s @main. On anything a plan cannot hold (dynamic
  /// shapes, unsupported element types or ops, a global read after it was
  /// overwritten) emits one error naming the op and value and fails.
  static mlir::FailureOr<StepAnalysis> analyze(mlir::ModuleOp module);

  mlir::ModuleOp getModule() const { return module; }
  mlir::func::FuncOp getMain() const { return main; }
  mlir::SymbolTable &getSymbols() const { return *symbols; }

  /// @main's ops in execution order. Position 0 stands for the arguments,
  /// so op `i` of this list is at position `i + 1`.
  llvm::ArrayRef<mlir::Operation *> getOps() const { return ops; }
  unsigned getPosition(mlir::Operation *op) const { return positions.lookup(op); }
  /// Position of the value's definition (0 for an argument of @main).
  unsigned getDefinitionPosition(mlir::Value value) const;

  ValueHome getHome(mlir::Value value) const;

  /// The constant a Constant or Fill root holds: graph.constant's value or
  /// the global's initial value.
  mlir::ElementsAttr getConstantValue(mlir::Value root) const;

  /// Whether `op` is one whose result shares its input's bytes: reshapes,
  /// and graph.wait, whose result is its future's buffer.
  static bool isView(mlir::Operation *op);

  /// The wait of a collective start (an op giving a !graph.future), or null
  /// for any other op.
  static sp::graph::WaitOp getWait(mlir::Operation *start);
  /// The last position at which `user` reads its operands: its wait's for a
  /// collective start, which the communication reads until then.
  unsigned getLastUsePosition(mlir::Operation *user) const;

private:
  StepAnalysis() = default;
  mlir::LogicalResult verifyModule();
  mlir::LogicalResult verifyTypes();
  mlir::LogicalResult verifyFutures();
  void assignHomes();
  mlir::LogicalResult findInPlaceUpdates();
  ValueHome getLoadHome(mlir::Value loaded, mlir::ml_program::GlobalOp global) const;
  mlir::ml_program::GlobalOp lookupGlobal(mlir::SymbolRefAttr symbol) const;

  mlir::ModuleOp module;
  mlir::func::FuncOp main;
  std::shared_ptr<mlir::SymbolTable> symbols;
  std::vector<mlir::Operation *> ops;
  llvm::DenseMap<mlir::Operation *, unsigned> positions;
  llvm::DenseMap<mlir::Value, ValueHome> homes;
  /// Results of optimizer updates that write the state they read in place.
  llvm::DenseMap<mlir::Value, mlir::ml_program::GlobalOp> inPlaceResults;
};

/// One tensor that owns arena bytes, and the positions where it is live.
struct ArenaBuffer {
  mlir::Value root;
  uint64_t bytes = 0; // rounded up to kPlanAlignment
  unsigned firstPosition = 0;
  unsigned lastPosition = 0;
  uint64_t offset = 0;
};

struct MemoryPlan {
  std::vector<ArenaBuffer> buffers;
  /// Offset of each Arena and Fill root.
  llvm::DenseMap<mlir::Value, uint64_t> offsets;
  /// Bytes of the arena: the end of the highest buffer.
  uint64_t arenaBytes = 0;
  /// The most bytes live at one position, a lower bound on arenaBytes.
  uint64_t peakLiveBytes = 0;
  /// Bytes of all buffers, the arena without any reuse.
  uint64_t totalBytes = 0;
};

/// The arena tensors of an analyzed step and the positions where each is
/// live, offsets not yet chosen: what planMemory places. The most bytes live
/// at one position is a lower bound on the arena planMemory gives.
std::vector<ArenaBuffer> computeLiveRanges(const StepAnalysis &analysis);

/// Places the arena tensors of an analyzed step.
MemoryPlan planMemory(const StepAnalysis &analysis);

/// Plans `module`'s memory and records the offsets as attributes (what
/// sp-plan-memory does). Emits one error and fails on a module a plan
/// cannot hold.
mlir::FailureOr<MemoryPlan> planAndRecordMemory(mlir::ModuleOp module);

/// Where one rank's bytes go in a step, for `sp-compile --report`.
struct StepMemory {
  uint64_t parameterBytes = 0;      // trainable parameters (STATE)
  uint64_t constantBytes = 0;       // frozen weights and other constants
  uint64_t gradientBytes = 0;       // one gradient per parameter, in the arena
  uint64_t optimizerStateBytes = 0; // moments and step counters (STATE)
  /// The arena: activations, gradients and every other step-scratch value.
  uint64_t arenaBytes = 0;
  /// The most arena bytes live at once (a lower bound on arenaBytes).
  uint64_t peakLiveBytes = 0;
  /// The most arena bytes live at once that are not parameter gradients
  /// (nor, under micro-batches, their per-slice parts and running sums):
  /// the activations and other scratch values of the step.
  uint64_t peakActivationBytes = 0;
};

/// Measures `module` (a module sp-compile would write as a plan) after
/// planning its memory, without recording offsets on it. Fails with the same
/// diagnostics as planning.
mlir::FailureOr<StepMemory> measureStepMemory(mlir::ModuleOp module);

} // namespace sp::planning

#endif // SP_PLAN_MEMORYPLAN_H
