#ifndef CMPI_SHIM_H
#define CMPI_SHIM_H
#include <mpi.h>

/* MPI's predefined handles are macros Swift cannot import (Open MPI: addresses of incomplete globals; MPICH:
   casted integers). These accessors expose them for both, so the Swift source never spells a handle type. */
static inline MPI_Comm     cmpi_comm_world(void)    { return MPI_COMM_WORLD; }
static inline MPI_Comm     cmpi_comm_null(void)     { return MPI_COMM_NULL; }
static inline MPI_Datatype cmpi_byte(void)          { return MPI_BYTE; }
static inline MPI_Request  cmpi_request_null(void)  { return MPI_REQUEST_NULL; }
/* MPI_STATUS_IGNORE is (MPI_Status*)0 in Open MPI but (MPI_Status*)1 in MPICH: never pass nil. */
static inline MPI_Status  *cmpi_status_ignore(void) { return MPI_STATUS_IGNORE; }
static inline int          cmpi_thread_multiple(void) { return MPI_THREAD_MULTIPLE; }
static inline int          cmpi_errors_return_set(MPI_Comm comm) { return MPI_Comm_set_errhandler(comm, MPI_ERRORS_RETURN); }
#endif
