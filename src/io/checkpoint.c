/* checkpoint: the HDF5 checkpoint file (layout in include/cnn/io/checkpoint.h and README.md), its atomic
 * write (tmp file, fsync, rename, directory fsync, then prune to the newest `keep`), its
 * validating read (format, version, every tensor's presence and shape, Fletcher32 checksums), and
 * the listing of ckpt-<step>.h5 files in a directory.
 *
 * HDF5 prints its error stack to stderr by default; every public function here silences it for its
 * own duration (and restores the caller's handler), and turns a failure into a CnnErr that names the
 * file, the object and HDF5's innermost reason (helpers shared with metrics in h5util). */
#include "cnn/io/checkpoint.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <hdf5.h>

#include "cnn/io/h5util.h"

#define CKPT_FORMAT "cnn-dist checkpoint"
#define CKPT_VERSION 1
/* Bound on one chunk's bytes: HDF5 caps chunks at 4 GiB, and a checksum per MiB keeps a read of a
 * damaged file from touching more than it has to. */
#define CKPT_CHUNK_BYTES (1u << 20)

/* ---- attributes ---- */

static int attr_write_i64(hid_t loc, const char *name, int64_t v)
{
    return cnn_h5_attr_write(loc, name, H5T_STD_I64LE, H5T_NATIVE_INT64, &v);
}

static int attr_write_u64(hid_t loc, const char *name, uint64_t v)
{
    return cnn_h5_attr_write(loc, name, H5T_STD_U64LE, H5T_NATIVE_UINT64, &v);
}

static int attr_write_f64(hid_t loc, const char *name, double v)
{
    return cnn_h5_attr_write(loc, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &v);
}


/* The reads below fill err as "<path>: <obj> ..." and return -1 when the attribute is missing or
 * unreadable. */
static hid_t attr_open(const char *path, hid_t loc, const char *obj, const char *name, CnnErr *err)
{
    htri_t ex = H5Aexists(loc, name);
    if (ex <= 0) {
        char why[256];
        cnn_h5_reason(why, sizeof why);
        return cnn_err(err, "%s: %s has no attribute '%s'", path, obj, name);
    }
    hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
    if (a < 0) {
        char why[256];
        return cnn_err(err, "%s: %s: cannot open attribute '%s' (%s)", path, obj, name,
                       cnn_h5_reason(why, sizeof why));
    }
    return a;
}

static int attr_read_num(const char *path, hid_t loc, const char *obj, const char *name, hid_t mtype,
                         void *v, CnnErr *err)
{
    hid_t a = attr_open(path, loc, obj, name, err);
    if (a < 0) return -1;
    hid_t t = H5Aget_type(a);
    H5T_class_t cls = H5Tget_class(t);
    H5Tclose(t);
    int rc = 0;
    if (cls != H5T_INTEGER && cls != H5T_FLOAT) {
        rc = cnn_err(err, "%s: %s: attribute '%s' is not a number", path, obj, name);
    } else if (H5Aread(a, mtype, v) < 0) {
        char why[256];
        rc = cnn_err(err, "%s: %s: cannot read attribute '%s' (%s)", path, obj, name,
                     cnn_h5_reason(why, sizeof why));
    }
    H5Aclose(a);
    return rc;
}

