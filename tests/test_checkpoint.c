/* checkpoint: a write reads back bitwise equal with equal meta; keep prunes the oldest and never the
 * newest; stale .tmp files go; a truncated file, a flipped data byte, a shape mismatch, a missing
 * slot and a wrong format are refused with errors naming the file and object; list order. */
#include "testutil.h"

#include <errno.h>
#include <sys/stat.h>

#include <hdf5.h>

#include "cnn/io/checkpoint.h"
#include "cnn/io/h5util.h"

/* A small network's tensors, carved from one block like the model does. */
typedef struct {
    CnnTensorInfo t[4];
    int n;
    size_t total;
    float *params, *m, *v;
    CnnCkptData d;
} Net;

static void add_tensor(Net *net, const char *name, int rank, int d0, int d1, int d2, int d3)
{
    CnnTensorInfo *t = &net->t[net->n++];
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", name);
    t->rank = rank;
    int dd[4] = {d0, d1, d2, d3};
    t->count = 1;
    for (int i = 0; i < rank; i++) {
        t->dims[i] = dd[i];
        t->count *= (size_t)dd[i];
    }
    t->offset = net->total;
    net->total += t->count;
}

/* conv1 [5,5,3,cout] + biases, dense [12,10] + biases; two Adam slots. */
static void net_init(Net *net, int cout, uint64_t seed)
{
    memset(net, 0, sizeof *net);
    add_tensor(net, "conv1/weights", 4, 5, 5, 3, cout);
    add_tensor(net, "conv1/biases", 1, cout, 0, 0, 0);
    add_tensor(net, "softmax/weights", 2, 12, 10, 0, 0);
    add_tensor(net, "softmax/biases", 1, 10, 0, 0, 0);
    net->params = malloc(net->total * sizeof(float));
    net->m = malloc(net->total * sizeof(float));
    net->v = malloc(net->total * sizeof(float));
    tu_fill_uniform(net->params, net->total, -1.0f, 1.0f, seed);
    tu_fill_uniform(net->m, net->total, -0.1f, 0.1f, seed + 1);
    tu_fill_uniform(net->v, net->total, 0.0f, 0.01f, seed + 2);
    net->d = (CnnCkptData){.tensors = net->t, .n_tensors = net->n, .params = net->params,
                           .n_slots = 2, .slot_names = {"m", "v"}, .slots = {net->m, net->v}};
}

static void net_free(Net *net)
{
    free(net->params);
    free(net->m);
    free(net->v);
}

static CnnCkptMeta make_meta(long step)
{
    CnnCkptMeta m = {.step = step, .epoch = step / 100, .world_size = 4,
                     .seed = 0xfedcba9876543210ULL, .model_hash = 0x0123456789abcdefULL,
                     .config = "[run]\nname = test\n[train]\nbatch = 128\n", .optim_t = step,
                     .lr = 0.001 * (double)step, .samples_seen = step * 128, .n_grad_exps = 3,
                     .grad_exps = {-7, 2, -1000}};
    snprintf(m.optimizer, sizeof m.optimizer, "adam");
    return m;
}

static void write_ok(const char *dir, long step, const Net *net, int keep)
{
    CnnCkptMeta meta = make_meta(step);
    CnnErr err = {{0}};
    char path[4096], want[4096];
    int rc = cnn_ckpt_write(dir, &meta, &net->d, keep, path, sizeof path, &err);
    if (rc != 0) fail_msg("write: %s", err.msg);
    cnn_ckpt_path(want, sizeof want, dir, step);
    assert_string_equal(path, want);
}

static int file_exists(const char *dir, const char *name)
{
    char p[4096];
    struct stat st;
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return stat(p, &st) == 0;
}

