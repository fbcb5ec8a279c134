/* metrics: rows flushed read back exactly through the plain HDF5 API (no SWMR) from a file in the
 * earliest format; a new open replaces the file at once; a resume cuts rows past the step and keeps
 * the start time; a writer killed with SIGKILL leaves a plain, closed file with every row up to its
 * last flush; h5dump reads the file between flushes; a stale .tmp is harmless; a flush that fails
 * keeps its rows for the next one; a reader in another process sees each flush.
 *
 * Children are forked before anything is opened in the parent, since a forked child shares the
 * parent's HDF5 library state (its open-file table). Children report through their exit status,
 * never through cmocka. */
#include "testutil.h"

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <hdf5.h>

#include "cnn/io/metrics.h"

static CnnTrainRow row_at(int i)
{
    return (CnnTrainRow){.step = 10L * (i + 1), .epoch = i / 3, .loss = 2.5 / (i + 1),
                         .accuracy = 0.01 * i, .lr = 0.1 * pow(0.9, i),
                         .images_per_sec = 1000.0 + i, .wall_s = 0.5 * i};
}

/* Plain read-only open, the way h5py.File(path, "r") does it. */
static hid_t open_plain(const char *path)
{
    return H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
}

/* Length of a 1-D dataset and its values as double (NULL: length only); -1 if missing. */
static long read_col(hid_t f, const char *obj, double *out)
{
    if (H5Lexists(f, obj, H5P_DEFAULT) <= 0) return -1;
    hid_t ds = H5Dopen2(f, obj, H5P_DEFAULT);
    if (ds < 0) return -1;
    hid_t sp = H5Dget_space(ds);
    hsize_t n = 0, max = 0;
    H5Sget_simple_extent_dims(sp, &n, &max);
    if (max != H5S_UNLIMITED) n = (hsize_t)-2; /* the layout promises extendible columns */
    if (out && n > 0 && H5Dread(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, out) < 0) n = 0;
    H5Sclose(sp);
    H5Dclose(ds);
    return (long)n;
}

/* 1 if /train holds exactly rows[0..n) (every column that length), else 0. */
static int train_matches(hid_t f, const CnnTrainRow *rows, long n)
{
    static const char *cols[] = {"step", "epoch", "loss", "accuracy", "lr", "images_per_sec", "wall_s"};
    double *v = malloc(sizeof *v * (size_t)(n + 1));
    int ok = 1;
    for (int c = 0; c < 7 && ok; c++) {
        char obj[64];
        snprintf(obj, sizeof obj, "/train/%s", cols[c]);
        if (read_col(f, obj, NULL) != n) {
            ok = 0;
            break;
        }
        read_col(f, obj, v);
        for (long i = 0; i < n && ok; i++) {
            const CnnTrainRow *r = &rows[i];
            double want[] = {(double)r->step, (double)r->epoch, r->loss, r->accuracy, r->lr,
                             r->images_per_sec, r->wall_s};
            ok = v[i] == want[c];
        }
    }
    free(v);
    return ok;
}

/* train_matches on the file at path, opened plainly; 0 if it does not open. */
static int file_matches(const char *path, int n)
{
    CnnTrainRow want[32];
    for (int i = 0; i < n; i++) want[i] = row_at(i);
    hid_t f = open_plain(path);
    if (f < 0) return 0;
    int ok = train_matches(f, want, n);
    H5Fclose(f);
    return ok;
}

static void train_rows(CnnMetrics *m, int from, int to)
{
    CnnErr err;
    for (int i = from; i < to; i++) {
        CnnTrainRow r = row_at(i);
        assert_int_equal(cnn_metrics_train(m, &r, &err), 0);
    }
}

static CnnMetrics *open_ok(const char *path, long resume)
{
    CnnErr err = {{0}};
    CnnMetrics *m = cnn_metrics_open(path, "[run]\nname = t\n", 2, resume, &err);
    if (!m) fail_msg("open: %s", err.msg);
    return m;
}

