/* comm_serial: the comm API for one process, linked into unit tests instead of src/comm.c.
 * Every reduction over one rank is the identity. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cnn/comm.h"
#include "cnn/util.h"

struct CnnCommReq {
    int unused;
};

void cnn_comm_init(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    cnn_log_set_rank(0);
}
void cnn_comm_library_version(char *buf, size_t n) { snprintf(buf, n, "no MPI (one process)"); }
void cnn_comm_finalize(void) {}
int cnn_comm_rank(void) { return 0; }
int cnn_comm_size(void) { return 1; }
int cnn_comm_local_size(void) { return 1; }
int cnn_comm_local_rank(void) { return 0; }
void cnn_comm_barrier(void) {}
void cnn_comm_bcast(void *buf, size_t bytes, int root)
{
    (void)buf;
    (void)bytes;
    (void)root;
}
void cnn_comm_gather(const void *send, size_t bytes, void *recv, int root)
{
    (void)root;
    memcpy(recv, send, bytes);
}
void cnn_comm_sum_float(float *buf, size_t n) { (void)buf; (void)n; }
void cnn_comm_sum_i64(int64_t *buf, size_t n) { (void)buf; (void)n; }
void cnn_comm_max_int(int *buf, size_t n) { (void)buf; (void)n; }
void cnn_comm_min_u64(uint64_t *buf, size_t n) { (void)buf; (void)n; }
void cnn_comm_max_u64(uint64_t *buf, size_t n) { (void)buf; (void)n; }
int cnn_comm_any(int flag) { return flag != 0; }

CnnCommReq *cnn_comm_isum_float(float *buf, size_t n)
{
    (void)buf;
    (void)n;
    return cnn_calloc(1, sizeof(CnnCommReq));
}
CnnCommReq *cnn_comm_isum_i64(int64_t *buf, size_t n)
{
    (void)buf;
    (void)n;
    return cnn_calloc(1, sizeof(CnnCommReq));
}
double cnn_comm_wait(CnnCommReq *r)
{
    free(r);
    return 0.0;
}
void cnn_comm_progress(CnnCommReq *r) { (void)r; }
