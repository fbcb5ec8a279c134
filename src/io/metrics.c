/* metrics: rank 0's append-only HDF5 log <out_dir>/metrics.h5 (layout in include/cnn/io/metrics.h),
 * written in SWMR mode so that a reader can follow it while training runs and a kill -9 leaves every
 * row up to the last flush.
 *
 * SWMR forbids creating objects or attributes once it has started, so the file's whole structure
 * (root attrs, /train and /eval with their columns as empty extendible 1-D datasets) is made first,
 * then H5Fstart_swmr_write, then rows are only ever appended (H5Dset_extent + hyperslab write).
 * Rows are buffered in memory and written by cnn_metrics_flush (H5Fflush), which is what makes them
 * visible to readers and survive a kill.
 *
 * Opening for a resume has two cases:
 *  - the file was closed properly: it is opened read-write in place, each column cut to the rows with
 *    step <= resume_step (H5Dset_extent smaller), then SWMR starts again;
 *  - the writer was killed: its superblock still carries the "open for SWMR writing" flags, and
 *    HDF5 1.10 refuses any open except H5F_ACC_RDONLY | H5F_ACC_SWMR_READ ("file is already open
 *    for write"; only the h5clear tool clears the flags, through a private property). So the kept
 *    rows are read through a SWMR-read open and written into a fresh file, <path>.tmp, which is
 *    renamed over the old one once it holds them. A new file (resume_step < 0) is made the same
 *    way, so replacing an old log is atomic too.
 *
 * Readers: h5py with swmr=True (scripts/plot-metrics) reads the file live and after a kill; a reader
 * that keeps the file open must H5Drefresh (h5py: ds.refresh()) to see new rows. HDF5 1.10.8's
 * h5dump has no SWMR-read mode and refuses the file while a writer has it ("unable to open file")
 * and after a kill; `h5clear -s` on a copy makes a killed writer's file dumpable. */
#include "cnn/io/metrics.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <hdf5.h>

#define N_TRAIN 7
#define N_EVAL 3
#define CHUNK_ROWS 256

/* Column order matches CnnTrainRow; columns 0 and 1 (step, epoch) are int64, the rest float64. */
static const char *const train_cols[N_TRAIN] = {"step", "epoch", "loss", "accuracy", "lr",
                                                "images_per_sec", "wall_s"};
static const char *const eval_cols[N_EVAL] = {"step", "loss", "accuracy"};

typedef struct {
    long step;
    double loss, accuracy;
} EvalRow;

struct CnnMetrics {
    char *path;
    hid_t file;
    hid_t train[N_TRAIN], eval[N_EVAL];
    hsize_t n_train, n_eval;   /* rows in the file */
    CnnTrainRow *tq;           /* rows not yet written */
    size_t tq_n, tq_cap;
    EvalRow *eq;
    size_t eq_n, eq_cap;
    long last_train, last_eval; /* step of the newest row, to keep the step columns sorted */
};

/* ---- HDF5 error stack: silenced for a call's duration, its innermost reason kept ---- */

typedef struct {
    H5E_auto2_t func;
    void *data;
} ErrGuard;

static void guard_on(ErrGuard *g)
{
    H5Eget_auto2(H5E_DEFAULT, &g->func, &g->data);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

static void guard_off(const ErrGuard *g)
{
    H5Eclear2(H5E_DEFAULT);
    H5Eset_auto2(H5E_DEFAULT, g->func, g->data);
}

typedef struct {
    char *buf;
    size_t n;
} Reason;

static herr_t reason_cb(unsigned n, const H5E_error2_t *e, void *client)
{
    Reason *r = client;
    if (n == 0 && e->desc) snprintf(r->buf, r->n, "%s", e->desc);
    return 0;
}

static const char *h5_reason(char *buf, size_t n)
{
    Reason r = {buf, n};
    snprintf(buf, n, "unknown HDF5 error");
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, reason_cb, &r);
    H5Eclear2(H5E_DEFAULT);
    return buf;
}

/* ---- pieces ---- */

static int is_int_col(int stream_train, int c)
{
    return stream_train ? c < 2 : c == 0;
}

