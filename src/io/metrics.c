/* metrics: rank 0's log <out_dir>/metrics.h5 (layout in include/cnn/io/metrics.h), kept as a
 * series of complete snapshots.
 *
 * Every row of the run lives in memory (a row is 56 bytes; a 100k-step run logging every 100 steps
 * has 1,000 of them), and cnn_metrics_flush writes the whole log as a new plain HDF5 file
 * <path>.tmp, closes and fsyncs it, renames it over <path> and fsyncs the directory. No HDF5 handle
 * stays open between flushes, so the file under the final name is at every instant a complete,
 * closed file in HDF5's default (earliest-compatible) format: h5dump, h5ls and h5py read it while
 * training runs, without any SWMR mode, and a kill -9 at any instant leaves the last flushed
 * version (at worst beside a stale <path>.tmp, which the next flush truncates).
 *
 * A resume reads the old file's rows with step <= resume_step back into memory and writes them out
 * at once, so the file never shows steps the resumed run is about to log again. Files written by
 * the older SWMR-based writer are still accepted for a resume: one its writer left by dying opens
 * only in SWMR-read mode, which is tried when a plain open fails. */
#include "cnn/io/metrics.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <hdf5.h>

#include "cnn/io/h5util.h"

/* Rows per chunk of a column: 8 KiB, one or two chunks for a typical run. */
#define CHUNK_ROWS 1024

typedef struct {
    long step;
    double loss, accuracy;
} EvalRow;

/* A column is one field of the row struct: int64 in the file for long fields, float64 for
 * double ones. */
typedef struct {
    const char *name;
    int is_int;
    size_t off;
} Col;

/* A stream is a group of equal-length columns, one row struct per row; column 0 is the step. */
typedef struct {
    const char *group;
    const Col *cols;
    int n_cols;
    size_t row_size;
} Stream;

static const Col train_cols[] = {
    {"step", 1, offsetof(CnnTrainRow, step)},
    {"epoch", 1, offsetof(CnnTrainRow, epoch)},
    {"loss", 0, offsetof(CnnTrainRow, loss)},
    {"accuracy", 0, offsetof(CnnTrainRow, accuracy)},
    {"lr", 0, offsetof(CnnTrainRow, lr)},
    {"images_per_sec", 0, offsetof(CnnTrainRow, images_per_sec)},
    {"wall_s", 0, offsetof(CnnTrainRow, wall_s)},
};
static const Col eval_cols[] = {
    {"step", 1, offsetof(EvalRow, step)},
    {"loss", 0, offsetof(EvalRow, loss)},
    {"accuracy", 0, offsetof(EvalRow, accuracy)},
};
static const Stream train_stream = {"/train", train_cols, 7, sizeof(CnnTrainRow)};
static const Stream eval_stream = {"/eval", eval_cols, 3, sizeof(EvalRow)};
/* data.tta's evaluations (the same columns); only in logs of runs that have them */
static const Stream tta_stream = {"/eval_tta", eval_cols, 3, sizeof(EvalRow)};

/* The rows of one stream: n structs of the stream's row_size. */
typedef struct {
    void *p;
    size_t n, cap;
} Rows;

struct CnnMetrics {
    char *path, *tmp, *dir; /* the log, its snapshot-in-progress, the directory holding both */
    char *config;
    int world_size;
    char started[64]; /* when the log began (kept across resumes), ISO 8601 UTC */
    char producer[512]; /* what wrote it (version.h), "" = not said */
    Rows train, eval, tta;
    int dirty; /* rows or attrs not yet in the file under path */
};

/* ---- rows in memory ---- */

static void rows_push(Rows *r, const Stream *s, const void *row)
{
    if (r->n == r->cap) {
        size_t c = r->cap ? 2 * r->cap : 256;
        r->p = realloc(r->p, cnn_mul_size(c, s->row_size));
        if (!r->p) CNN_DIE("out of memory");
        r->cap = c;
    }
    memcpy((char *)r->p + r->n * s->row_size, row, s->row_size);
    r->n++;
}