static void test_round_trip(void **state)
{
    (void)state;
    char dir[256], sub[300];
    tu_mkdtemp(dir, sizeof dir, "ckpt");
    snprintf(sub, sizeof sub, "%s/a/b", dir); /* mkdir -p */
    Net net, back;
    net_init(&net, 8, 11);
    net_init(&back, 8, 99); /* different values, overwritten by the read */
    write_ok(sub, 1000, &net, 0);
    assert_false(file_exists(sub, "ckpt-1000.h5.tmp"));

    char path[4096];
    cnn_ckpt_path(path, sizeof path, sub, 1000);
    CnnCkptMeta got, want = make_meta(1000);
    CnnErr err = {{0}};
    if (cnn_ckpt_read(path, &got, &back.d, &err) != 0) fail_msg("read: %s", err.msg);
    assert_memory_equal(back.params, net.params, net.total * sizeof(float));
    assert_memory_equal(back.m, net.m, net.total * sizeof(float));
    assert_memory_equal(back.v, net.v, net.total * sizeof(float));
    assert_int_equal(got.step, want.step);
    assert_int_equal(got.epoch, want.epoch);
    assert_int_equal(got.world_size, want.world_size);
    assert_true(got.seed == want.seed);
    assert_true(got.model_hash == want.model_hash);
    assert_string_equal(got.config, want.config);
    assert_string_equal(got.optimizer, "adam");
    assert_int_equal(got.optim_t, want.optim_t);
    assert_true(got.lr == want.lr);
    assert_int_equal(got.samples_seen, 128000);
    assert_int_equal(got.n_grad_exps, 3);
    assert_int_equal(got.grad_exps[0], -7);
    assert_int_equal(got.grad_exps[1], 2);
    assert_int_equal(got.grad_exps[2], -1000);
    cnn_ckpt_meta_free(&got);
    assert_null(got.config);

    CnnCkptMeta only;
    if (cnn_ckpt_read_meta(path, &only, &err) != 0) fail_msg("read_meta: %s", err.msg);
    assert_int_equal(only.step, 1000);
    assert_true(only.seed == want.seed);
    assert_string_equal(only.config, want.config);
    cnn_ckpt_meta_free(&only);

    /* the layout other tools rely on: names, dtype, shape, the checksum filter, /state attrs */
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    assert_true(f >= 0);
    hid_t ds = H5Dopen2(f, "/optimizer/adam/v/conv1/weights", H5P_DEFAULT);
    assert_true(ds >= 0);
    hid_t sp = H5Dget_space(ds);
    hsize_t dims[4];
    assert_int_equal(H5Sget_simple_extent_dims(sp, dims, NULL), 4);
    assert_true(dims[0] == 5 && dims[1] == 5 && dims[2] == 3 && dims[3] == 8);
    hid_t ty = H5Dget_type(ds);
    assert_true(H5Tequal(ty, H5T_IEEE_F32LE) > 0);
    hid_t dcpl = H5Dget_create_plist(ds);
    assert_int_equal(H5Pget_nfilters(dcpl), 1);
    unsigned flags;
    size_t nelm = 0;
    assert_int_equal(H5Pget_filter2(dcpl, 0, &flags, &nelm, NULL, 0, NULL, NULL), H5Z_FILTER_FLETCHER32);
    H5Pclose(dcpl);
    H5Tclose(ty);
    H5Sclose(sp);
    H5Dclose(ds);
    hid_t st = H5Gopen2(f, "/state", H5P_DEFAULT);
    int64_t ss;
    hid_t a = H5Aopen(st, "sampler_step", H5P_DEFAULT);
    assert_true(H5Aread(a, H5T_NATIVE_INT64, &ss) >= 0);
    assert_int_equal(ss, 1000);
    H5Aclose(a);
    H5Gclose(st);
    H5Fclose(f);

    net_free(&net);
    net_free(&back);
    tu_rmrf(dir);
}

static void test_keep_and_stale_tmp(void **state)
{
    (void)state;
    char dir[256];
    tu_mkdtemp(dir, sizeof dir, "ckpt");
    Net net;
    net_init(&net, 4, 5);
    char stale[512];
    snprintf(stale, sizeof stale, "%s/ckpt-50.h5.tmp", dir);
    tu_write_file(stale, "partial", 7);
    write_ok(dir, 100, &net, 2);
    assert_false(file_exists(dir, "ckpt-50.h5.tmp"));
    write_ok(dir, 200, &net, 2);
    assert_true(file_exists(dir, "ckpt-100.h5") && file_exists(dir, "ckpt-200.h5"));
    write_ok(dir, 300, &net, 2);
    assert_false(file_exists(dir, "ckpt-100.h5"));
    assert_true(file_exists(dir, "ckpt-200.h5") && file_exists(dir, "ckpt-300.h5"));

    /* resumed from 200 while 300 exists: writing 250 with keep=1 must not delete 250 itself */
    write_ok(dir, 250, &net, 1);
    assert_true(file_exists(dir, "ckpt-250.h5") && file_exists(dir, "ckpt-300.h5"));
    assert_false(file_exists(dir, "ckpt-200.h5"));

    /* list: newest first, ignoring look-alikes */
    tu_write_file(stale, "x", 1);
    char junk[512];
    snprintf(junk, sizeof junk, "%s/ckpt-abc.h5", dir);
    tu_write_file(junk, "x", 1);
    snprintf(junk, sizeof junk, "%s/ckpt-7.h5.bak", dir);
    tu_write_file(junk, "x", 1);
    snprintf(junk, sizeof junk, "%s/ckpt-9.h5", dir);
    tu_write_file(junk, "x", 1);
    long steps[8];
    assert_int_equal(cnn_ckpt_list(dir, steps, 8), 3);
    assert_int_equal(steps[0], 300);
    assert_int_equal(steps[1], 250);
    assert_int_equal(steps[2], 9);
    assert_int_equal(cnn_ckpt_list(dir, steps, 2), 2);
    assert_int_equal(steps[1], 250);
    char missing[300];
    snprintf(missing, sizeof missing, "%s/nope", dir);
    assert_int_equal(cnn_ckpt_list(missing, steps, 8), 0);
    net_free(&net);
    tu_rmrf(dir);
}