static char *read_str_attr(hid_t f, const char *name)
{
    hid_t a = H5Aopen(f, name, H5P_DEFAULT);
    assert_true(a >= 0);
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    char *s = NULL;
    assert_true(H5Aread(a, t, &s) >= 0);
    char *out = strdup(s);
    H5free_memory(s);
    H5Tclose(t);
    H5Aclose(a);
    return out;
}

static int64_t read_i64_attr(hid_t f, const char *name)
{
    int64_t v = -1;
    hid_t a = H5Aopen(f, name, H5P_DEFAULT);
    assert_true(a >= 0);
    assert_true(H5Aread(a, H5T_NATIVE_INT64, &v) >= 0);
    H5Aclose(a);
    return v;
}

static ino_t inode_of(const char *path)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return st.st_ino;
}

/* Runs `h5dump -H path`; 1 if it exits 0 and every /train column's header shows n rows of an
 * unlimited extent. */
static int h5dump_header_ok(const char *path, int n)
{
    char cmd[512], line[512], want[64];
    snprintf(cmd, sizeof cmd, "/usr/bin/h5dump -H '%s' 2>&1", path);
    snprintf(want, sizeof want, "( %d ) / ( H5S_UNLIMITED )", n);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    int hits = 0;
    while (fgets(line, sizeof line, p))
        if (strstr(line, want)) hits++;
    int st = pclose(p);
    /* 7 train columns with n rows (and eval's 3 if they happen to have n too) */
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 && hits >= 7;
}

static void test_round_trip(void **state)
{
    (void)state;
    char dir[256], path[300];
    tu_mkdtemp(dir, sizeof dir, "metrics");
    snprintf(path, sizeof path, "%s/metrics.h5", dir);
    CnnErr err;
    CnnMetrics *m = open_ok(path, -1);
    train_rows(m, 0, 200);
    assert_int_equal(cnn_metrics_eval(m, 100, 1.25, 0.5, &err), 0);
    assert_int_equal(cnn_metrics_flush(m, &err), 0);
    /* nothing changed: no new snapshot (each one is a new file, so a new inode) */
    ino_t ino = inode_of(path);
    assert_int_equal(cnn_metrics_flush(m, &err), 0);
    assert_true(inode_of(path) == ino);
    train_rows(m, 200, 300); /* written by close */
    assert_int_equal(cnn_metrics_eval(m, 3000, 0.75, 0.875, &err), 0);
    CnnTrainRow back = {.step = 5};
    assert_int_equal(cnn_metrics_train(m, &back, &err), -1);
    assert_non_null(strstr(err.msg, path));
    assert_int_equal(cnn_metrics_eval(m, 2999, 0.0, 0.0, &err), -1);
    assert_non_null(strstr(err.msg, path));
    cnn_metrics_close(m);
    assert_true(inode_of(path) != ino);

    CnnTrainRow want[300];
    for (int i = 0; i < 300; i++) want[i] = row_at(i);
    hid_t f = open_plain(path);
    assert_true(f >= 0);
    /* the earliest file format, which every HDF5 tool reads */
    H5F_info2_t info;
    assert_true(H5Fget_info2(f, &info) >= 0);
    assert_int_equal(info.super.version, 0);
    assert_true(train_matches(f, want, 300));
    double v[4];
    assert_int_equal(read_col(f, "/eval/step", v), 2);
    assert_true(v[0] == 100 && v[1] == 3000);
    assert_int_equal(read_col(f, "/eval/loss", v), 2);
    assert_true(v[0] == 1.25 && v[1] == 0.75);
    assert_int_equal(read_col(f, "/eval/accuracy", v), 2);
    assert_true(v[0] == 0.5 && v[1] == 0.875);
    const char *types[][2] = {{"/train/step", "i"}, {"/train/epoch", "i"}, {"/train/lr", "f"},
                              {"/eval/step", "i"}, {"/eval/accuracy", "f"}};
    for (int i = 0; i < 5; i++) {
        hid_t ds = H5Dopen2(f, types[i][0], H5P_DEFAULT);
        hid_t ty = H5Dget_type(ds);
        assert_true(H5Tequal(ty, types[i][1][0] == 'i' ? H5T_STD_I64LE : H5T_IEEE_F64LE) > 0);
        H5Tclose(ty);
        H5Dclose(ds);
    }
    char *cfg = read_str_attr(f, "config"), *started = read_str_attr(f, "started");
    assert_string_equal(cfg, "[run]\nname = t\n");
    assert_int_equal(strlen(started), 20); /* 2024-05-01T12:00:00Z */
    assert_true(started[4] == '-' && started[10] == 'T' && started[19] == 'Z');
    free(cfg);
    free(started);
    assert_int_equal(read_i64_attr(f, "world_size"), 2);
    H5Fclose(f);

    /* a new run replaces the file at open, before any flush */
    m = open_ok(path, -1);
    f = open_plain(path);
    assert_true(f >= 0);
    assert_int_equal(read_col(f, "/train/loss", NULL), 0);
    assert_int_equal(read_col(f, "/eval/step", NULL), 0);
    H5Fclose(f);
    cnn_metrics_close(m);
    tu_rmrf(dir);
}

