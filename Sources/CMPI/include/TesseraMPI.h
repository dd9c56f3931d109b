// A header-free bridge to Open MPI's C library, loaded at run time with dlopen.
//
// Swift cannot import MPI's handles (MPI_COMM_WORLD, MPI_FLOAT, MPI_SUM are macros over
// library globals), and linking libmpi would make every Tessera binary need it at start-up.
// Loading it only when a process was started by mpirun keeps single-process use free of MPI.
#ifndef TESSERA_MPI_H
#define TESSERA_MPI_H

#include <stdint.h>

/// Element types of the buffers.
typedef enum { TESSERA_MPI_FLOAT32 = 0, TESSERA_MPI_FLOAT64 = 1, TESSERA_MPI_INT64 = 2, TESSERA_MPI_INT32 = 3,
               TESSERA_MPI_BYTE = 4 }
    tessera_mpi_type;
/// Reductions.
typedef enum { TESSERA_MPI_SUM = 0, TESSERA_MPI_MAX = 1, TESSERA_MPI_MIN = 2 } tessera_mpi_op;

/// Loads libmpi (`path`, or Open MPI's libmpi.so.40 / libmpi.so when NULL) and resolves what the
/// shim calls. Returns 0, or -1 with a message in `error`.
int tessera_mpi_load(const char *path, char *error, int error_length);
/// MPI_Init_thread asking for MPI_THREAD_SERIALIZED, then MPI_ERRORS_RETURN on MPI_COMM_WORLD so
/// that errors come back as codes. `provided` receives the thread level granted.
int tessera_mpi_init(int *provided);
int tessera_mpi_finalize(void);
int tessera_mpi_rank(int *rank);
int tessera_mpi_size(int *size);
int tessera_mpi_barrier(void);
int tessera_mpi_broadcast(void *buffer, int count, tessera_mpi_type type, int root);
/// In-place all-reduce (MPI_IN_PLACE).
int tessera_mpi_allreduce(void *buffer, int count, tessera_mpi_type type, tessera_mpi_op op);
int tessera_mpi_allgatherv(const void *send, int send_count, void *receive, const int *counts,
                           const int *displacements, tessera_mpi_type type);
/// MPI_Abort on MPI_COMM_WORLD: ends every process of the job.
int tessera_mpi_abort(int code);
/// MPI_Error_string into `buffer`.
void tessera_mpi_error_string(int code, char *buffer, int length);

#endif
