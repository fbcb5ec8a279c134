/* h5util: what checkpoint and metrics share: the HDF5 error-stack habits, and the atomic commit of a
 * finished temp file under its final name.
 *
 * HDF5 prints its whole error stack to stderr by default. A public io function silences it for its
 * own duration (cnn_h5_silence ... cnn_h5_restore, which puts back whatever handler the caller had)
 * and turns a failure into a CnnErr that names the file and carries HDF5's innermost reason
 * (cnn_h5_reason). Only io modules include this header: it pulls in hdf5.h. */
#ifndef CNN_H5UTIL_H
#define CNN_H5UTIL_H

#include <stddef.h>

#include <hdf5.h>

#include "cnn/util.h"

/* The caller's automatic error handler, saved while it is switched off. */
typedef struct {
    H5E_auto2_t func;
    void *data;
} CnnH5Silence;

/* Saves the current handler into s and switches printing off. */
void cnn_h5_silence(CnnH5Silence *s);
/* Clears the error stack and puts s's handler back. */
void cnn_h5_restore(const CnnH5Silence *s);

/* Writes HDF5's innermost error description (where the problem was detected, e.g. a checksum)
 * into buf, or "unknown HDF5 error" when the stack is empty; clears the stack; returns buf. */
const char *cnn_h5_reason(char *buf, size_t n);
/* The same for a failed write, where the operating system's reason is the one a user can act on: when
 * os_errno (errno right after the failing call, cleared before it) is a storage error (no space, quota,
 * read-only file system, I/O error, file too large, permission), its text, else cnn_h5_reason. */
const char *cnn_h5_write_reason(char *buf, size_t n, int os_errno);

/* A scalar attribute of file type ftype from memory of type mtype; 0 or -1. */
int cnn_h5_attr_write(hid_t loc, const char *name, hid_t ftype, hid_t mtype, const void *v);
/* A variable-length UTF-8 string attribute, which h5py reads back as str; 0 or -1. */
int cnn_h5_attr_write_str(hid_t loc, const char *name, const char *s);
/* "1.10.8": the HDF5 library linked in. */
void cnn_h5_version(char *buf, size_t n);

/* Sealed files. Checkpoints and metrics.h5 begin with a 512-byte HDF5 user block (HDF5 and every tool
 * skip it) that holds, once the file is complete, the size and CRC-32 (zlib) of everything after it.
 * A reader checks them before HDF5 parses a byte: a damaged or truncated file is refused with a clear
 * message, never handed to a parser that may crash on it. Files without a seal (older versions, or
 * written by other tools) are read as before. */
#define CNN_SEAL_BYTES 512
/* A file-creation property list with room for the seal (close it with H5Pclose). */
hid_t cnn_h5_sealed_fcpl(void);
/* Writes the seal of a complete, closed file. */
int cnn_io_seal(const char *path, CnnErr *err);
/* 0 if path is sealed and intact, or not sealed; -1 (err: what is wrong) if its seal does not match. */
int cnn_io_check_seal(const char *path, CnnErr *err);

/* Makes tmp (a complete, closed file) the file `final` in directory dir, durably: fsync tmp, rename it,
 * fsync dir. On failure tmp is removed, `final` is untouched, and err names the step that failed. */
int cnn_io_commit(const char *tmp, const char *final, const char *dir, CnnErr *err);

#endif