static long rows_last_step(const Rows *r, const Stream *s)
{
    long step;
    if (r->n == 0) return -1;
    memcpy(&step, (const char *)r->p + (r->n - 1) * s->row_size + s->cols[0].off, sizeof step);
    return step;
}

/* Column c of rows [0, n) into iv (int columns) or dv (the rest), and back. */
static void gather(const Rows *r, const Stream *s, int c, int64_t *iv, double *dv)
{
    const Col *col = &s->cols[c];
    for (size_t i = 0; i < r->n; i++) {
        const char *p = (const char *)r->p + i * s->row_size + col->off;
        if (col->is_int) {
            long v;
            memcpy(&v, p, sizeof v);
            iv[i] = v;
        } else {
            memcpy(&dv[i], p, sizeof dv[i]);
        }
    }
}

static void scatter(Rows *r, const Stream *s, int c, const int64_t *iv, const double *dv)
{
    const Col *col = &s->cols[c];
    for (size_t i = 0; i < r->n; i++) {
        char *p = (char *)r->p + i * s->row_size + col->off;
        if (col->is_int) {
            long v = (long)iv[i];
            memcpy(p, &v, sizeof v);
        } else {
            memcpy(p, &dv[i], sizeof dv[i]);
        }
    }
}

/* ---- writing a snapshot ---- */


/* One column as a chunked 1-D dataset of n rows, extendible (maxdims unlimited) like the layout
 * promises, though each snapshot writes it whole. */
static int write_col(hid_t g, const char *name, int is_int, hsize_t n, const void *buf)
{
    hsize_t unlim = H5S_UNLIMITED, chunk = CHUNK_ROWS;
    hid_t sp = H5Screate_simple(1, &n, &unlim);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    int rc = sp < 0 || dcpl < 0 || H5Pset_chunk(dcpl, 1, &chunk) < 0 ? -1 : 0;
    hid_t ds = -1;
    if (rc == 0) {
        ds = H5Dcreate2(g, name, is_int ? H5T_STD_I64LE : H5T_IEEE_F64LE, sp, H5P_DEFAULT, dcpl,
                        H5P_DEFAULT);
        if (ds < 0) rc = -1;
    }
    if (rc == 0 && n > 0 &&
        H5Dwrite(ds, is_int ? H5T_NATIVE_INT64 : H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT,
                 buf) < 0)
        rc = -1;
    if (ds >= 0 && H5Dclose(ds) < 0) rc = -1;
    if (dcpl >= 0) H5Pclose(dcpl);
    if (sp >= 0) H5Sclose(sp);
    return rc;
}

