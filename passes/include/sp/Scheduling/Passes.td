//===- Passes.td - overlap of communication with compute ---*- tablegen -*-===//

#ifndef SP_SCHEDULING_PASSES_TD
#define SP_SCHEDULING_PASSES_TD

include "mlir/Pass/PassBase.td"

def ScheduleCollectives : Pass<"sp-schedule-collectives", "mlir::func::FuncOp"> {
  let summary = "Start collectives early and wait for them late, to hide communication";
  let description = [{
    Turns every synchronous collective (all_gather, reduce_scatter,
    all_reduce, all_to_all, ring_shift) of a single-block function into its
    `*_start` and a `graph.wait`, then list-schedules the block (XLA's
    latency-hiding scheduler, top down): each op is placed once its operands
    are, and among the ops that are ready,

    1. the next collective start goes first, as soon as its input is defined,
       if it fits the in-flight limits, but no earlier than hiding it needs:
       while `overlap-margin` times its estimated link time of compute (in
       program order) remains before its first reader, it would only hold
       its buffers longer (a gathered K/V for the backward pass would live
       through the forward pass);
    2. else the compute op that feeds the next start (the K/V projections
       ahead of the query projection, so that their all-gathers start
       before it), else the one first in program order;
    3. a wait once the ready compute came after its first reader in program
       order and the cost model says the collective has arrived (until then
       later compute moves up, but not past the first reader of the next
       collective, which would hold its tensors longer), or when no compute
       is ready; for the collective whose result the earliest blocked op
       needs.

    Parameter-gradient all-reduces (those on which no later collective
    depends) are bucketed in the order the gradients complete, up to the cost
    profile's `gradient_bucket_bytes` (PyTorch DDP's buckets): a bucket's
    starts are issued together, right after its last gradient, and their
    waits come once the cost model says they have arrived (which frees the
    rank's own gradient) or when compute runs out: the optimizer updates,
    last in program order, follow the backward pass and fill its stalls, and
    the reductions hide behind it. A bucket starts as soon as it is
    complete, whatever the margin.

    Starts keep one order, the same on every rank: program order, but each
    bucket's starts at its last gradient's; ops that communicate inside
    their kernel (ring attention) keep their place in that order too.

    Limits: at most `max-in-flight` collectives other than gradient
    reductions (which stay in flight through the backward pass) and
    `max-in-flight-bytes` bytes of the inputs and results of all of them (the
    memory budget: a start extends the live range of its buffers; 0: no
    bound; one collective alone may exceed it) are in flight at once. A
    start that does not fit first waits early for collectives that the cost
    model says have arrived (compute since their start covers their link
    time) and whose wait makes room, else is delayed while compute runs, and
    when no compute is left the oldest in flight that makes room is waited
    for. Loads and stores of one global keep their order;
    readers of a parameter's old value, and collectives reading it, stay
    ahead of the update that the planner runs in place; an op with unknown
    side effects orders everything around it. The result is deterministic.

    The cost model is the profile `cost-profile` (a built-in name or a JSON
    file; see `sp-compile --help`); the rate options override its figures.
  }];
  let options = [
    Option<"maxInFlight", "max-in-flight", "int64_t", /*default=*/"4",
           "Most collectives other than gradient reductions started and not yet waited for "
           "at once (at least 1)">,
    Option<"maxInFlightBytes", "max-in-flight-bytes", "int64_t", /*default=*/"0",
           "Memory budget: most bytes of inputs and results held by collectives in flight "
           "(0: no bound)">,
    Option<"overlapMargin", "overlap-margin", "double", /*default=*/"2.0",
           "Compute to leave between a start and its first reader, in multiples of the "
           "collective's estimated link time (0: start only when nothing else is left)">,
    Option<"costProfile", "cost-profile", "std::string", /*default=*/"\"cpu\"",
           "Cost profile: a built-in name (cpu, h100-nvlink, h100-ib) or a JSON file "
           "(analytic, or measured by sp-run --profile)">,
    Option<"gradientBucketBytes", "bucket-bytes", "int64_t", /*default=*/"-1",
           "Gradient bucket size in bytes (-1: the profile's; 0: no buckets)">,
    Option<"flopsPerSecond", "flops-per-second", "double", /*default=*/"0",
           "Override the profile's FLOP rate of one rank (0: keep it)">,
    Option<"memoryBytesPerSecond", "memory-bytes-per-second", "double", /*default=*/"0",
           "Override the profile's bytes an op reads and writes per second (0: keep it)">,
    Option<"linkBytesPerSecond", "link-bytes-per-second", "double", /*default=*/"0",
           "Override the profile's bytes a rank sends per second (0: keep it)">,
    Option<"linkLatencySeconds", "link-latency", "double", /*default=*/"-1",
           "Override the profile's seconds per message step of a collective (-1: keep it)">,
  ];
  let dependentDialects = ["::sp::graph::GraphDialect"];
}

#endif // SP_SCHEDULING_PASSES_TD
