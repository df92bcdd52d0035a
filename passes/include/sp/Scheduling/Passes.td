//===- Passes.td - overlap of communication with compute ---*- tablegen -*-===//

#ifndef SP_SCHEDULING_PASSES_TD
#define SP_SCHEDULING_PASSES_TD

include "mlir/Pass/PassBase.td"

def ScheduleCollectives : Pass<"sp-schedule-collectives", "mlir::func::FuncOp"> {
  let summary = "Start collectives early and wait for them late, to hide communication";
  let description = [{
    Turns every synchronous collective (all_gather, reduce_scatter,
    all_reduce, all_to_all, ring_shift) of a single-block function into its
    `*_start` and a `graph.wait`, then moves the starts up and the waits
    down; every other op keeps its place relative to the others.

    A wait goes right before the first op that reads its result (or starts a
    collective of it), and never past an op that writes the global a start
    reads through a load (its `ml_program.global_store`, or the update whose
    result that store writes, which the planner runs in place), nor past an
    op with unknown side effects. A start goes as early as its input is
    defined, but no earlier than the cost model needs to hide the
    collective: the latest place that leaves `overlap-margin` times its
    estimated link time (latency per ring step plus bytes sent over the link
    bandwidth) of estimated compute (FLOPs over the FLOP rate plus bytes
    touched over the memory bandwidth) before its wait. Starting earlier
    would only hold its result's bytes longer.

    Starts keep their relative order, so every rank, running the same
    program, issues its collectives in the same order. At most
    `max-in-flight` collectives, holding at most `max-in-flight-bytes` of
    inputs and results (0: no bound; one collective alone may exceed it),
    are in flight at once. A start that would exceed either first makes room
    by waiting early for collectives that have had enough compute since
    their start to have arrived (by the model, such a wait costs nothing),
    else is delayed until a wait makes room; when it can be delayed no
    longer (its own wait, or a later collective's, is due), the in-flight
    collectives whose waits come first are waited for early. The result is
    deterministic.
  }];
  let options = [
    Option<"maxInFlight", "max-in-flight", "int64_t", /*default=*/"4",
           "Most collectives started and not yet waited for at once (at least 1)">,
    Option<"maxInFlightBytes", "max-in-flight-bytes", "int64_t", /*default=*/"0",
           "Most bytes of inputs and results held by collectives in flight (0: no bound)">,
    Option<"overlapMargin", "overlap-margin", "double", /*default=*/"2.0",
           "Compute to place between a start and its wait, in multiples of the "
           "collective's estimated time (0: start only when the wait is due)">,
    Option<"flopsPerSecond", "flops-per-second", "double",
           /*default=*/"::sp::scheduling::CostModel().flopsPerSecond",
           "Cost model: FLOP rate of one rank">,
    Option<"memoryBytesPerSecond", "memory-bytes-per-second", "double",
           /*default=*/"::sp::scheduling::CostModel().memoryBytesPerSecond",
           "Cost model: bytes an op reads and writes per second">,
    Option<"linkBytesPerSecond", "link-bytes-per-second", "double",
           /*default=*/"::sp::scheduling::CostModel().linkBytesPerSecond",
           "Cost model: bytes a rank sends per second">,
    Option<"linkLatencySeconds", "link-latency", "double",
           /*default=*/"::sp::scheduling::CostModel().linkLatencySeconds",
           "Cost model: seconds per message step of a collective">,
  ];
  let dependentDialects = ["::sp::graph::GraphDialect"];
}

#endif // SP_SCHEDULING_PASSES_TD