static int write_stream(hid_t f, const Stream *s, const Rows *r)
{
    hid_t g = H5Gcreate2(f, s->group, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (g < 0) return -1;
    size_t n = r->n ? r->n : 1;
    int64_t *iv = cnn_malloc(cnn_mul_size(n, sizeof *iv));
    double *dv = cnn_malloc(cnn_mul_size(n, sizeof *dv));
    int rc = 0;
    for (int c = 0; c < s->n_cols && rc == 0; c++) {
        gather(r, s, c, iv, dv);
        rc = write_col(g, s->cols[c].name, s->cols[c].is_int, r->n,
                       s->cols[c].is_int ? (const void *)iv : (const void *)dv);
    }
    free(iv);
    free(dv);
    if (H5Gclose(g) < 0) rc = -1;
    return rc;
}

static int write_contents(hid_t f, const CnnMetrics *m)
{
    int64_t ws = m->world_size;
    if (cnn_h5_attr_write_str(f, "config", m->config) < 0) return -1;
    if (cnn_h5_attr_write(f, "world_size", H5T_STD_I64LE, H5T_NATIVE_INT64, &ws) < 0) return -1;
    if (cnn_h5_attr_write_str(f, "started", m->started) < 0) return -1;
    if (m->producer[0] && cnn_h5_attr_write_str(f, "producer", m->producer) < 0) return -1;
    if (write_stream(f, &train_stream, &m->train) < 0) return -1;
    if (m->tta.n && write_stream(f, &tta_stream, &m->tta) < 0) return -1;
    return write_stream(f, &eval_stream, &m->eval);
}


/* The whole log into tmp (closed: HDF5 writes everything out at close), fsync, rename over path,
 * fsync the directory so the rename survives a crash too. */
static int write_snapshot(const CnnMetrics *m, CnnErr *err)
{
    char why[256];
    CnnH5Silence q;
    cnn_h5_silence(&q);
    errno = 0;
    const hid_t fcpl = cnn_h5_sealed_fcpl();
    hid_t f = H5Fcreate(m->tmp, H5F_ACC_TRUNC, fcpl, H5P_DEFAULT);
    H5Pclose(fcpl);
    if (f < 0) {
        cnn_err(err, "%s: cannot create the metrics file: %s", m->tmp, cnn_h5_write_reason(why, sizeof why, errno));
        cnn_h5_restore(&q);
        return -1;
    }
    errno = 0;
    int rc = write_contents(f, m);
    if (rc < 0) cnn_h5_write_reason(why, sizeof why, errno);
    /* closing flushes: a full disk shows up here */
    errno = 0;
    if (H5Fclose(f) < 0 && rc == 0) {
        rc = -1;
        cnn_h5_write_reason(why, sizeof why, errno);
    }
    cnn_h5_restore(&q);
    if (rc < 0) {
        unlink(m->tmp);
        return cnn_err(err, "%s: cannot write the metrics file: %s (%s is untouched)", m->tmp, why, m->path);
    }
    if (cnn_io_seal(m->tmp, err)) {
        unlink(m->tmp);
        return -1;
    }
    return cnn_io_commit(m->tmp, m->path, m->dir, err);
}

/* ---- reading an old log for a resume ---- */

/* Opens every column of s in f and sets *len to the fewest rows any of them has (files of the
 * older SWMR writer could hold uneven columns after a kill). */
static int open_stream(hid_t f, const char *path, const Stream *s, hid_t *ds, hsize_t *len,
                       CnnErr *err)
{
    char obj[64];
    *len = 0;
    if (H5Lexists(f, s->group, H5P_DEFAULT) <= 0)
        return cnn_err(err, "%s: not a cnn-dist metrics file (no %s)", path, s->group);
    for (int c = 0; c < s->n_cols; c++) {
        snprintf(obj, sizeof obj, "%s/%s", s->group, s->cols[c].name);
        ds[c] = H5Lexists(f, obj, H5P_DEFAULT) > 0 ? H5Dopen2(f, obj, H5P_DEFAULT) : -1;
        if (ds[c] < 0) return cnn_err(err, "%s: not a cnn-dist metrics file (no %s)", path, obj);
        hid_t sp = H5Dget_space(ds[c]);
        hsize_t n = 0;
        int ok = sp >= 0 && H5Sget_simple_extent_ndims(sp) == 1 &&
                 H5Sget_simple_extent_dims(sp, &n, NULL) == 1;
        if (sp >= 0) H5Sclose(sp);
        if (!ok) return cnn_err(err, "%s: %s is not a 1-D dataset", path, obj);
        if (c == 0 || n < *len) *len = n;
    }
    return 0;
}

/* Rows [0, n) of a column, converted by HDF5 to int64 or double. */
static int read_col(hid_t ds, hsize_t n, int is_int, void *out)
{
    if (n == 0) return 0;
    hid_t fs = H5Dget_space(ds);
    hsize_t start = 0;
    H5Sselect_hyperslab(fs, H5S_SELECT_SET, &start, NULL, &n, NULL);
    hid_t ms = H5Screate_simple(1, &n, NULL);
    herr_t r = H5Dread(ds, is_int ? H5T_NATIVE_INT64 : H5T_NATIVE_DOUBLE, ms, fs, H5P_DEFAULT, out);
    H5Sclose(ms);
    H5Sclose(fs);
    return r < 0 ? -1 : 0;
}

/* Reads stream s's rows with step <= resume_step into r (the step column ascends, so they are a
 * prefix). */
static int load_stream(hid_t f, const char *path, const Stream *s, long resume_step, Rows *r,
                       CnnErr *err)
{
    char why[256];
    hid_t ds[8];
    CNN_ASSERT(s->n_cols <= 8);
    for (int c = 0; c < s->n_cols; c++) ds[c] = -1;
    hsize_t len;
    int64_t *iv = NULL;
    double *dv = NULL;
    int rc = open_stream(f, path, s, ds, &len, err);
    if (rc < 0) goto out;
    size_t cap = len ? (size_t)len : 1;
    iv = cnn_malloc(cnn_mul_size(cap, sizeof *iv));
    dv = cnn_malloc(cnn_mul_size(cap, sizeof *dv));
    const char *failed = NULL;
    if (read_col(ds[0], len, 1, iv) < 0) failed = s->cols[0].name;
    size_t k = 0;
    while (!failed && k < len && iv[k] <= resume_step) k++;
    r->p = realloc(r->p, cnn_mul_size(k ? k : 1, s->row_size));
    if (!r->p) CNN_DIE("out of memory");
    r->cap = k ? k : 1;
    r->n = k;
    for (int c = 0; c < s->n_cols && !failed; c++) {
        if (read_col(ds[c], k, s->cols[c].is_int, s->cols[c].is_int ? (void *)iv : (void *)dv) < 0)
            failed = s->cols[c].name;
        else
            scatter(r, s, c, iv, dv);
    }
    if (failed)
        rc = cnn_err(err, "%s: cannot read %s/%s (%s)", path, s->group, failed,
                     cnn_h5_reason(why, sizeof why));
out:
    free(iv);
    free(dv);
    for (int c = 0; c < s->n_cols; c++)
        if (ds[c] >= 0) H5Dclose(ds[c]);
    return rc;
}

/* The old log's start time: worth keeping, not worth failing for (left empty if unreadable). */
static void load_started(hid_t f, char *out, size_t n)
{
    if (H5Aexists(f, "started") <= 0) return;
    hid_t a = H5Aopen(f, "started", H5P_DEFAULT);
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8); /* HDF5 converts strings only between equal character sets */
    char *s = NULL;
    if (a >= 0 && H5Aread(a, t, &s) >= 0 && s) {
        snprintf(out, n, "%s", s);
        H5free_memory(s);
    }
    H5Tclose(t);
    if (a >= 0) H5Aclose(a);
}