/* Reads a fixed- or variable-length string attribute into a malloc'd C string. */
static char *attr_read_str(const char *path, hid_t loc, const char *obj, const char *name, CnnErr *err)
{
    hid_t a = attr_open(path, loc, obj, name, err);
    if (a < 0) return NULL;
    hid_t ft = H5Aget_type(a);
    char *out = NULL;
    char why[256];
    if (H5Tget_class(ft) != H5T_STRING) {
        cnn_err(err, "%s: %s: attribute '%s' is not a string", path, obj, name);
    } else if (H5Tis_variable_str(ft) > 0) {
        hid_t mt = H5Tcopy(H5T_C_S1);
        H5Tset_size(mt, H5T_VARIABLE);
        H5Tset_cset(mt, H5Tget_cset(ft));
        char *s = NULL;
        if (H5Aread(a, mt, &s) < 0) {
            cnn_err(err, "%s: %s: cannot read attribute '%s' (%s)", path, obj, name,
                    cnn_h5_reason(why, sizeof why));
        } else {
            out = strdup(s ? s : "");
            if (!out) CNN_DIE("out of memory");
            H5free_memory(s);
        }
        H5Tclose(mt);
    } else {
        size_t n = H5Tget_size(ft);
        hid_t mt = H5Tcopy(H5T_C_S1);
        H5Tset_size(mt, n + 1); /* room for the terminator whatever the file's padding */
        H5Tset_strpad(mt, H5T_STR_NULLTERM);
        out = cnn_calloc(n + 2, 1);
        if (H5Aread(a, mt, out) < 0) {
            cnn_err(err, "%s: %s: cannot read attribute '%s' (%s)", path, obj, name,
                    cnn_h5_reason(why, sizeof why));
            free(out);
            out = NULL;
        }
        H5Tclose(mt);
    }
    H5Tclose(ft);
    H5Aclose(a);
    return out;
}

/* ---- objects ---- */

/* H5Lexists fails rather than answering 0 when an intermediate group is missing, so walk the path
 * one component at a time. */
static int link_exists(hid_t file, const char *obj)
{
    char buf[512];
    size_t n = strlen(obj);
    if (n >= sizeof buf) return 0;
    memcpy(buf, obj, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] != '/' && buf[i] != '\0') continue;
        char c = buf[i];
        buf[i] = '\0';
        htri_t ex = H5Lexists(file, buf, H5P_DEFAULT);
        buf[i] = c;
        if (ex <= 0) return 0;
    }
    return 1;
}

static void fmt_dims(char *buf, size_t n, int rank, const hsize_t *dims)
{
    size_t k = 0;
    k += (size_t)snprintf(buf + k, n - k, "[");
    for (int i = 0; i < rank && k < n; i++)
        k += (size_t)snprintf(buf + k, n - k, "%s%llu", i ? "," : "", (unsigned long long)dims[i]);
    if (k < n) snprintf(buf + k, n - k, "]");
}

static void tensor_dims(const CnnTensorInfo *t, hsize_t *dims)
{
    CNN_ASSERT(t->rank >= 1 && t->rank <= 4);
    size_t count = 1;
    for (int i = 0; i < t->rank; i++) {
        CNN_ASSERT(t->dims[i] > 0);
        dims[i] = (hsize_t)t->dims[i];
        count = cnn_mul_size(count, (size_t)t->dims[i]);
    }
    CNN_ASSERT(count == t->count);
}

/* One float32 dataset at obj (intermediate groups created), chunked with Fletcher32. */
/* The tensors that have optimizer slots: the first n_slot_tensors (every one when 0). */
static int slot_tensors(const CnnCkptData *d) { return d->n_slot_tensors ? d->n_slot_tensors : d->n_tensors; }

static int write_tensor(hid_t file, const char *obj, const CnnTensorInfo *t, const float *base)
{
    hsize_t dims[4], chunk[4];
    tensor_dims(t, dims);
    /* chunk = the whole tensor, halving the leading dimensions until it fits the bound */
    size_t bytes = sizeof(float);
    for (int i = 0; i < t->rank; i++) {
        chunk[i] = dims[i];
        bytes *= (size_t)dims[i];
    }
    for (int i = 0; i < t->rank && bytes > CKPT_CHUNK_BYTES; i++) {
        while (chunk[i] > 1 && bytes > CKPT_CHUNK_BYTES) {
            bytes = bytes / (size_t)chunk[i] * (size_t)((chunk[i] + 1) / 2);
            chunk[i] = (chunk[i] + 1) / 2;
        }
    }
    hid_t sp = H5Screate_simple(t->rank, dims, NULL);
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    int rc = H5Pset_chunk(dcpl, t->rank, chunk) < 0 || H5Pset_fletcher32(dcpl) < 0 ? -1 : 0;
    hid_t ds = rc ? -1 : H5Dcreate2(file, obj, H5T_IEEE_F32LE, sp, lcpl, dcpl, H5P_DEFAULT);
    if (ds < 0 || H5Dwrite(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, base + t->offset) < 0)
        rc = -1;
    if (ds >= 0 && H5Dclose(ds) < 0) rc = -1;
    H5Pclose(dcpl);
    H5Pclose(lcpl);
    H5Sclose(sp);
    return rc;
}