static void test_resume_cuts(void **state)
{
    (void)state;
    char dir[256], path[300], tmp[320];
    tu_mkdtemp(dir, sizeof dir, "metrics");
    snprintf(path, sizeof path, "%s/metrics.h5", dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    CnnErr err;
    CnnMetrics *m = open_ok(path, -1);
    train_rows(m, 0, 10); /* steps 10..100 */
    assert_int_equal(cnn_metrics_eval(m, 50, 1.0, 0.25, &err), 0);
    assert_int_equal(cnn_metrics_eval(m, 100, 0.5, 0.75, &err), 0);
    cnn_metrics_close(m);
    hid_t f = open_plain(path);
    char *started = read_str_attr(f, "started");
    H5Fclose(f);

    m = cnn_metrics_open(path, "[run]\nname = resumed\n", 4, 60, &err);
    assert_non_null(m);
    /* the cut is on disk at once: 6 train rows (steps 10..60), 1 eval row */
    assert_true(file_matches(path, 6));
    CnnTrainRow want[7];
    for (int i = 0; i < 7; i++) want[i] = row_at(i);
    want[6].loss = 42.0; /* step 70 logged again by the resumed run */
    assert_int_equal(cnn_metrics_train(m, &want[6], &err), 0);
    CnnTrainRow early = row_at(4); /* before the kept rows' last step */
    assert_int_equal(cnn_metrics_train(m, &early, &err), -1);
    assert_int_equal(cnn_metrics_eval(m, 40, 0.0, 0.0, &err), -1); /* kept eval row is step 50 */
    cnn_metrics_close(m);
    f = open_plain(path);
    assert_true(f >= 0);
    assert_true(train_matches(f, want, 7));
    double v[4];
    assert_int_equal(read_col(f, "/eval/step", v), 1);
    assert_true(v[0] == 50);
    assert_int_equal(read_col(f, "/eval/accuracy", v), 1);
    assert_true(v[0] == 0.25);
    char *started2 = read_str_attr(f, "started"), *cfg = read_str_attr(f, "config");
    assert_string_equal(started2, started); /* the log's start, not the resume's */
    assert_string_equal(cfg, "[run]\nname = resumed\n");
    assert_int_equal(read_i64_attr(f, "world_size"), 4);
    free(started);
    free(started2);
    free(cfg);
    H5Fclose(f);
    assert_int_not_equal(access(tmp, F_OK), 0);

    /* resuming past every row keeps them all; a missing file starts empty and exists at once */
    m = open_ok(path, 1000);
    cnn_metrics_close(m);
    f = open_plain(path);
    assert_true(train_matches(f, want, 7));
    H5Fclose(f);
    char other[320];
    snprintf(other, sizeof other, "%s/new.h5", dir);
    m = open_ok(other, 500);
    f = open_plain(other);
    assert_true(f >= 0);
    assert_int_equal(read_col(f, "/train/step", NULL), 0);
    assert_int_equal(read_col(f, "/eval/step", NULL), 0);
    H5Fclose(f);
    cnn_metrics_close(m);

    /* a file that is not a metrics log is refused, naming it, and left alone */
    tu_write_file(other, "not hdf5", 8);
    assert_null(cnn_metrics_open(other, "", 1, 10, &err));
    assert_non_null(strstr(err.msg, other));
    assert_int_equal(access(other, F_OK), 0);
    hid_t h = H5Fcreate(other, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    H5Fclose(h);
    assert_null(cnn_metrics_open(other, "", 1, 10, &err));
    assert_non_null(strstr(err.msg, other));
    assert_non_null(strstr(err.msg, "/train"));
    tu_rmrf(dir);
}

/* The child of the SIGKILL test: 10 rows flushed, 5 more and an eval row buffered, then killed. */
static void child_killed_writer(const char *path)
{
    CnnErr err;
    CnnMetrics *m = cnn_metrics_open(path, "[run]\n", 1, -1, &err);
    if (!m) _exit(2);
    for (int i = 0; i < 15; i++) {
        CnnTrainRow r = row_at(i);
        if (cnn_metrics_train(m, &r, &err) < 0) _exit(3);
        if (i == 9 && cnn_metrics_flush(m, &err) < 0) _exit(4);
    }
    if (cnn_metrics_eval(m, 100, 0.5, 0.5, &err) < 0) _exit(5);
    raise(SIGKILL);
    _exit(6);
}

static void test_sigkill_keeps_flushed_rows(void **state)
{
    (void)state;
    char dir[256], path[300];
    tu_mkdtemp(dir, sizeof dir, "metrics");
    snprintf(path, sizeof path, "%s/metrics.h5", dir);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) child_killed_writer(path);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

    /* a plain read-only open, exactly the 10 flushed rows */
    hid_t f = open_plain(path);
    assert_true(f >= 0);
    CnnTrainRow want[10];
    for (int i = 0; i < 10; i++) want[i] = row_at(i);
    assert_true(train_matches(f, want, 10));
    assert_int_equal(read_col(f, "/eval/step", NULL), 0);
    H5Fclose(f);
    if (access("/usr/bin/h5dump", X_OK) == 0) assert_true(h5dump_header_ok(path, 10));

    /* resuming from it keeps the rows up to step 40 */
    CnnMetrics *m = open_ok(path, 40);
    train_rows(m, 4, 6);
    cnn_metrics_close(m);
    assert_true(file_matches(path, 6));
    tu_rmrf(dir);
}

/* h5dump reads the log while its writer is between flushes, with rows pending in memory. */
static void test_h5dump_between_flushes(void **state)
{
    (void)state;
    if (access("/usr/bin/h5dump", X_OK) != 0) skip();
    char dir[256], path[300];
    tu_mkdtemp(dir, sizeof dir, "metrics");
    snprintf(path, sizeof path, "%s/metrics.h5", dir);
    CnnErr err;
    CnnMetrics *m = open_ok(path, -1);
    assert_true(h5dump_header_ok(path, 0));
    train_rows(m, 0, 12);
    assert_int_equal(cnn_metrics_flush(m, &err), 0);
    train_rows(m, 12, 15); /* pending */
    assert_true(h5dump_header_ok(path, 12));
    assert_int_equal(cnn_metrics_flush(m, &err), 0);
    assert_true(h5dump_header_ok(path, 15));
    cnn_metrics_close(m);
    tu_rmrf(dir);
}

/* A .tmp left by a flush that was killed halfway changes nothing: not read by a resume,
 * overwritten by the next flush. */
static void test_stale_tmp(void **state)
{
    (void)state;
    char dir[256], path[300], tmp[320];
    tu_mkdtemp(dir, sizeof dir, "metrics");
    snprintf(path, sizeof path, "%s/metrics.h5", dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    CnnMetrics *m = open_ok(path, -1);
    train_rows(m, 0, 8);
    cnn_metrics_close(m);
    tu_write_file(tmp, "\211HDF\r\n\032\n half a file", 20);
    m = open_ok(path, 50);
    assert_int_not_equal(access(tmp, F_OK), 0);
    assert_true(file_matches(path, 5));
    tu_write_file(tmp, "junk", 4);
    train_rows(m, 5, 9);
    cnn_metrics_close(m);
    assert_int_not_equal(access(tmp, F_OK), 0);
    assert_true(file_matches(path, 9));
    tu_rmrf(dir);
}

/* A flush that fails (the directory vanished) names the file and keeps its rows for the next. */
static void test_flush_failure_keeps_rows(void **state)
{
    (void)state;
    char dir[256], path[300];
    tu_mkdtemp(dir, sizeof dir, "metrics");
    snprintf(path, sizeof path, "%s/metrics.h5", dir);
    CnnErr err;
    CnnMetrics *m = open_ok(path, -1);
    train_rows(m, 0, 3);
    tu_rmrf(dir);
    assert_int_equal(cnn_metrics_flush(m, &err), -1);
    assert_non_null(strstr(err.msg, "metrics.h5.tmp"));
    assert_non_null(strstr(err.msg, dir));
    assert_int_equal(mkdir(dir, 0700), 0);
    train_rows(m, 3, 4);
    assert_int_equal(cnn_metrics_flush(m, &err), 0);
    assert_true(file_matches(path, 4));
    cnn_metrics_close(m);

    /* an open in a place that cannot be written fails at once */
    char bad[400];
    snprintf(bad, sizeof bad, "%s/no/such/dir/metrics.h5", dir);
    assert_null(cnn_metrics_open(bad, "", 1, -1, &err));
    assert_non_null(strstr(err.msg, bad));
    tu_rmrf(dir);
}

/* The reader child: on each byte n from `go`, opens the file plainly, checks it holds exactly rows
 * [0, n), closes it, answers on `done`. Exit 0 if every check held. */
static void child_reader(const char *path, int go, int done)
{
    unsigned char n;
    int bad = 0;
    while (read(go, &n, 1) == 1) {
        if (!file_matches(path, n)) bad = 1;
        unsigned char r = (unsigned char)bad;
        if (write(done, &r, 1) != 1) _exit(11);
    }
    _exit(bad ? 12 : 0);
}

static void test_reader_while_writing(void **state)
{
    (void)state;
    char dir[256], path[300];
    tu_mkdtemp(dir, sizeof dir, "metrics");
    snprintf(path, sizeof path, "%s/metrics.h5", dir);
    int go[2], done[2];
    assert_int_equal(pipe(go), 0);
    assert_int_equal(pipe(done), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(go[1]);
        close(done[0]);
        child_reader(path, go[0], done[1]);
    }
    close(go[0]);
    close(done[1]);
    CnnErr err;
    CnnMetrics *m = open_ok(path, -1);
    /* flushed row counts; after each flush one more row stays pending, which the reader must not
     * see (each count exceeds the previous one by more than that row) */
    unsigned char counts[] = {0, 3, 7, 12}, ans;
    int from = 0;
    for (int k = 0; k < 4; k++) {
        train_rows(m, from, counts[k]);
        assert_int_equal(cnn_metrics_flush(m, &err), 0);
        train_rows(m, counts[k], counts[k] + 1);
        from = counts[k] + 1;
        assert_int_equal(write(go[1], &counts[k], 1), 1);
        assert_int_equal(read(done[0], &ans, 1), 1);
        assert_int_equal(ans, 0);
    }
    close(go[1]);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    cnn_metrics_close(m);
    close(done[0]);
    tu_rmrf(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_resume_cuts),
        cmocka_unit_test(test_sigkill_keeps_flushed_rows),
        cmocka_unit_test(test_h5dump_between_flushes),
        cmocka_unit_test(test_stale_tmp),
        cmocka_unit_test(test_flush_failure_keeps_rows),
        cmocka_unit_test(test_reader_while_writing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