static int load(CnnMetrics *m, long resume_step, CnnErr *err)
{
    char why[256];
    if (cnn_io_check_seal(m->path, err)) return -1;
    CnnH5Silence q;
    cnn_h5_silence(&q);
    hid_t f = H5Fopen(m->path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) {
        /* a file the older SWMR writer left by dying refuses any other open */
        H5Eclear2(H5E_DEFAULT);
        f = H5Fopen(m->path, H5F_ACC_RDONLY | H5F_ACC_SWMR_READ, H5P_DEFAULT);
    }
    int rc;
    if (f < 0) {
        rc = cnn_err(err, "%s: cannot open the metrics file to resume it (%s)", m->path,
                     cnn_h5_reason(why, sizeof why));
    } else {
        rc = load_stream(f, m->path, &train_stream, resume_step, &m->train, err);
        if (rc == 0) rc = load_stream(f, m->path, &eval_stream, resume_step, &m->eval, err);
        if (rc == 0 && H5Lexists(f, tta_stream.group, H5P_DEFAULT) > 0)
            rc = load_stream(f, m->path, &tta_stream, resume_step, &m->tta, err);
        if (rc == 0) load_started(f, m->started, sizeof m->started);
        H5Fclose(f);
    }
    cnn_h5_restore(&q);
    return rc;
}