static void *read_all(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc(*n);
    assert_int_equal(fread(b, 1, *n, f), *n);
    fclose(f);
    return b;
}

static void assert_err_has(const CnnErr *err, const char *a, const char *b)
{
    if (!strstr(err->msg, a) || (b && !strstr(err->msg, b)))
        fail_msg("error '%s' lacks '%s' / '%s'", err->msg, a, b ? b : "");
}

static void test_truncated_and_flipped(void **state)
{
    (void)state;
    char dir[256], path[4096];
    tu_mkdtemp(dir, sizeof dir, "ckpt");
    Net net, back;
    net_init(&net, 8, 3);
    net_init(&back, 8, 4);
    /* a recognizable run of floats in softmax/weights, found in the file bytes below */
    float *sw = net.params + net.t[2].offset;
    for (size_t i = 0; i < net.t[2].count; i++) sw[i] = 1000.0f + (float)i;
    write_ok(dir, 1000, &net, 0);
    cnn_ckpt_path(path, sizeof path, dir, 1000);
    size_t n;
    unsigned char *bytes = read_all(path, &n);

    CnnErr err = {{0}};
    CnnCkptMeta meta;
    char cut[512];
    snprintf(cut, sizeof cut, "%s/cut.h5", dir);
    tu_write_file(cut, bytes, n / 2);
    assert_int_equal(cnn_ckpt_read(cut, &meta, &back.d, &err), -1);
    assert_err_has(&err, cut, "(truncated?)");
    assert_null(meta.config);
    assert_int_equal(cnn_ckpt_read_meta(cut, &meta, &err), -1);
    assert_err_has(&err, cut, NULL);

    unsigned char *hit = memmem(bytes, n, sw + 40, 16 * sizeof(float));
    assert_non_null(hit);
    assert_null(memmem(hit + 1, n - (size_t)(hit + 1 - bytes), sw + 40, 16 * sizeof(float)));
    hit[6] ^= 0x10;
    char flip[512];
    snprintf(flip, sizeof flip, "%s/flip.h5", dir);
    tu_write_file(flip, bytes, n);
    /* the seal (size and CRC-32 of the whole file) refuses it before HDF5 reads a byte */
    assert_int_equal(cnn_ckpt_read(flip, &meta, &back.d, &err), -1);
    assert_err_has(&err, flip, "damaged: its contents' CRC-32 is");
    assert_int_equal(cnn_ckpt_read_meta(flip, &meta, &err), -1);
    assert_err_has(&err, flip, "CRC-32");
    /* and without the seal (an older file), HDF5's per-dataset checksum still names the tensor */
    assert_true(n > CNN_SEAL_BYTES && memcmp(bytes, "cnn-dist sealed file v1\n", 24) == 0);
    memset(bytes, 0, CNN_SEAL_BYTES);
    tu_write_file(flip, bytes, n);
    assert_int_equal(cnn_ckpt_read(flip, &meta, &back.d, &err), -1);
    assert_err_has(&err, flip, "/params/softmax/weights");
    /* the root attributes are intact, so meta alone still reads */
    assert_int_equal(cnn_ckpt_read_meta(flip, &meta, &err), 0);
    cnn_ckpt_meta_free(&meta);

    char notfound[512];
    snprintf(notfound, sizeof notfound, "%s/none.h5", dir);
    assert_int_equal(cnn_ckpt_read(notfound, &meta, &back.d, &err), -1);
    assert_err_has(&err, notfound, NULL);
    char text[512];
    snprintf(text, sizeof text, "%s/text.h5", dir);
    tu_write_file(text, "[run]\n", 6);
    assert_int_equal(cnn_ckpt_read(text, &meta, &back.d, &err), -1);
    assert_err_has(&err, text, NULL);

    free(bytes);
    net_free(&net);
    net_free(&back);
    tu_rmrf(dir);
}

