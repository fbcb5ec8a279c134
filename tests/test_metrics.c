/* metrics: rows written and flushed read back exactly through the plain HDF5 API; a new open
 * replaces the file; a resume cuts rows past the step (in place after a clean close, and from a file
 * a SIGKILLed writer left); a writer killed with SIGKILL leaves every row up to its last flush; a
 * reader in another process sees the rows of each flush while the writer is alive.
 *
 * Children are forked before anything is opened in the parent, since a forked child shares the
 * parent's HDF5 library state (its open-file table) and would reuse the parent's handle instead of
 * reading the file. Children report through their exit status, never through cmocka. */
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

static hid_t open_reader(const char *path)
{
    return H5Fopen(path, H5F_ACC_RDONLY | H5F_ACC_SWMR_READ, H5P_DEFAULT);
}

/* Length of a 1-D dataset and its values as double (NULL: length only); -1 if missing. */
static long read_col(hid_t f, const char *obj, double *out)
{
    hid_t ds = H5Dopen2(f, obj, H5P_DEFAULT);
    if (ds < 0) return -1;
    /* A SWMR reader that keeps the file open gets the dataset's object header from its metadata
     * cache even on a fresh H5Dopen2, so the extent is stale until H5Drefresh (h5py: ds.refresh()).
     * Harmless on a file that is not being written. */
    if (H5Drefresh(ds) < 0) {
        H5Dclose(ds);
        return -1;
    }
    hid_t sp = H5Dget_space(ds);
    hsize_t n = 0;
    H5Sget_simple_extent_dims(sp, &n, NULL);
    if (out && n > 0 && H5Dread(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, out) < 0) n = 0;
    H5Sclose(sp);
    H5Dclose(ds);
    return (long)n;
}