/* Checks presence, type class and shape of obj against t, then reads it into base + offset. */
static int read_tensor(const char *path, hid_t file, const char *obj, const CnnTensorInfo *t,
                       float *base, const char *hint, CnnErr *err)
{
    hsize_t want[4], got[H5S_MAX_RANK];
    char why[256], ws[128], gs[128];
    tensor_dims(t, want);
    if (!link_exists(file, obj)) return cnn_err(err, "%s: %s is missing%s", path, obj, hint);
    hid_t ds = H5Dopen2(file, obj, H5P_DEFAULT);
    if (ds < 0)
        return cnn_err(err, "%s: %s: cannot open dataset (%s)", path, obj,
                       cnn_h5_reason(why, sizeof why));
    int rc = 0;
    hid_t sp = H5Dget_space(ds);
    hid_t ty = H5Dget_type(ds);
    int rank = H5Sget_simple_extent_ndims(sp);
    int same = rank == t->rank;
    if (rank >= 1 && rank <= H5S_MAX_RANK) {
        H5Sget_simple_extent_dims(sp, got, NULL);
        for (int i = 0; same && i < rank; i++) same = got[i] == want[i];
    }
    if (H5Tget_class(ty) != H5T_FLOAT) {
        rc = cnn_err(err, "%s: %s is not a floating-point dataset", path, obj);
    } else if (!same) {
        fmt_dims(gs, sizeof gs, rank < 0 ? 0 : rank, got);
        fmt_dims(ws, sizeof ws, t->rank, want);
        rc = cnn_err(err, "%s: %s has shape %s, the config wants %s", path, obj, gs, ws);
    } else if (H5Dread(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, base + t->offset) < 0) {
        rc = cnn_err(err, "%s: %s: data cannot be read, the file is damaged (%s)", path, obj,
                     cnn_h5_reason(why, sizeof why));
    }
    H5Tclose(ty);
    H5Sclose(sp);
    H5Dclose(ds);
    return rc;
}

/* ---- files and directories ---- */

void cnn_ckpt_path(char *buf, size_t n, const char *dir, long step)
{
    snprintf(buf, n, "%s/ckpt-%ld.h5", dir, step);
}



/* "ckpt-<digits>.h5" (tmp = 0) or "ckpt-<digits>.h5.tmp" (tmp = 1) → step, else -1. */
static long parse_name(const char *name, int tmp)
{
    if (strncmp(name, "ckpt-", 5) != 0) return -1;
    const char *p = name + 5;
    if (*p < '0' || *p > '9') return -1;
    errno = 0;
    char *end;
    long step = strtol(p, &end, 10);
    if (errno == ERANGE) return -1;
    return strcmp(end, tmp ? ".h5.tmp" : ".h5") == 0 ? step : -1;
}

static int cmp_desc(const void *a, const void *b)
{
    long x = *(const long *)a, y = *(const long *)b;
    return (x < y) - (x > y);
}

/* All checkpoint steps in dir, newest first, malloc'd; *n gets the count (0 if dir is unreadable). */
static long *scan_steps(const char *dir, int *n)
{
    *n = 0;
    DIR *d = opendir(dir);
    if (!d) return NULL;
    int cap = 16;
    long *steps = cnn_malloc(sizeof *steps * (size_t)cap);
    struct dirent *e;
    while ((e = readdir(d))) {
        long s = parse_name(e->d_name, 0);
        if (s < 0) continue;
        if (*n == cap) {
            cap *= 2;
            steps = realloc(steps, sizeof *steps * (size_t)cap);
            if (!steps) CNN_DIE("out of memory");
        }
        steps[(*n)++] = s;
    }
    closedir(d);
    qsort(steps, (size_t)*n, sizeof *steps, cmp_desc);
    return steps;
}

