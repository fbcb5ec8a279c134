/* comm: the only module that includes mpi.h (src/comm.c). Unit tests link src/comm_serial.c instead,
 * the same API for one process. Reductions are in place; counts over INT_MAX go in chunks.
 * cnn_comm_init sets the die hook to MPI_Abort, so an error on any rank ends the whole job. */
#ifndef CNN_COMM_H
#define CNN_COMM_H

#include <stddef.h>
#include <stdint.h>

void cnn_comm_init(int *argc, char ***argv);
/* The MPI library's own description (MPI_Get_library_version; callable before cnn_comm_init). */
void cnn_comm_library_version(char *buf, size_t n);
void cnn_comm_finalize(void);
int cnn_comm_rank(void);
int cnn_comm_size(void);
/* Ranks sharing this node (MPI_COMM_TYPE_SHARED). */
int cnn_comm_local_size(void);
/* This rank's index among them (0 = the node's first rank). */
int cnn_comm_local_rank(void);

void cnn_comm_barrier(void);
void cnn_comm_bcast(void *buf, size_t bytes, int root);
/* Every rank's `bytes` bytes, in rank order, into recv on root (size x bytes; ignored elsewhere). */
void cnn_comm_gather(const void *send, size_t bytes, void *recv, int root);
void cnn_comm_sum_float(float *buf, size_t n);
void cnn_comm_sum_i64(int64_t *buf, size_t n);
void cnn_comm_max_int(int *buf, size_t n);
void cnn_comm_min_u64(uint64_t *buf, size_t n);
void cnn_comm_max_u64(uint64_t *buf, size_t n);
/* 1 on every rank if flag is nonzero on any rank. */
int cnn_comm_any(int flag);

/* Non-blocking sum of floats in place (MPI_Iallreduce), for buckets overlapped with backward. */
typedef struct CnnCommReq CnnCommReq;
CnnCommReq *cnn_comm_isum_float(float *buf, size_t n);
CnnCommReq *cnn_comm_isum_i64(int64_t *buf, size_t n);
/* Completes and frees the request; returns seconds spent waiting. */
double cnn_comm_wait(CnnCommReq *r);
/* Lets MPI progress outstanding requests (MPI_Test). */
void cnn_comm_progress(CnnCommReq *r);

#endif