static int attr_replace(hid_t loc, const char *name, hid_t ftype, hid_t mtype, const void *v)
{
    if (H5Aexists(loc, name) > 0 && H5Adelete(loc, name) < 0) return -1;
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(loc, name, ftype, sp, H5P_DEFAULT, H5P_DEFAULT);
    int rc = a < 0 || H5Awrite(a, mtype, v) < 0 ? -1 : 0;
    if (a >= 0 && H5Aclose(a) < 0) rc = -1;
    H5Sclose(sp);
    return rc;
}

static int attr_replace_str(hid_t loc, const char *name, const char *s)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    int rc = attr_replace(loc, name, t, t, &s);
    H5Tclose(t);
    return rc;
}

/* The root attrs config and world_size describe the run writing now; started is written only when
 * missing, so it stays the time the log began. */
static int write_root_attrs(hid_t f, const char *config, int world_size, const char *started)
{
    int64_t ws = world_size;
    if (attr_replace_str(f, "config", config ? config : "") < 0) return -1;
    if (attr_replace(f, "world_size", H5T_STD_I64LE, H5T_NATIVE_INT64, &ws) < 0) return -1;
    if (H5Aexists(f, "started") > 0) return 0;
    char now[32];
    if (!started) {
        time_t t = time(NULL);
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(now, sizeof now, "%Y-%m-%dT%H:%M:%SZ", &tm);
        started = now;
    }
    return attr_replace_str(f, "started", started);
}

