/* version: what produced a result. The version is set at build time (git describe, or the VERSION file
 * of a release tarball); the libraries are asked at run time. */
#ifndef CNN_VERSION_H
#define CNN_VERSION_H

#include <stddef.h>

#include "cnn/cpu.h"

const char *cnn_version(void);
/* The libraries' own versions, asked once: "OpenBLAS 0.3.21", "1.10.8", the MPI library's first line. */
typedef struct {
    char blas[64], hdf5[32], mpi[256];
} CnnLibVersions;
void cnn_lib_versions(CnnLibVersions *v);
/* One line: "cnn-dist 0.9.0-12-gabc1234; avx512 kernels; OpenBLAS 0.3.21 (Haswell); HDF5 1.10.8;
 * Open MPI v4.1.4" (the MPI library's own first line). Checkpoints and metrics.h5 store it as the root
 * attribute "producer". */
void cnn_version_line(char *buf, size_t n, CnnIsa isa);

#endif
