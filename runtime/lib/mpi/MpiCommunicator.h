//===- MpiCommunicator.h - collectives over MPI -------------------*- C++ -*-===//
//
// Internal to the runtime: the Communicator over MPI_COMM_WORLD that
// worldCommunicator() returns under an MPI launcher. Only
// runtime/lib/mpi/MpiCommunicator.cpp includes <mpi.h>.
//
//===----------------------------------------------------------------------===//
#ifndef SP_RUNTIME_LIB_MPI_MPICOMMUNICATOR_H
#define SP_RUNTIME_LIB_MPI_MPICOMMUNICATOR_H

#include "sp/runtime/Collectives.h"

#include <memory>
#include <string>

namespace sp::runtime::mpi {

/// Whether MPI is initialized already, or an MPI launcher (mpirun, srun,
/// Hydra) started this process. A plain start stays a single process: MPI's
/// singleton start-up costs most of a second.
bool launchedByMpi();

/// The ranks of MPI_COMM_WORLD, node by node (the ranks of each node next to
/// each other, as plans group consecutive ranks), through a copy whose errors return
/// (MPI_ERRORS_RETURN) and become one line. Initializes MPI
/// (MPI_Init_thread, MPI_THREAD_SERIALIZED) unless the host has; MPI is then
/// finalized at exit. Null with `error` set on failure.
std::shared_ptr<Communicator> createWorldCommunicator(std::string &error);

} // namespace sp::runtime::mpi

#endif // SP_RUNTIME_LIB_MPI_MPICOMMUNICATOR_H
