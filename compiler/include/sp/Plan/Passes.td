//===- Passes.td - lowering a compiled module to a plan -----*- tablegen -*-===//

#ifndef SP_PLAN_PASSES_TD
#define SP_PLAN_PASSES_TD

include "mlir/Pass/PassBase.td"

def PlanMemory : Pass<"sp-plan-memory", "mlir::ModuleOp"> {
  let summary = "Give every scratch tensor of @main a byte offset in one arena";
  let description = [{
    Liveness over @main's op order decides which tensors exist at the same
    time; tensors whose lifetimes do not overlap share bytes. Offsets are
    multiples of 64 and placed greedily by size, largest first, each in the
    tightest gap left by the tensors live alongside it (the "greedy by size"
    planner of TFLite and ONNX Runtime).

    Arena tensors are @main's arguments and the results of graph ops. Views
    (graph.reshape, graph.squeeze, graph.unsqueeze) share their input's bytes,
    which then stay live until the last use of any view. Constants
    (graph.constant, ml_program.global_load_const) live in the plan's sidecar
    and mutable globals in the state region, except splat constants over 4 KiB,
    which a `fill` instruction writes into the arena just before their first
    use. Optimizer updates whose results are stored back into the globals they
    read update the state in place. Values @main returns stay live to the end.

    Records `plan.offsets = array<i64: ...>` on every op with results (one per
    result, -1 where the result is not in the arena), `plan.offset` on each of
    @main's arguments, and `plan.arena_bytes` on the module. Dynamic shapes,
    element types a plan cannot hold (f32, f64, f16, bf16, i64, i32, i1 are
    supported) and ops outside the graph dialect and ml_program's loads and
    stores are errors.
  }];
  let options = [
    Option<"report", "report", "bool", /*default=*/"false",
           "Emit a remark with the arena's size, the most bytes live at once "
           "(a lower bound on the arena) and the bytes without reuse">,
  ];
  let dependentDialects = ["mlir::ml_program::MLProgramDialect"];
}

def EmitPlan : Pass<"sp-emit-plan", "mlir::ModuleOp"> {
  let summary = "Write @main as a plan file and its weights sidecar";
  let description = [{
    What sp-compile does last, as a pass, so that tests and experiments can
    run hand-written or transformed modules: plans the memory first when the
    module has no `plan.arena_bytes` (recording the offsets), then writes the
    plan to `output` and its weights to `output`.weights. The module's
    `graph.num_ranks`, `graph.zigzag` and @main's `graph.shard_axis`
    argument and result attributes become the plan's world size, layout and
    sharded bindings.
  }];
  let options = [
    Option<"output", "output", "std::string", /*default=*/"",
           "The plan file to write">,
  ];
  let dependentDialects = ["mlir::ml_program::MLProgramDialect"];
}

def AssignInstructionIds : Pass<"sp-assign-instruction-ids", "mlir::func::FuncOp"> {
  let summary = "Name every op with the id its plan instruction will carry";
  let description = [{
    Gives every op of the function (the terminator aside) without one the
    discardable attribute `plan.id`: `NAME:KIND`, or `NAME:KIND#K` for the
    K-th op (K >= 1, in program order) with the same NAME and KIND. NAME is
    the first name in the op's location (the ONNX node it comes from, which
    gradient ops share with their forward op), `@main` where there is none;
    KIND is the op's name without its dialect, a `*_start` counting as its
    synchronous collective. A `graph.wait` is named after its start:
    `START_ID/wait`.

    Run it after the last pass that adds or removes ops and before the
    overlap scheduler: the ids then name the same ops with and without
    scheduling, which is what measured profiles (`sp-run --profile`) key
    instruction times by. Ids already present are kept; an id that is not a
    string, or that two ops share, is an error.
  }];
}

#endif // SP_PLAN_PASSES_TD