static int create_stream(hid_t f, const char *group, const char *const *cols, int n, int train,
                         hid_t *ds)
{
    hid_t g = H5Gcreate2(f, group, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (g < 0) return -1;
    hsize_t zero = 0, unlim = H5S_UNLIMITED, chunk = CHUNK_ROWS;
    hid_t sp = H5Screate_simple(1, &zero, &unlim);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(dcpl, 1, &chunk);
    int rc = 0;
    for (int c = 0; c < n && rc == 0; c++) {
        hid_t ty = is_int_col(train, c) ? H5T_STD_I64LE : H5T_IEEE_F64LE;
        ds[c] = H5Dcreate2(g, cols[c], ty, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
        if (ds[c] < 0) rc = -1;
    }
    H5Pclose(dcpl);
    H5Sclose(sp);
    H5Gclose(g);
    return rc;
}

static int open_stream(hid_t f, const char *group, const char *const *cols, int n, hid_t *ds,
                       const char *path, CnnErr *err)
{
    char obj[64];
    if (H5Lexists(f, group, H5P_DEFAULT) <= 0)
        return cnn_err(err, "%s: not a cnn-dist metrics file (no %s group)", path, group);
    for (int c = 0; c < n; c++) {
        snprintf(obj, sizeof obj, "%s/%s", group, cols[c]);
        ds[c] = H5Lexists(f, obj, H5P_DEFAULT) > 0 ? H5Dopen2(f, obj, H5P_DEFAULT) : -1;
        if (ds[c] < 0) return cnn_err(err, "%s: not a cnn-dist metrics file (no %s)", path, obj);
    }
    return 0;
}

static hsize_t ds_len(hid_t ds)
{
    hsize_t n = 0;
    hid_t sp = H5Dget_space(ds);
    if (sp >= 0 && H5Sget_simple_extent_ndims(sp) == 1) H5Sget_simple_extent_dims(sp, &n, NULL);
    if (sp >= 0) H5Sclose(sp);
    return n;
}

/* Rows every column of a stream has (a kill between two columns' extents could leave them uneven),
 * cut further to those with step <= resume_step (the step column is sorted ascending). */
static int kept_rows(hid_t *ds, int n, long resume_step, hsize_t *kept, int64_t **steps_out)
{
    hsize_t len = ds_len(ds[0]);
    for (int c = 1; c < n; c++) {
        hsize_t l = ds_len(ds[c]);
        if (l < len) len = l;
    }
    int64_t *steps = cnn_malloc(sizeof *steps * (len ? len : 1));
    if (len) {
        hid_t fs = H5Dget_space(ds[0]);
        hsize_t start = 0;
        H5Sselect_hyperslab(fs, H5S_SELECT_SET, &start, NULL, &len, NULL);
        hid_t ms = H5Screate_simple(1, &len, NULL);
        herr_t r = H5Dread(ds[0], H5T_NATIVE_INT64, ms, fs, H5P_DEFAULT, steps);
        H5Sclose(ms);
        H5Sclose(fs);
        if (r < 0) {
            free(steps);
            return -1;
        }
    }
    hsize_t k = 0;
    while (k < len && steps[k] <= resume_step) k++;
    *kept = k;
    if (steps_out) *steps_out = steps;
    else free(steps);
    return 0;
}

/* Reads rows [0, n) of a column as doubles (int columns converted by HDF5). */
static int read_col(hid_t ds, hsize_t n, hid_t mtype, void *out)
{
    if (n == 0) return 0;
    hid_t fs = H5Dget_space(ds);
    hsize_t start = 0;
    H5Sselect_hyperslab(fs, H5S_SELECT_SET, &start, NULL, &n, NULL);
    hid_t ms = H5Screate_simple(1, &n, NULL);
    herr_t r = H5Dread(ds, mtype, ms, fs, H5P_DEFAULT, out);
    H5Sclose(ms);
    H5Sclose(fs);
    return r < 0 ? -1 : 0;
}

static void *grow(void *p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap) return p;
    size_t c = *cap ? *cap : 64;
    while (c < need) c *= 2;
    p = realloc(p, cnn_mul_size(c, elem));
    if (!p) CNN_DIE("out of memory");
    *cap = c;
    return p;
}

/* Appends rows [at, at + k) of one column from a gathered buffer. */
static int append_col(hid_t ds, hsize_t at, hsize_t k, hid_t mtype, const void *buf)
{
    hsize_t total = at + k;
    if (H5Dset_extent(ds, &total) < 0) return -1;
    hid_t fs = H5Dget_space(ds);
    if (fs < 0) return -1;
    H5Sselect_hyperslab(fs, H5S_SELECT_SET, &at, NULL, &k, NULL);
    hid_t ms = H5Screate_simple(1, &k, NULL);
    herr_t r = H5Dwrite(ds, mtype, ms, fs, H5P_DEFAULT, buf);
    H5Sclose(ms);
    H5Sclose(fs);
    return r < 0 ? -1 : 0;
}

/* Writes the buffered rows and flushes; H5Fflush is the point after which a SWMR reader sees them
 * and a kill keeps them. */
static int write_pending(CnnMetrics *m)
{
    size_t most = m->tq_n > m->eq_n ? m->tq_n : m->eq_n;
    if (most == 0) return H5Fflush(m->file, H5F_SCOPE_LOCAL) < 0 ? -1 : 0;
    double *col = cnn_malloc(sizeof *col * most);
    int64_t *icol = cnn_malloc(sizeof *icol * most);
    int rc = 0;
    for (int c = 0; c < N_TRAIN && rc == 0 && m->tq_n; c++) {
        for (size_t i = 0; i < m->tq_n; i++) {
            const CnnTrainRow *r = &m->tq[i];
            const double v[N_TRAIN] = {0, 0, r->loss, r->accuracy, r->lr, r->images_per_sec, r->wall_s};
            if (c == 0) icol[i] = r->step;
            else if (c == 1) icol[i] = r->epoch;
            else col[i] = v[c];
        }
        rc = c < 2 ? append_col(m->train[c], m->n_train, m->tq_n, H5T_NATIVE_INT64, icol)
                   : append_col(m->train[c], m->n_train, m->tq_n, H5T_NATIVE_DOUBLE, col);
    }
    if (rc == 0 && m->tq_n) {
        m->n_train += m->tq_n;
        m->tq_n = 0;
    }
    for (int c = 0; c < N_EVAL && rc == 0 && m->eq_n; c++) {
        for (size_t i = 0; i < m->eq_n; i++) {
            const EvalRow *r = &m->eq[i];
            if (c == 0) icol[i] = r->step;
            else col[i] = c == 1 ? r->loss : r->accuracy;
        }
        rc = c == 0 ? append_col(m->eval[c], m->n_eval, m->eq_n, H5T_NATIVE_INT64, icol)
                    : append_col(m->eval[c], m->n_eval, m->eq_n, H5T_NATIVE_DOUBLE, col);
    }
    if (rc == 0 && m->eq_n) {
        m->n_eval += m->eq_n;
        m->eq_n = 0;
    }
    free(col);
    free(icol);
    if (rc == 0 && H5Fflush(m->file, H5F_SCOPE_LOCAL) < 0) rc = -1;
    return rc;
}

static hid_t latest_fapl(void)
{
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    H5Pset_libver_bounds(fapl, H5F_LIBVER_LATEST, H5F_LIBVER_LATEST);
    return fapl;
}

static void close_handles(CnnMetrics *m)
{
    for (int c = 0; c < N_TRAIN; c++)
        if (m->train[c] >= 0) H5Dclose(m->train[c]);
    for (int c = 0; c < N_EVAL; c++)
        if (m->eval[c] >= 0) H5Dclose(m->eval[c]);
    if (m->file >= 0) H5Fclose(m->file);
    for (int c = 0; c < N_TRAIN; c++) m->train[c] = -1;
    for (int c = 0; c < N_EVAL; c++) m->eval[c] = -1;
    m->file = -1;
}

/* A fresh file at <path>.tmp: structure, SWMR on, the rows already buffered in m, flush, then the
 * rename that makes it <path>. */
static int create_fresh(CnnMetrics *m, const char *config, int world_size, const char *started,
                        CnnErr *err)
{
    char why[256];
    size_t n = strlen(m->path) + 8;
    char *tmp = cnn_malloc(n);
    snprintf(tmp, n, "%s.tmp", m->path);
    hid_t fapl = latest_fapl();
    m->file = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    H5Pclose(fapl);
    int rc = m->file < 0 ? -1 : 0;
    const char *stage = "cannot create";
    if (rc == 0 && (write_root_attrs(m->file, config, world_size, started) < 0 ||
                    create_stream(m->file, "/train", train_cols, N_TRAIN, 1, m->train) < 0 ||
                    create_stream(m->file, "/eval", eval_cols, N_EVAL, 0, m->eval) < 0)) {
        rc = -1;
        stage = "cannot lay out";
    }
    if (rc == 0 && H5Fstart_swmr_write(m->file) < 0) {
        rc = -1;
        stage = "cannot start SWMR writing in";
    }
    if (rc == 0 && write_pending(m) < 0) {
        rc = -1;
        stage = "cannot write";
    }
    if (rc < 0) {
        cnn_err(err, "%s: %s the metrics file (%s)", tmp, stage, h5_reason(why, sizeof why));
    } else if (rename(tmp, m->path) != 0) {
        rc = cnn_err(err, "%s: cannot rename to %s: %s", tmp, m->path, strerror(errno));
    }
    if (rc < 0) {
        close_handles(m);
        unlink(tmp);
    }
    free(tmp);
    return rc;
}

/* Reopens a properly closed file read-write, cuts it at resume_step and starts SWMR. Returns 1 if
 * the file cannot be opened read-write (the caller salvages it), 0 on success, -1 on error. */
static int reopen_in_place(CnnMetrics *m, const char *config, int world_size, long resume_step,
                           CnnErr *err)
{
    char why[256];
    hsize_t kt, ke;
    int64_t *st = NULL, *se = NULL;
    hid_t fapl = latest_fapl();
    m->file = H5Fopen(m->path, H5F_ACC_RDWR, fapl);
    H5Pclose(fapl);
    if (m->file < 0) {
        H5Eclear2(H5E_DEFAULT);
        return 1;
    }
    if (open_stream(m->file, "/train", train_cols, N_TRAIN, m->train, m->path, err) < 0 ||
        open_stream(m->file, "/eval", eval_cols, N_EVAL, m->eval, m->path, err) < 0)
        goto fail_quiet;
    if (kept_rows(m->train, N_TRAIN, resume_step, &kt, &st) < 0 ||
        kept_rows(m->eval, N_EVAL, resume_step, &ke, &se) < 0)
        goto fail;
    m->n_train = kt;
    m->n_eval = ke;
    m->last_train = kt ? (long)st[kt - 1] : -1;
    m->last_eval = ke ? (long)se[ke - 1] : -1;
    for (int c = 0; c < N_TRAIN; c++)
        if (H5Dset_extent(m->train[c], &kt) < 0) goto fail;
    for (int c = 0; c < N_EVAL; c++)
        if (H5Dset_extent(m->eval[c], &ke) < 0) goto fail;
    if (write_root_attrs(m->file, config, world_size, NULL) < 0) goto fail;
    if (H5Fstart_swmr_write(m->file) < 0) goto fail;
    free(st);
    free(se);
    return 0;
fail:
    cnn_err(err, "%s: cannot resume the metrics file (%s)", m->path, h5_reason(why, sizeof why));
fail_quiet:
    free(st);
    free(se);
    close_handles(m);
    return -1;
}

/* Reads the rows to keep from a file a killed writer left (SWMR-read open works on it) into m's
 * buffers, and the original start time into started. */
static int salvage(CnnMetrics *m, long resume_step, char *started, size_t started_n, CnnErr *err)
{
    char why[256];
    hid_t f = H5Fopen(m->path, H5F_ACC_RDONLY | H5F_ACC_SWMR_READ, H5P_DEFAULT);
    if (f < 0)
        return cnn_err(err, "%s: cannot open the metrics file to resume it (%s)", m->path,
                       h5_reason(why, sizeof why));
    hid_t tr[N_TRAIN], ev[N_EVAL];
    for (int c = 0; c < N_TRAIN; c++) tr[c] = -1;
    for (int c = 0; c < N_EVAL; c++) ev[c] = -1;
    int rc = 0;
    hsize_t kt = 0, ke = 0;
    double *col = NULL;
    if (open_stream(f, "/train", train_cols, N_TRAIN, tr, m->path, err) < 0 ||
        open_stream(f, "/eval", eval_cols, N_EVAL, ev, m->path, err) < 0) {
        rc = -1;
        goto out;
    }
    if (kept_rows(tr, N_TRAIN, resume_step, &kt, NULL) < 0 ||
        kept_rows(ev, N_EVAL, resume_step, &ke, NULL) < 0)
        goto h5fail;
    m->tq = grow(m->tq, &m->tq_cap, kt, sizeof *m->tq);
    m->eq = grow(m->eq, &m->eq_cap, ke, sizeof *m->eq);
    col = cnn_malloc(sizeof *col * (kt > ke ? kt : ke) + 1);
    for (int c = 0; c < N_TRAIN; c++) {
        if (read_col(tr[c], kt, H5T_NATIVE_DOUBLE, col) < 0) goto h5fail;
        for (hsize_t i = 0; i < kt; i++) {
            CnnTrainRow *r = &m->tq[i];
            double *dst[N_TRAIN] = {NULL, NULL, &r->loss, &r->accuracy, &r->lr, &r->images_per_sec,
                                    &r->wall_s};
            if (c == 0) r->step = (long)col[i];
            else if (c == 1) r->epoch = (long)col[i];
            else *dst[c] = col[i];
        }
    }
    for (int c = 0; c < N_EVAL; c++) {
        if (read_col(ev[c], ke, H5T_NATIVE_DOUBLE, col) < 0) goto h5fail;
        for (hsize_t i = 0; i < ke; i++) {
            EvalRow *r = &m->eq[i];
            if (c == 0) r->step = (long)col[i];
            else if (c == 1) r->loss = col[i];
            else r->accuracy = col[i];
        }
    }
    m->tq_n = kt;
    m->eq_n = ke;
    m->last_train = kt ? m->tq[kt - 1].step : -1;
    m->last_eval = ke ? m->eq[ke - 1].step : -1;
    /* the start time is worth keeping but not worth failing for */
    if (H5Aexists(f, "started") > 0) {
        hid_t a = H5Aopen(f, "started", H5P_DEFAULT);
        hid_t t = H5Tcopy(H5T_C_S1);
        H5Tset_size(t, H5T_VARIABLE);
        H5Tset_cset(t, H5T_CSET_UTF8); /* HDF5 converts between character sets only if equal */
        char *s = NULL;
        if (a >= 0 && H5Aread(a, t, &s) >= 0 && s) {
            snprintf(started, started_n, "%s", s);
            H5free_memory(s);
        }
        H5Tclose(t);
        if (a >= 0) H5Aclose(a);
    }
    goto out;
h5fail:
    rc = cnn_err(err, "%s: cannot read the metrics file to resume it (%s)", m->path,
                 h5_reason(why, sizeof why));
out:
    free(col);
    for (int c = 0; c < N_TRAIN; c++)
        if (tr[c] >= 0) H5Dclose(tr[c]);
    for (int c = 0; c < N_EVAL; c++)
        if (ev[c] >= 0) H5Dclose(ev[c]);
    H5Fclose(f);
    return rc;
}

static void metrics_free(CnnMetrics *m)
{
    free(m->path);
    free(m->tq);
    free(m->eq);
    free(m);
}

CnnMetrics *cnn_metrics_open(const char *path, const char *config_text, int world_size,
                             long resume_step, CnnErr *err)
{
    CnnMetrics *m = cnn_calloc(1, sizeof *m);
    m->path = strdup(path);
    if (!m->path) CNN_DIE("out of memory");
    m->file = -1;
    for (int c = 0; c < N_TRAIN; c++) m->train[c] = -1;
    for (int c = 0; c < N_EVAL; c++) m->eval[c] = -1;
    m->last_train = m->last_eval = -1;

    ErrGuard g;
    guard_on(&g);
    int rc;
    struct stat st;
    if (resume_step >= 0 && stat(path, &st) == 0) {
        rc = reopen_in_place(m, config_text, world_size, resume_step, err);
        if (rc == 1) {
            char started[64] = "";
            rc = salvage(m, resume_step, started, sizeof started, err);
            if (rc == 0)
                rc = create_fresh(m, config_text, world_size, started[0] ? started : NULL, err);
        }
    } else {
        rc = create_fresh(m, config_text, world_size, NULL, err);
    }
    guard_off(&g);
    if (rc < 0) {
        metrics_free(m);
        return NULL;
    }
    return m;
}

int cnn_metrics_train(CnnMetrics *m, const CnnTrainRow *row, CnnErr *err)
{
    if (row->step < m->last_train)
        return cnn_err(err, "%s: train row for step %ld after step %ld (steps must not go back)",
                       m->path, row->step, m->last_train);
    m->tq = grow(m->tq, &m->tq_cap, m->tq_n + 1, sizeof *m->tq);
    m->tq[m->tq_n++] = *row;
    m->last_train = row->step;
    return 0;
}

int cnn_metrics_eval(CnnMetrics *m, long step, double loss, double accuracy, CnnErr *err)
{
    if (step < m->last_eval)
        return cnn_err(err, "%s: eval row for step %ld after step %ld (steps must not go back)",
                       m->path, step, m->last_eval);
    m->eq = grow(m->eq, &m->eq_cap, m->eq_n + 1, sizeof *m->eq);
    m->eq[m->eq_n++] = (EvalRow){step, loss, accuracy};
    m->last_eval = step;
    return 0;
}

int cnn_metrics_flush(CnnMetrics *m, CnnErr *err)
{
    char why[256];
    ErrGuard g;
    guard_on(&g);
    int rc = write_pending(m);
    if (rc < 0) cnn_err(err, "%s: cannot write metrics (%s)", m->path, h5_reason(why, sizeof why));
    guard_off(&g);
    return rc;
}

void cnn_metrics_close(CnnMetrics *m)
{
    if (!m) return;
    CnnErr err;
    if (cnn_metrics_flush(m, &err) < 0) cnn_warn("%s", err.msg);
    ErrGuard g;
    guard_on(&g);
    close_handles(m);
    guard_off(&g);
    metrics_free(m);
}