int cnn_ckpt_list(const char *dir, long *steps, int max)
{
    int n;
    long *all = scan_steps(dir, &n);
    if (n > max) n = max;
    if (n > 0) memcpy(steps, all, sizeof *steps * (size_t)n);
    free(all);
    return n;
}

/* Removes stale .tmp files (a writer killed mid-write) and all but the newest `keep` checkpoints,
 * never `just_written` (which may not be the newest when a run resumed from an older file). Only files
 * that open as checkpoints count: a junk or truncated file named like one is neither counted towards
 * `keep` (which would leave fewer good checkpoints than asked for) nor removed. Failing to unlink only
 * leaves an extra file, so it is not an error. */
static void prune(const char *dir, int keep, long just_written)
{
    char p[PATH_MAX];
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d))) {
            if (parse_name(e->d_name, 1) < 0) continue;
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            unlink(p);
        }
        closedir(d);
    }
    if (keep <= 0) return;
    int n, good = 0;
    long *steps = scan_steps(dir, &n);
    for (int i = 0; i < n; i++) {
        cnn_ckpt_path(p, sizeof p, dir, steps[i]);
        CnnCkptMeta m;
        CnnErr e;
        if (steps[i] != just_written) {
            if (cnn_ckpt_read_meta(p, &m, &e) != 0) continue;
            cnn_ckpt_meta_free(&m);
        }
        if (good++ >= keep && steps[i] != just_written) unlink(p);
    }
    free(steps);
}

/* ---- write ---- */

/* A full copy of the parameters carved by d's tensors (train.ema's average, lookahead's copy) under
 * group/<layer>/<tensor>; nothing when copy is NULL. */
static int write_copy(hid_t f, const char *group, const CnnCkptData *d, const float *copy)
{
    char obj[512];
    for (int i = 0; copy && i < d->n_tensors; i++) {
        snprintf(obj, sizeof obj, "%s/%s", group, d->tensors[i].name);
        if (write_tensor(f, obj, &d->tensors[i], copy) < 0) return -1;
    }
    return 0;
}

static int read_copy(const char *path, hid_t f, const char *group, const CnnCkptData *d, float *copy, CnnErr *err)
{
    char obj[512];
    int rc = 0;
    for (int i = 0; rc == 0 && copy && i < d->n_tensors; i++) {
        snprintf(obj, sizeof obj, "%s/%s", group, d->tensors[i].name);
        rc = read_tensor(path, f, obj, &d->tensors[i], copy, "", err);
    }
    return rc;
}

