#include "TesseraMPI.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

// Open MPI's ABI: handles are pointers to predefined library objects, MPI_IN_PLACE is (void *)1.
typedef void *Handle;
#define IN_PLACE ((void *)1)
enum { THREAD_SERIALIZED = 2 };

static struct {
    Handle world, types[5], ops[3], errors_return;
    int (*init_thread)(int *, char ***, int, int *);
    int (*finalize)(void);
    int (*comm_rank)(Handle, int *);
    int (*comm_size)(Handle, int *);
    int (*comm_set_errhandler)(Handle, Handle);
    int (*barrier)(Handle);
    int (*bcast)(void *, int, Handle, int, Handle);
    int (*allreduce)(const void *, void *, int, Handle, Handle, Handle);
    int (*allgatherv)(const void *, int, Handle, void *, const int *, const int *, Handle, Handle);
    int (*abort)(Handle, int);
    int (*error_string)(int, char *, int *);
} mpi;

static void *library;

static int resolve(const char *name, void **slot, char *error, int length) {
    *slot = dlsym(library, name);
    if (*slot) return 0;
    snprintf(error, (size_t)length, "%s is missing from the MPI library (Tessera needs Open MPI's ABI)", name);
    return -1;
}

int tessera_mpi_load(const char *path, char *error, int length) {
    if (library) return 0;
    const char *candidates[] = {path, "libmpi.so.40", "libmpi.so"};
    for (int i = path ? 0 : 1; i < 3 && !library; i++) {
        // RTLD_GLOBAL: Open MPI's plugins resolve libmpi's symbols from the global namespace.
        library = dlopen(candidates[i], RTLD_NOW | RTLD_GLOBAL);
    }
    if (!library) {
        snprintf(error, (size_t)length, "cannot load Open MPI's libmpi (%s); install openmpi-bin and libopenmpi-dev",
                 dlerror());
        return -1;
    }
    struct { const char *name; void **slot; } symbols[] = {
        {"ompi_mpi_comm_world", &mpi.world},
        {"ompi_mpi_float", &mpi.types[TESSERA_MPI_FLOAT32]},
        {"ompi_mpi_double", &mpi.types[TESSERA_MPI_FLOAT64]},
        {"ompi_mpi_int64_t", &mpi.types[TESSERA_MPI_INT64]},
        {"ompi_mpi_int32_t", &mpi.types[TESSERA_MPI_INT32]},
        {"ompi_mpi_byte", &mpi.types[TESSERA_MPI_BYTE]},
        {"ompi_mpi_op_sum", &mpi.ops[TESSERA_MPI_SUM]},
        {"ompi_mpi_op_max", &mpi.ops[TESSERA_MPI_MAX]},
        {"ompi_mpi_op_min", &mpi.ops[TESSERA_MPI_MIN]},
        {"ompi_mpi_errors_return", &mpi.errors_return},
        {"MPI_Init_thread", (void **)&mpi.init_thread},
        {"MPI_Finalize", (void **)&mpi.finalize},
        {"MPI_Comm_rank", (void **)&mpi.comm_rank},
        {"MPI_Comm_size", (void **)&mpi.comm_size},
        {"MPI_Comm_set_errhandler", (void **)&mpi.comm_set_errhandler},
        {"MPI_Barrier", (void **)&mpi.barrier},
        {"MPI_Bcast", (void **)&mpi.bcast},
        {"MPI_Allreduce", (void **)&mpi.allreduce},
        {"MPI_Allgatherv", (void **)&mpi.allgatherv},
        {"MPI_Abort", (void **)&mpi.abort},
        {"MPI_Error_string", (void **)&mpi.error_string},
    };
    for (size_t i = 0; i < sizeof symbols / sizeof symbols[0]; i++) {
        if (resolve(symbols[i].name, symbols[i].slot, error, length) != 0) {
            dlclose(library);
            library = NULL;
            return -1;
        }
    }
    return 0;
}

int tessera_mpi_init(int *provided) {
    int rc = mpi.init_thread(NULL, NULL, THREAD_SERIALIZED, provided);
    return rc != 0 ? rc : mpi.comm_set_errhandler(mpi.world, mpi.errors_return);
}

int tessera_mpi_finalize(void) { return mpi.finalize(); }
int tessera_mpi_rank(int *rank) { return mpi.comm_rank(mpi.world, rank); }
int tessera_mpi_size(int *size) { return mpi.comm_size(mpi.world, size); }
int tessera_mpi_barrier(void) { return mpi.barrier(mpi.world); }

int tessera_mpi_broadcast(void *buffer, int count, tessera_mpi_type type, int root) {
    return mpi.bcast(buffer, count, mpi.types[type], root, mpi.world);
}

int tessera_mpi_allreduce(void *buffer, int count, tessera_mpi_type type, tessera_mpi_op op) {
    return mpi.allreduce(IN_PLACE, buffer, count, mpi.types[type], mpi.ops[op], mpi.world);
}

int tessera_mpi_allgatherv(const void *send, int send_count, void *receive, const int *counts,
                           const int *displacements, tessera_mpi_type type) {
    return mpi.allgatherv(send, send_count, mpi.types[type], receive, counts, displacements, mpi.types[type],
                          mpi.world);
}

int tessera_mpi_abort(int code) { return mpi.abort(mpi.world, code); }

void tessera_mpi_error_string(int code, char *buffer, int length) {
    if (!library || mpi.error_string(code, buffer, &length) != 0) snprintf(buffer, (size_t)length, "MPI error %d", code);
}