/* 1 if /train holds exactly rows[0..n) (every column equal length), else 0. */
static int train_matches(hid_t f, const CnnTrainRow *rows, long n)
{
    static const char *cols[] = {"step", "epoch", "loss", "accuracy", "lr", "images_per_sec", "wall_s"};
    double *v = malloc(sizeof *v * (size_t)(n + 512));
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
    train_rows(m, 200, 300); /* across the 256-row chunk; written by close */
    assert_int_equal(cnn_metrics_eval(m, 3000, 0.75, 0.875, &err), 0);
    CnnTrainRow back = {.step = 5};
    assert_int_equal(cnn_metrics_train(m, &back, &err), -1);
    assert_non_null(strstr(err.msg, "metrics.h5"));
    cnn_metrics_close(m);

    CnnTrainRow want[300];
    for (int i = 0; i < 300; i++) want[i] = row_at(i);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    assert_true(f >= 0);
    assert_true(train_matches(f, want, 300));
    double v[4];
    assert_int_equal(read_col(f, "/eval/step", v), 2);
    assert_true(v[0] == 100 && v[1] == 3000);
    assert_int_equal(read_col(f, "/eval/loss", v), 2);
    assert_true(v[0] == 1.25 && v[1] == 0.75);
    assert_int_equal(read_col(f, "/eval/accuracy", v), 2);
    assert_true(v[0] == 0.5 && v[1] == 0.875);
    hid_t ds = H5Dopen2(f, "/train/epoch", H5P_DEFAULT);
    hid_t ty = H5Dget_type(ds);
    assert_true(H5Tequal(ty, H5T_STD_I64LE) > 0);
    H5Tclose(ty);
    H5Dclose(ds);
    char *cfg = read_str_attr(f, "config"), *started = read_str_attr(f, "started");
    assert_string_equal(cfg, "[run]\nname = t\n");
    assert_int_equal(strlen(started), 20); /* 2024-05-01T12:00:00Z */
    assert_true(started[4] == '-' && started[10] == 'T' && started[19] == 'Z');
    free(cfg);
    free(started);
    int64_t ws = 0;
    hid_t a = H5Aopen(f, "world_size", H5P_DEFAULT);
    assert_true(H5Aread(a, H5T_NATIVE_INT64, &ws) >= 0);
    assert_int_equal(ws, 2);
    H5Aclose(a);
    H5Fclose(f);

    /* a new run replaces the file */
    m = open_ok(path, -1);
    cnn_metrics_close(m);
    f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    assert_int_equal(read_col(f, "/train/loss", NULL), 0);
    assert_int_equal(read_col(f, "/eval/step", NULL), 0);
    H5Fclose(f);
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

    struct stat st, st2;
    assert_int_equal(stat(path, &st), 0);
    m = open_ok(path, 60); /* clean file: cut in place, the same inode */
    assert_int_equal(stat(path, &st2), 0);
    assert_true(st.st_ino == st2.st_ino);
    CnnTrainRow want[12];
    for (int i = 0; i < 6; i++) want[i] = row_at(i);
    want[6] = row_at(6);
    want[6].loss = 42.0; /* step 70 logged again by the resumed run */
    assert_int_equal(cnn_metrics_train(m, &want[6], &err), 0);
    CnnTrainRow early = row_at(4); /* before the kept rows' last step */
    assert_int_equal(cnn_metrics_train(m, &early, &err), -1);
    cnn_metrics_close(m);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    assert_true(f >= 0);
    assert_true(train_matches(f, want, 7));
    double v[4];
    assert_int_equal(read_col(f, "/eval/step", v), 1);
    assert_true(v[0] == 50);
    H5Fclose(f);
    assert_int_not_equal(stat(tmp, &st), 0);

    /* resuming past every row keeps them all; a missing file is created */
    m = open_ok(path, 1000);
    cnn_metrics_close(m);
    f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    assert_true(train_matches(f, want, 7));
    H5Fclose(f);
    char other[320];
    snprintf(other, sizeof other, "%s/new.h5", dir);
    m = open_ok(other, 500);
    cnn_metrics_close(m);
    f = H5Fopen(other, H5F_ACC_RDONLY, H5P_DEFAULT);
    assert_int_equal(read_col(f, "/train/step", NULL), 0);
    H5Fclose(f);

    /* a file that is not a metrics log is refused, naming it */
    tu_write_file(other, "not hdf5", 8);
    assert_null(cnn_metrics_open(other, "", 1, 10, &err));
    assert_non_null(strstr(err.msg, other));
    hid_t h = H5Fcreate(other, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    H5Fclose(h);
    assert_null(cnn_metrics_open(other, "", 1, 10, &err));
    assert_non_null(strstr(err.msg, "/train"));
    tu_rmrf(dir);
}

/* The child of the SIGKILL test: 10 rows flushed, 5 more buffered, then killed. */
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

    CnnTrainRow want[10];
    for (int i = 0; i < 10; i++) want[i] = row_at(i);
    /* HDF5 1.10.8 refuses a plain read-only open of a file whose SWMR writer died ("file is already
     * open for write"): the superblock still carries the writer's flags. A SWMR-read open works, and
     * that is what readers (h5py swmr=True) use. */
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    assert_true(f < 0);
    f = open_reader(path);
    assert_true(f >= 0);
    assert_true(train_matches(f, want, 10));
    assert_int_equal(read_col(f, "/eval/step", NULL), 0);
    H5Fclose(f);

    /* resuming from it: the rows up to step 40 survive in a rewritten file (a new inode), which is
     * clean again */
    struct stat st, st2;
    assert_int_equal(stat(path, &st), 0);
    CnnMetrics *m = open_ok(path, 40);
    assert_int_equal(stat(path, &st2), 0);
    assert_true(st.st_ino != st2.st_ino);
    train_rows(m, 4, 6);
    cnn_metrics_close(m);
    f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    assert_true(f >= 0);
    CnnTrainRow want6[6];
    for (int i = 0; i < 6; i++) want6[i] = row_at(i);
    assert_true(train_matches(f, want6, 6));
    H5Fclose(f);
    tu_rmrf(dir);
}

/* The reader child: on each byte from `go`, opens (once) and checks the rows the writer says are
 * there, answering on `done`. Exit 0 if every check held. */
static void child_reader(const char *path, int go, int done)
{
    hid_t f = -1;
    unsigned char n;
    int bad = 0;
    while (read(go, &n, 1) == 1) {
        if (f < 0) f = open_reader(path);
        if (f < 0) _exit(10);
        CnnTrainRow want[16];
        for (int i = 0; i < n; i++) want[i] = row_at(i);
        if (!train_matches(f, want, n)) bad = 1;
        unsigned char r = (unsigned char)bad;
        if (write(done, &r, 1) != 1) _exit(11);
    }
    if (f >= 0) H5Fclose(f);
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
    unsigned char counts[] = {3, 7, 12}, ans;
    int from = 0;
    for (int k = 0; k < 3; k++) {
        train_rows(m, from, counts[k]);
        from = counts[k];
        assert_int_equal(cnn_metrics_flush(m, &err), 0);
        CnnTrainRow extra = row_at(from); /* buffered, not flushed: the reader must not see it */
        if (k == 2) assert_int_equal(cnn_metrics_train(m, &extra, &err), 0);
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
        cmocka_unit_test(test_reader_while_writing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