/* ---- public ---- */

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = cnn_malloc(n);
    memcpy(d, s, n);
    return d;
}

static void metrics_free(CnnMetrics *m)
{
    free(m->path);
    free(m->tmp);
    free(m->dir);
    free(m->config);
    free(m->train.p);
    free(m->eval.p);
    free(m->tta.p);
    free(m);
}

CnnMetrics *cnn_metrics_open(const char *path, const char *config_text, int world_size,
                             long resume_step, CnnErr *err)
{
    if (!path[0]) {
        cnn_err(err, "metrics: empty file name");
        return NULL;
    }
    CnnMetrics *m = cnn_calloc(1, sizeof *m);
    size_t n = strlen(path) + 5;
    m->path = dup_str(path);
    m->tmp = cnn_malloc(n);
    snprintf(m->tmp, n, "%s.tmp", path);
    const char *slash = strrchr(path, '/');
    if (!slash) {
        m->dir = dup_str(".");
    } else {
        m->dir = dup_str(path);
        m->dir[slash == path ? 1 : slash - path] = '\0'; /* "/metrics.h5" lives in "/" */
    }
    m->config = dup_str(config_text ? config_text : "");
    m->world_size = world_size;

    if (resume_step >= 0 && access(path, F_OK) == 0 && load(m, resume_step, err) < 0) {
        metrics_free(m);
        return NULL;
    }
    if (!m->started[0]) {
        time_t t = time(NULL);
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(m->started, sizeof m->started, "%Y-%m-%dT%H:%M:%SZ", &tm);
    }
    /* Written at once: a new run replaces an old log, a resume drops the rows it will log again,
     * and an unwritable place fails here rather than at the first log interval. */
    m->dirty = 1;
    if (cnn_metrics_flush(m, err) < 0) {
        metrics_free(m);
        return NULL;
    }
    return m;
}

int cnn_metrics_train(CnnMetrics *m, const CnnTrainRow *row, CnnErr *err)
{
    long last = rows_last_step(&m->train, &train_stream);
    if (row->step < last)
        return cnn_err(err, "%s: train row for step %ld after step %ld (steps must not go back)",
                       m->path, row->step, last);
    rows_push(&m->train, &train_stream, row);
    m->dirty = 1;
    return 0;
}

static int push_eval(CnnMetrics *m, Rows *rows, const Stream *s, long step, double loss, double accuracy, CnnErr *err)
{
    long last = rows_last_step(rows, s);
    if (step < last)
        return cnn_err(err, "%s: %s row for step %ld after step %ld (steps must not go back)", m->path, s->group + 1,
                       step, last);
    EvalRow r = {step, loss, accuracy};
    rows_push(rows, s, &r);
    m->dirty = 1;
    return 0;
}

int cnn_metrics_eval(CnnMetrics *m, long step, double loss, double accuracy, CnnErr *err)
{
    return push_eval(m, &m->eval, &eval_stream, step, loss, accuracy, err);
}

int cnn_metrics_eval_tta(CnnMetrics *m, long step, double loss, double accuracy, CnnErr *err)
{
    return push_eval(m, &m->tta, &tta_stream, step, loss, accuracy, err);
}

int cnn_metrics_flush(CnnMetrics *m, CnnErr *err)
{
    if (!m->dirty) return 0;
    if (write_snapshot(m, err) < 0) return -1; /* still dirty: the next flush tries again */
    m->dirty = 0;
    return 0;
}

void cnn_metrics_close(CnnMetrics *m)
{
    if (!m) return;
    CnnErr err;
    if (cnn_metrics_flush(m, &err) < 0) cnn_warn("%s", err.msg);
    metrics_free(m);
}

void cnn_metrics_set_producer(CnnMetrics *m, const char *producer)
{
    snprintf(m->producer, sizeof m->producer, "%s", producer);
}