static int write_contents(hid_t f, const CnnCkptMeta *meta, const CnnCkptData *d)
{
    char obj[512];
    hid_t root = f;
    if (cnn_h5_attr_write_str(root, "format", CKPT_FORMAT) < 0) return -1;
    if (attr_write_i64(root, "version", CKPT_VERSION) < 0) return -1;
    if (attr_write_i64(root, "step", meta->step) < 0) return -1;
    if (attr_write_i64(root, "epoch", meta->epoch) < 0) return -1;
    if (attr_write_i64(root, "world_size", meta->world_size) < 0) return -1;
    if (attr_write_u64(root, "seed", meta->seed) < 0) return -1;
    if (cnn_h5_attr_write_str(root, "config", meta->config ? meta->config : "") < 0) return -1;
    if (attr_write_u64(root, "model_hash", meta->model_hash) < 0) return -1;
    if (cnn_h5_attr_write_str(root, "optimizer", meta->optimizer) < 0) return -1;
    if (cnn_h5_attr_write_str(root, "isa", meta->isa) < 0) return -1;
    if (cnn_h5_attr_write_str(root, "kernels", meta->kernels) < 0) return -1;
    if (cnn_h5_attr_write_str(root, "openblas_core", meta->openblas_core) < 0) return -1;
    if (meta->producer[0] && cnn_h5_attr_write_str(root, "producer", meta->producer) < 0) return -1;

    for (int i = 0; i < d->n_tensors; i++) {
        snprintf(obj, sizeof obj, "/params/%s", d->tensors[i].name);
        if (write_tensor(f, obj, &d->tensors[i], d->params) < 0) return -1;
    }
    snprintf(obj, sizeof obj, "/optimizer/%s", meta->optimizer);
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    hid_t g = H5Gcreate2(f, obj, lcpl, H5P_DEFAULT, H5P_DEFAULT);
    H5Pclose(lcpl);
    if (g < 0) return -1;
    int rc = attr_write_i64(g, "t", meta->optim_t);
    if (H5Gclose(g) < 0 || rc < 0) return -1;
    for (int s = 0; s < d->n_slots; s++) {
        for (int i = 0; i < slot_tensors(d); i++) {
            snprintf(obj, sizeof obj, "/optimizer/%s/%s/%s", meta->optimizer, d->slot_names[s],
                     d->tensors[i].name);
            if (write_tensor(f, obj, &d->tensors[i], d->slots[s]) < 0) return -1;
        }
    }
    if (write_copy(f, "/ema", d, d->ema) < 0 || write_copy(f, "/lookahead", d, d->lookahead) < 0) return -1;
    g = H5Gcreate2(f, "/state", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (g < 0) return -1;
    rc = attr_write_i64(g, "sampler_step", meta->step) < 0 ||
                 attr_write_i64(g, "samples_seen", meta->samples_seen) < 0 ||
                 attr_write_f64(g, "lr", meta->lr) < 0
             ? -1
             : 0;
    if (rc == 0 && meta->n_grad_exps > 0) {
        hsize_t n = (hsize_t)meta->n_grad_exps;
        hid_t sp = H5Screate_simple(1, &n, NULL);
        hid_t a = H5Acreate2(g, "grad_exponents", H5T_STD_I32LE, sp, H5P_DEFAULT, H5P_DEFAULT);
        if (a < 0 || H5Awrite(a, H5T_NATIVE_INT, meta->grad_exps) < 0) rc = -1;
        if (a >= 0 && H5Aclose(a) < 0) rc = -1;
        H5Sclose(sp);
    }
    if (H5Gclose(g) < 0) rc = -1;
    return rc;
}

int cnn_ckpt_write(const char *dir, const CnnCkptMeta *meta, const CnnCkptData *d, int keep,
                   char *path_out, size_t path_n, CnnErr *err)
{
    char final[PATH_MAX], tmp[PATH_MAX + 8], why[256];
    CNN_ASSERT(d->n_slots >= 0 && d->n_slots <= 4);
    CNN_ASSERT(strlen(meta->optimizer) > 0 && !strchr(meta->optimizer, '/'));
    if (cnn_mkdir_p(dir, err) < 0) return -1;
    cnn_ckpt_path(final, sizeof final, dir, meta->step);
    snprintf(tmp, sizeof tmp, "%s.tmp", final);

    CnnH5Silence g;
    cnn_h5_silence(&g);
    errno = 0;
    const hid_t fcpl = cnn_h5_sealed_fcpl();
    hid_t f = H5Fcreate(tmp, H5F_ACC_TRUNC, fcpl, H5P_DEFAULT);
    H5Pclose(fcpl);
    if (f < 0) {
        cnn_err(err, "%s: cannot create checkpoint: %s", tmp, cnn_h5_write_reason(why, sizeof why, errno));
        cnn_h5_restore(&g);
        unlink(tmp);
        return -1;
    }
    errno = 0;
    int rc = write_contents(f, meta, d);
    if (rc < 0) cnn_h5_write_reason(why, sizeof why, errno);
    /* closing flushes: a full disk shows up here */
    errno = 0;
    if (H5Fclose(f) < 0 && rc == 0) {
        rc = -1;
        cnn_h5_write_reason(why, sizeof why, errno);
    }
    cnn_h5_restore(&g);
    if (rc < 0) {
        unlink(tmp);
        return cnn_err(err, "%s: cannot write checkpoint: %s (the earlier checkpoints are untouched)", tmp, why);
    }
    if (cnn_io_seal(tmp, err)) {
        unlink(tmp);
        return -1;
    }
    if (cnn_io_commit(tmp, final, dir, err)) return -1;
    prune(dir, keep, meta->step);
    if (path_out) snprintf(path_out, path_n, "%s", final);
    return 0;
}

/* ---- read ---- */

static int read_meta_open(const char *path, hid_t f, CnnCkptMeta *meta, CnnErr *err)
{
    char *fmt = attr_read_str(path, f, "/", "format", err);
    if (!fmt) return -1;
    int ok = strcmp(fmt, CKPT_FORMAT) == 0;
    if (!ok) cnn_err(err, "%s: format attribute is '%.64s', not '%s'", path, fmt, CKPT_FORMAT);
    free(fmt);
    if (!ok) return -1;
    int64_t v;
    if (attr_read_num(path, f, "/", "version", H5T_NATIVE_INT64, &v, err) < 0) return -1;
    if (v != CKPT_VERSION)
        return cnn_err(err, "%s: checkpoint version %lld, this program reads version %d", path,
                       (long long)v, CKPT_VERSION);
    if (attr_read_num(path, f, "/", "step", H5T_NATIVE_INT64, &v, err) < 0) return -1;
    meta->step = (long)v;
    if (attr_read_num(path, f, "/", "epoch", H5T_NATIVE_INT64, &v, err) < 0) return -1;
    meta->epoch = (long)v;
    if (attr_read_num(path, f, "/", "world_size", H5T_NATIVE_INT64, &v, err) < 0) return -1;
    meta->world_size = (int)v;
    if (attr_read_num(path, f, "/", "seed", H5T_NATIVE_UINT64, &meta->seed, err) < 0) return -1;
    if (attr_read_num(path, f, "/", "model_hash", H5T_NATIVE_UINT64, &meta->model_hash, err) < 0)
        return -1;
    char *opt = attr_read_str(path, f, "/", "optimizer", err);
    if (!opt) return -1;
    ok = strlen(opt) > 0 && strlen(opt) < sizeof meta->optimizer && !strchr(opt, '/');
    if (ok) snprintf(meta->optimizer, sizeof meta->optimizer, "%s", opt);
    else cnn_err(err, "%s: optimizer attribute '%.64s' is not a known optimizer name", path, opt);
    free(opt);
    if (!ok) return -1;
    meta->has_ema = link_exists(f, "/ema");
    meta->has_lookahead = link_exists(f, "/lookahead");
    /* what trained it: optional, files of older versions do not say */
    static const struct {
        const char *name;
        size_t off, cap;
    } info[] = {{"isa", offsetof(CnnCkptMeta, isa), sizeof meta->isa},
                {"kernels", offsetof(CnnCkptMeta, kernels), sizeof meta->kernels},
                {"openblas_core", offsetof(CnnCkptMeta, openblas_core), sizeof meta->openblas_core},
                {"producer", offsetof(CnnCkptMeta, producer), sizeof meta->producer}};
    for (size_t i = 0; i < sizeof info / sizeof info[0]; i++) {
        char *dst = (char *)meta + info[i].off;
        dst[0] = 0;
        if (H5Aexists(f, info[i].name) <= 0) continue;
        char *sv = attr_read_str(path, f, "/", info[i].name, err);
        if (!sv) return -1;
        snprintf(dst, info[i].cap, "%s", sv);
        free(sv);
    }

    /* The update count and the schedule position live beside the tensors they describe, but they
     * are attributes too, so read_meta fills them (no dataset is touched). */
    char obj[64];
    snprintf(obj, sizeof obj, "/optimizer/%s", meta->optimizer);
    if (!link_exists(f, obj)) return cnn_err(err, "%s: %s is missing", path, obj);
    hid_t g = H5Gopen2(f, obj, H5P_DEFAULT);
    if (g < 0) return cnn_err(err, "%s: %s cannot be opened", path, obj);
    int rc = attr_read_num(path, g, obj, "t", H5T_NATIVE_INT64, &v, err);
    H5Gclose(g);
    if (rc < 0) return -1;
    meta->optim_t = (long)v;
    if (!link_exists(f, "/state")) return cnn_err(err, "%s: /state is missing", path);
    g = H5Gopen2(f, "/state", H5P_DEFAULT);
    if (g < 0) return cnn_err(err, "%s: /state cannot be opened", path);
    rc = attr_read_num(path, g, "/state", "samples_seen", H5T_NATIVE_INT64, &v, err);
    meta->samples_seen = (long)v;
    if (rc == 0) rc = attr_read_num(path, g, "/state", "lr", H5T_NATIVE_DOUBLE, &meta->lr, err);
    meta->n_grad_exps = 0;
    if (rc == 0 && H5Aexists(g, "grad_exponents") > 0) {
        hid_t a = H5Aopen(g, "grad_exponents", H5P_DEFAULT);
        hid_t sp = a >= 0 ? H5Aget_space(a) : -1;
        hssize_t n = sp >= 0 ? H5Sget_simple_extent_npoints(sp) : -1;
        if (n < 0 || n > 2 * CNN_MAX_LAYERS || H5Aread(a, H5T_NATIVE_INT, meta->grad_exps) < 0)
            rc = cnn_err(err, "%s: /state attribute grad_exponents is unreadable", path);
        else
            meta->n_grad_exps = (int)n;
        if (sp >= 0) H5Sclose(sp);
        if (a >= 0) H5Aclose(a);
    }
    H5Gclose(g);
    if (rc < 0) return -1;

    meta->config = attr_read_str(path, f, "/", "config", err);
    return meta->config ? 0 : -1;
}

static hid_t open_ro(const char *path, CnnErr *err)
{
    char why[256];
    if (access(path, R_OK) != 0) return cnn_err(err, "%s: %s", path, strerror(errno));
    if (cnn_io_check_seal(path, err)) return -1;
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0)
        return cnn_err(err, "%s: not a readable HDF5 checkpoint, truncated or damaged (%s)", path,
                       cnn_h5_reason(why, sizeof why));
    return f;
}

