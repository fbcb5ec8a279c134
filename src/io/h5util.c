/* h5util: silencing HDF5's error stack for the duration of a call and extracting its innermost
 * reason, the seal (size and CRC-32 in the user block) and the durable commit, shared by checkpoint and
 * metrics (see include/cnn/io/h5util.h). */
#include "cnn/io/h5util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <zlib.h>

/* HDF5 closes whatever is still open when the process exits. A file whose close failed (a full disk)
 * stays half-open inside HDF5, and that exit-time close then crashes in H5F__close_cb (seen with HDF5
 * 1.10.8). Every file cnn-dist writes is closed, and complete, before its name is given, so nothing is
 * lost by skipping it: tell HDF5 before its first use. */
__attribute__((constructor)) static void no_close_at_exit(void) { H5dont_atexit(); }

void cnn_h5_silence(CnnH5Silence *s)
{
    H5Eget_auto2(H5E_DEFAULT, &s->func, &s->data);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

void cnn_h5_restore(const CnnH5Silence *s)
{
    H5Eclear2(H5E_DEFAULT);
    H5Eset_auto2(H5E_DEFAULT, s->func, s->data);
}

typedef struct {
    char *buf;
    size_t n;
} Reason;

/* Walking upward, entry 0 is the innermost one: where HDF5 detected the problem. */
static herr_t reason_cb(unsigned n, const H5E_error2_t *e, void *client)
{
    Reason *r = client;
    if (n == 0 && e->desc) snprintf(r->buf, r->n, "%s", e->desc);
    return 0;
}

const char *cnn_h5_reason(char *buf, size_t n)
{
    Reason r = {buf, n};
    snprintf(buf, n, "unknown HDF5 error");
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, reason_cb, &r);
    H5Eclear2(H5E_DEFAULT);
    return buf;
}

const char *cnn_h5_write_reason(char *buf, size_t n, int os_errno)
{
    switch (os_errno) {
    case ENOSPC:
    case EDQUOT:
    case EROFS:
    case EIO:
    case EFBIG:
    case EACCES:
    case EPERM:
        H5Eclear2(H5E_DEFAULT);
        snprintf(buf, n, "%s", strerror(os_errno));
        return buf;
    default:
        return cnn_h5_reason(buf, n);
    }
}

#define SEAL_MAGIC "cnn-dist sealed file v1\n"

hid_t cnn_h5_sealed_fcpl(void)
{
    hid_t p = H5Pcreate(H5P_FILE_CREATE);
    H5Pset_userblock(p, CNN_SEAL_BYTES);
    return p;
}

/* Size and CRC-32 of path's bytes after the user block; -1 on a read error. */
static int crc_after_block(const char *path, uint64_t *size, uint32_t *crc)
{
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    static unsigned char buf[1 << 16];
    uLong c = crc32(0L, Z_NULL, 0);
    uint64_t n = 0;
    int rc = fseek(f, CNN_SEAL_BYTES, SEEK_SET);
    size_t got;
    while (rc == 0 && (got = fread(buf, 1, sizeof buf, f)) > 0) {
        c = crc32(c, buf, (uInt)got);
        n += got;
    }
    if (ferror(f)) rc = -1;
    fclose(f);
    *size = n;
    *crc = (uint32_t)c;
    return rc;
}

int cnn_io_seal(const char *path, CnnErr *err)
{
    uint64_t size;
    uint32_t crc;
    if (crc_after_block(path, &size, &crc)) return cnn_err(err, "%s: cannot read it back to seal it: %s", path, strerror(errno));
    char block[CNN_SEAL_BYTES];
    memset(block, 0, sizeof block);
    snprintf(block, sizeof block, SEAL_MAGIC "size %llu crc32 %08x\n", (unsigned long long)size, (unsigned)crc);
    FILE *f = fopen(path, "r+b");
    if (!f || fwrite(block, 1, sizeof block, f) != sizeof block) {
        const int e = errno;
        if (f) fclose(f);
        return cnn_err(err, "%s: cannot seal it: %s", path, strerror(e));
    }
    if (fclose(f) != 0) return cnn_err(err, "%s: cannot seal it: %s", path, strerror(errno));
    return 0;
}

int cnn_io_check_seal(const char *path, CnnErr *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) return 0; /* the caller's open says why */
    char block[CNN_SEAL_BYTES + 1];
    const size_t got = fread(block, 1, CNN_SEAL_BYTES, f);
    fclose(f);
    block[got] = 0;
    if (got < strlen(SEAL_MAGIC) || memcmp(block, SEAL_MAGIC, strlen(SEAL_MAGIC)) != 0) return 0; /* not sealed */
    unsigned long long want_size;
    unsigned want_crc;
    if (got < CNN_SEAL_BYTES ||
        sscanf(block + strlen(SEAL_MAGIC), "size %llu crc32 %x", &want_size, &want_crc) != 2)
        return cnn_err(err, "%s: damaged: its seal (the first %d bytes) is unreadable", path, CNN_SEAL_BYTES);
    uint64_t size;
    uint32_t crc;
    if (crc_after_block(path, &size, &crc)) return cnn_err(err, "%s: read error: %s", path, strerror(errno));
    if (size != want_size)
        return cnn_err(err, "%s: damaged: %llu bytes after its header, %llu when it was written (truncated?)", path,
                       (unsigned long long)size, want_size);
    if (crc != want_crc)
        return cnn_err(err, "%s: damaged: its contents' CRC-32 is %08x, %08x when it was written", path, (unsigned)crc,
                       want_crc);
    return 0;
}

static int fsync_path(const char *path, int flags)
{
    int fd = open(path, flags);
    if (fd < 0) return -1;
    int rc = fsync(fd);
    int e = errno;
    close(fd);
    errno = e;
    return rc;
}

int cnn_io_commit(const char *tmp, const char *final, const char *dir, CnnErr *err)
{
    if (fsync_path(tmp, O_RDONLY) != 0) {
        cnn_err(err, "%s: fsync failed: %s", tmp, strerror(errno));
        unlink(tmp);
        return -1;
    }
    if (rename(tmp, final) != 0) {
        cnn_err(err, "%s: cannot rename to %s: %s", tmp, final, strerror(errno));
        unlink(tmp);
        return -1;
    }
    /* the rename is durable only once the directory entry is */
    if (fsync_path(dir, O_RDONLY | O_DIRECTORY) != 0)
        return cnn_err(err, "%s: fsync of the directory failed: %s", dir, strerror(errno));
    return 0;
}

int cnn_h5_attr_write(hid_t loc, const char *name, hid_t ftype, hid_t mtype, const void *v)
{
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(loc, name, ftype, sp, H5P_DEFAULT, H5P_DEFAULT);
    int rc = a < 0 || H5Awrite(a, mtype, v) < 0 ? -1 : 0;
    if (a >= 0 && H5Aclose(a) < 0) rc = -1;
    H5Sclose(sp);
    return rc;
}

int cnn_h5_attr_write_str(hid_t loc, const char *name, const char *s)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    int rc = cnn_h5_attr_write(loc, name, t, t, &s);
    H5Tclose(t);
    return rc;
}

void cnn_h5_version(char *buf, size_t n)
{
    unsigned maj = 0, min = 0, rel = 0;
    H5get_libversion(&maj, &min, &rel);
    snprintf(buf, n, "%u.%u.%u", maj, min, rel);
}
