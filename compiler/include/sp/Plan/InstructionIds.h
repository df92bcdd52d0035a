//===- InstructionIds.h - stable names of a step's instructions -*- C++ -*-===//
//
// Every plan instruction carries an id (Instruction.id) that names the same
// op in every compile of one model: with and without --no-overlap, under
// every strategy where the op exists. `sp-run --profile` keys measured times
// by it and `sp-compile --cost-profile` looks them up by it.
//
// An id is `NAME:KIND`, or `NAME:KIND#K` for the K-th (K >= 1) op of one
// (NAME, KIND) in program order: NAME is the first name in the op's location
// (the ONNX node the importer named it after; autodiff and the sequence-
// parallel passes keep the forward node's location), KIND the op's name
// without its dialect, where a collective's `*_start` counts as its
// synchronous form ("all_gather"). Ops whose location holds no name use
// `@main` for NAME. A `graph.wait` is its start's id followed by `/wait`.
//
// sp-compile assigns the ids (sp-assign-instruction-ids) after the last pass
// that adds or removes compute and before the overlap scheduler, which only
// reorders ops: a schedule changes no id. They travel as the discardable
// string attribute `plan.id`; the plan emitter gives ids to ops that lack
// one (hand-written modules) the same way, and refuses two ops with one id.
//
//===----------------------------------------------------------------------===//

#ifndef SP_PLAN_INSTRUCTIONIDS_H
#define SP_PLAN_INSTRUCTIONIDS_H

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Operation.h"
#include "llvm/ADT/StringRef.h"

#include "sp/Dialect/Plan/IR/PlanAttributes.h"

#include <string>

namespace sp::planning {

/// The id of `op`, or an empty string where it has none.
llvm::StringRef getInstructionId(mlir::Operation *op);

/// Gives every op of `function`'s body (its terminator aside) that has no
/// `plan.id` an id as described above; ordinals continue past the ids
/// already there. Fails, with an error on the op, where an id is not a
/// string or two ops share one.
mlir::LogicalResult assignInstructionIds(mlir::func::FuncOp function);

} // namespace sp::planning

#endif // SP_PLAN_INSTRUCTIONIDS_H