int cnn_ckpt_read_meta(const char *path, CnnCkptMeta *meta, CnnErr *err)
{
    memset(meta, 0, sizeof *meta);
    CnnH5Silence g;
    cnn_h5_silence(&g);
    hid_t f = open_ro(path, err);
    int rc = f < 0 ? -1 : read_meta_open(path, f, meta, err);
    if (f >= 0) H5Fclose(f);
    cnn_h5_restore(&g);
    if (rc < 0) cnn_ckpt_meta_free(meta);
    return rc;
}

int cnn_ckpt_read(const char *path, CnnCkptMeta *meta, const CnnCkptData *d, CnnErr *err)
{
    memset(meta, 0, sizeof *meta);
    CNN_ASSERT(d->n_slots >= 0 && d->n_slots <= 4);
    CnnH5Silence g;
    cnn_h5_silence(&g);
    hid_t f = open_ro(path, err);
    int rc = f < 0 ? -1 : read_meta_open(path, f, meta, err);
    char obj[512], hint[128];
    for (int i = 0; rc == 0 && i < d->n_tensors; i++) {
        snprintf(obj, sizeof obj, "/params/%s", d->tensors[i].name);
        rc = read_tensor(path, f, obj, &d->tensors[i], d->params, "", err);
    }
    snprintf(hint, sizeof hint, " (the checkpoint was written with optimizer '%s')", meta->optimizer);
    for (int s = 0; rc == 0 && s < d->n_slots; s++) {
        for (int i = 0; rc == 0 && i < slot_tensors(d); i++) {
            snprintf(obj, sizeof obj, "/optimizer/%s/%s/%s", meta->optimizer, d->slot_names[s],
                     d->tensors[i].name);
            rc = read_tensor(path, f, obj, &d->tensors[i], d->slots[s], hint, err);
        }
    }
    if (rc == 0 && meta->has_ema) rc = read_copy(path, f, "/ema", d, d->ema, err);
    if (rc == 0 && meta->has_lookahead) rc = read_copy(path, f, "/lookahead", d, d->lookahead, err);
    if (f >= 0) H5Fclose(f);
    cnn_h5_restore(&g);
    if (rc < 0) cnn_ckpt_meta_free(meta);
    return rc;
}

void cnn_ckpt_meta_free(CnnCkptMeta *meta)
{
    free(meta->config);
    meta->config = NULL;
}