static void test_mismatch(void **state)
{
    (void)state;
    char dir[256], path[4096];
    tu_mkdtemp(dir, sizeof dir, "ckpt");
    Net net32, net64;
    net_init(&net32, 32, 1);
    net_init(&net64, 64, 2);
    write_ok(dir, 1000, &net32, 0);
    cnn_ckpt_path(path, sizeof path, dir, 1000);
    CnnErr err = {{0}};
    CnnCkptMeta meta;
    assert_int_equal(cnn_ckpt_read(path, &meta, &net64.d, &err), -1);
    assert_err_has(&err, "ckpt-1000.h5: /params/conv1/weights has shape [5,5,3,32], the config wants "
                         "[5,5,3,64]",
                   NULL);

    /* a tensor the file lacks */
    snprintf(net32.t[2].name, sizeof net32.t[2].name, "local3/weights");
    assert_int_equal(cnn_ckpt_read(path, &meta, &net32.d, &err), -1);
    assert_err_has(&err, "/params/local3/weights is missing", path);
    snprintf(net32.t[2].name, sizeof net32.t[2].name, "softmax/weights");

    /* SGD's slot against an Adam checkpoint */
    CnnCkptData sgd = net32.d;
    sgd.n_slots = 1;
    sgd.slot_names[0] = "momentum";
    assert_int_equal(cnn_ckpt_read(path, &meta, &sgd, &err), -1);
    assert_err_has(&err, "/optimizer/adam/momentum/conv1/weights is missing", "'adam'");
    assert_int_equal(cnn_ckpt_read(path, &meta, &net32.d, &err), 0);
    cnn_ckpt_meta_free(&meta);

    /* a missing attribute: edited through HDF5, the seal no longer matches; sealed again, the reader's
     * own validation names it */
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    assert_true(f >= 0);
    assert_true(H5Adelete(f, "model_hash") >= 0);
    H5Fclose(f);
    assert_int_equal(cnn_ckpt_read_meta(path, &meta, &err), -1);
    assert_err_has(&err, path, "damaged");
    assert_int_equal(cnn_io_seal(path, &err), 0);
    assert_int_equal(cnn_ckpt_read_meta(path, &meta, &err), -1);
    assert_err_has(&err, path, "'model_hash'");
    /* a foreign HDF5 file (no seal) */
    char other[512];
    snprintf(other, sizeof other, "%s/other.h5", dir);
    f = H5Fcreate(other, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    H5Fclose(f);
    assert_int_equal(cnn_ckpt_read(other, &meta, &net32.d, &err), -1);
    assert_err_has(&err, other, "'format'");

    net_free(&net32);
    net_free(&net64);
    tu_rmrf(dir);
}

static void test_unwritable_dir(void **state)
{
    (void)state;
    char dir[256], blocked[300];
    tu_mkdtemp(dir, sizeof dir, "ckpt");
    snprintf(blocked, sizeof blocked, "%s/file", dir);
    tu_write_file(blocked, "x", 1);
    Net net;
    net_init(&net, 4, 1);
    CnnCkptMeta meta = make_meta(10);
    CnnErr err = {{0}};
    char sub[400];
    snprintf(sub, sizeof sub, "%s/sub", blocked); /* a path through a regular file */
    assert_int_equal(cnn_ckpt_write(sub, &meta, &net.d, 2, NULL, 0, &err), -1);
    assert_err_has(&err, blocked, NULL);
    long steps[2];
    assert_int_equal(cnn_ckpt_list(dir, steps, 2), 0);
    net_free(&net);
    tu_rmrf(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_keep_and_stale_tmp),
        cmocka_unit_test(test_truncated_and_flipped),
        cmocka_unit_test(test_mismatch),
        cmocka_unit_test(test_unwritable_dir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
