/* dataset: CIFAR-10 and IDX files written by the test land pixel-exact where the contract says, and
 * every malformed file is an error naming the file and the byte offset. */
#include <errno.h>
#include <string.h>
#include <zlib.h>

#include "testutil.h"

#include "cnn/config.h"
#include "cnn/data/dataset.h"

typedef struct {
    char dir[512];
} Tmp;

static int setup(void **state)
{
    Tmp *t = calloc(1, sizeof *t);
    tu_mkdtemp(t->dir, sizeof t->dir, "dataset");
    *state = t;
    return 0;
}

static int teardown(void **state)
{
    Tmp *t = *state;
    tu_rmrf(t->dir);
    free(t);
    return 0;
}

static void path_in(char *out, size_t n, const Tmp *t, const char *name)
{
    snprintf(out, n, "%s/%s", t->dir, name);
}

/* Pixel value of record r at (c, y, x): distinct enough that a misplaced byte is caught. */
static uint8_t cifar_px(int r, int c, int y, int x) { return (uint8_t)(r * 71 + c * 37 + y * 5 + x * 3); }

/* n records, labels 7, 0, 9, ... (r*7 % 10), written to dir/name. */
static void write_cifar(const Tmp *t, const char *name, int n, int first_record)
{
    size_t size = (size_t)n * 3073;
    uint8_t *b = malloc(size);
    for (int i = 0; i < n; i++) {
        int r = first_record + i;
        uint8_t *rec = b + (size_t)i * 3073;
        rec[0] = (uint8_t)((r * 7) % 10);
        for (int c = 0; c < 3; c++)
            for (int y = 0; y < 32; y++)
                for (int x = 0; x < 32; x++) rec[1 + c * 1024 + y * 32 + x] = cifar_px(r, c, y, x);
    }
    char p[1024];
    path_in(p, sizeof p, t, name);
    tu_write_file(p, b, size);
    free(b);
}

static void assert_err_has(const CnnErr *e, const char *a, const char *b)
{
    if (!strstr(e->msg, a) || (b && !strstr(e->msg, b)))
        fail_msg("error \"%s\" lacks \"%s\" / \"%s\"", e->msg, a, b ? b : "");
}

static void test_cifar_good(void **state)
{
    Tmp *t = *state;
    write_cifar(t, "a.bin", 3, 0);
    write_cifar(t, "b.bin", 2, 3);
    CnnDataset ds;
    CnnErr e = {{0}};
    assert_int_equal(cnn_dataset_load_cifar10(&ds, t->dir, " a.bin , b.bin", &e), 0);
    assert_int_equal(ds.n, 5);
    assert_int_equal(ds.h, 32);
    assert_int_equal(ds.w, 32);
    assert_int_equal(ds.c, 3);
    assert_int_equal(ds.num_classes, 10);
    assert_int_equal(ds.layout, CNN_LAYOUT_CHW);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(ds.labels[i], (i * 7) % 10);
        for (int c = 0; c < 3; c++)
            for (int y = 0; y < 32; y++)
                for (int x = 0; x < 32; x++)
                    assert_int_equal(ds.images[i][c * 1024 + y * 32 + x], cifar_px(i, c, y, x));
    }
    cnn_dataset_free(&ds);
    assert_int_equal(ds.n, 0);
    assert_null(ds.images);
}

static void test_cifar_wrong_size(void **state)
{
    Tmp *t = *state;
    write_cifar(t, "a.bin", 2, 0);
    char p[1024];
    path_in(p, sizeof p, t, "a.bin");
    assert_int_equal(truncate(p, 2 * 3073 - 100), 0);
    CnnDataset ds;
    CnnErr e = {{0}};
    assert_int_equal(cnn_dataset_load_cifar10(&ds, t->dir, "a.bin", &e), -1);
    assert_err_has(&e, p, "offset 3073");
}

static void test_cifar_bad_label(void **state)
{
    Tmp *t = *state;
    write_cifar(t, "ok.bin", 1, 0);
    write_cifar(t, "a.bin", 3, 0);
    char p[1024];
    path_in(p, sizeof p, t, "a.bin");
    FILE *f = fopen(p, "r+b");
    assert_non_null(f);
    assert_int_equal(fseek(f, 2 * 3073, SEEK_SET), 0);
    fputc(10, f);
    fclose(f);
    CnnDataset ds;
    CnnErr e = {{0}};
    assert_int_equal(cnn_dataset_load_cifar10(&ds, t->dir, "ok.bin,a.bin", &e), -1);
    assert_err_has(&e, p, "offset 6146");
    assert_err_has(&e, "label 10", NULL);
}

static void test_cifar_empty_and_missing(void **state)
{
    Tmp *t = *state;
    char p[1024];
    path_in(p, sizeof p, t, "empty.bin");
    tu_write_file(p, "", 0);
    CnnDataset ds;
    CnnErr e = {{0}};
    assert_int_equal(cnn_dataset_load_cifar10(&ds, t->dir, "empty.bin", &e), -1);
    assert_err_has(&e, p, "offset 0");

    path_in(p, sizeof p, t, "nope.bin");
    assert_int_equal(cnn_dataset_load_cifar10(&ds, t->dir, "nope.bin", &e), -1);
    assert_err_has(&e, p, strerror(ENOENT));
}

/* ---- IDX ---- */

static void put_be32(uint8_t *b, uint32_t v)
{
    b[0] = (uint8_t)(v >> 24);
    b[1] = (uint8_t)(v >> 16);
    b[2] = (uint8_t)(v >> 8);
    b[3] = (uint8_t)v;
}

static uint8_t idx_px(int i, int y, int x) { return (uint8_t)(i * 13 + y * 7 + x); }

/* Image file of n images rows x cols (bytes returned, *size set), optionally with extra bytes. */
static uint8_t *idx_images(int n, int rows, int cols, size_t *size)
{
    *size = 16 + (size_t)n * (size_t)rows * (size_t)cols;
    uint8_t *b = malloc(*size);
    put_be32(b, 0x803);
    put_be32(b + 4, (uint32_t)n);
    put_be32(b + 8, (uint32_t)rows);
    put_be32(b + 12, (uint32_t)cols);
    for (int i = 0; i < n; i++)
        for (int y = 0; y < rows; y++)
            for (int x = 0; x < cols; x++) b[16 + ((size_t)i * rows + y) * cols + x] = idx_px(i, y, x);
    return b;
}

static uint8_t *idx_labels(int n, size_t *size)
{
    *size = 8 + (size_t)n;
    uint8_t *b = malloc(*size);
    put_be32(b, 0x801);
    put_be32(b + 4, (uint32_t)n);
    for (int i = 0; i < n; i++) b[8 + i] = (uint8_t)((i * 3) % 10);
    return b;
}

static void write_gz(const char *path, const void *data, size_t n)
{
    gzFile f = gzopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(gzwrite(f, data, (unsigned)n), (int)n);
    assert_int_equal(gzclose(f), Z_OK);
}

static void check_idx(const CnnDataset *ds, int n, int rows, int cols)
{
    assert_int_equal(ds->n, n);
    assert_int_equal(ds->h, rows);
    assert_int_equal(ds->w, cols);
    assert_int_equal(ds->c, 1);
    assert_int_equal(ds->layout, CNN_LAYOUT_HWC);
    for (int i = 0; i < n; i++) {
        assert_int_equal(ds->labels[i], (i * 3) % 10);
        for (int y = 0; y < rows; y++)
            for (int x = 0; x < cols; x++) assert_int_equal(ds->images[i][y * cols + x], idx_px(i, y, x));
    }
}

static void test_idx_plain_and_gz(void **state)
{
    Tmp *t = *state;
    size_t si, sl;
    uint8_t *im = idx_images(4, 5, 6, &si), *lb = idx_labels(4, &sl);
    char pi[1024], pl[1024];
    path_in(pi, sizeof pi, t, "im");
    path_in(pl, sizeof pl, t, "lb");
    tu_write_file(pi, im, si);
    tu_write_file(pl, lb, sl);
    CnnDataset ds;
    CnnErr e = {{0}};
    assert_int_equal(cnn_dataset_load_idx(&ds, pi, pl, 10, &e), 0);
    check_idx(&ds, 4, 5, 6);
    cnn_dataset_free(&ds);

    path_in(pi, sizeof pi, t, "im.gz");
    path_in(pl, sizeof pl, t, "lb.gz");
    write_gz(pi, im, si);
    write_gz(pl, lb, sl);
    assert_int_equal(cnn_dataset_load_idx(&ds, pi, pl, 10, &e), 0);
    check_idx(&ds, 4, 5, 6);
    cnn_dataset_free(&ds);

    /* Through cnn_dataset_load with a hand-filled config, relative to dir. */
    CnnConfig cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.format = CNN_DATA_IDX;
    snprintf(cfg.dir, sizeof cfg.dir, "%s", t->dir);
    snprintf(cfg.train, sizeof cfg.train, "im.gz, lb.gz");
    cfg.height = 5;
    cfg.width = 6;
    cfg.channels = 1;
    cfg.num_classes = 10;
    assert_int_equal(cnn_dataset_load(&ds, &cfg, 0, &e), 0);
    check_idx(&ds, 4, 5, 6);
    cnn_dataset_free(&ds);
    cfg.height = 28; /* shape mismatch names the images file */
    assert_int_equal(cnn_dataset_load(&ds, &cfg, 0, &e), -1);
    assert_err_has(&e, pi, "5x6x1");
    free(im);
    free(lb);
}

static void test_idx_errors(void **state)
{
    Tmp *t = *state;
    size_t si, sl;
    uint8_t *im = idx_images(4, 5, 6, &si), *lb = idx_labels(4, &sl);
    char pi[1024], pl[1024];
    path_in(pi, sizeof pi, t, "im");
    path_in(pl, sizeof pl, t, "lb");
    tu_write_file(pl, lb, sl);
    CnnDataset ds;
    CnnErr e = {{0}};

    /* bad magic */
    im[3] = 0x01;
    tu_write_file(pi, im, si);
    assert_int_equal(cnn_dataset_load_idx(&ds, pi, pl, 10, &e), -1);
    assert_err_has(&e, pi, "offset 0");
    im[3] = 0x03;

    /* short data: one image's last 10 bytes missing -> runs out at si - 10 */
    tu_write_file(pi, im, si - 10);
    assert_int_equal(cnn_dataset_load_idx(&ds, pi, pl, 10, &e), -1);
    char want[64];
    snprintf(want, sizeof want, "offset %zu", si - 10);
    assert_err_has(&e, pi, want);

    /* trailing garbage */
    uint8_t *big = calloc(1, si + 3);
    memcpy(big, im, si);
    tu_write_file(pi, big, si + 3);
    assert_int_equal(cnn_dataset_load_idx(&ds, pi, pl, 10, &e), -1);
    snprintf(want, sizeof want, "offset %zu", si);
    assert_err_has(&e, pi, want);
    free(big);

    /* truncated gzip: the .gz cut short, once in the middle of the data, once in its trailer */
    char pg[1024];
    path_in(pg, sizeof pg, t, "im.gz");
    write_gz(pg, im, si);
    FILE *f = fopen(pg, "rb");
    fseek(f, 0, SEEK_END);
    long gz_size = ftell(f);
    fclose(f);
    assert_int_equal(truncate(pg, 4), 0); /* header cut: nothing decodes */
    assert_int_equal(cnn_dataset_load_idx(&ds, pg, pl, 10, &e), -1);
    assert_err_has(&e, pg, "offset 0");
    write_gz(pg, im, si);
    assert_int_equal(truncate(pg, gz_size - 4), 0); /* length trailer cut: all data decodes */
    assert_int_equal(cnn_dataset_load_idx(&ds, pg, pl, 10, &e), -1);
    snprintf(want, sizeof want, "offset %zu", si);
    assert_err_has(&e, pg, want);
    /* a random-ish image compresses badly, so a cut in the middle leaves data missing */
    {
        int n = 50;
        size_t sz = 16 + (size_t)n * 28 * 28;
        uint8_t *rnd = malloc(sz);
        CnnRng r;
        cnn_rng_init(&r, 5, CNN_RNG_TEST, 0, 0);
        for (size_t i = 0; i < sz; i++) rnd[i] = (uint8_t)cnn_rng_u32(&r);
        put_be32(rnd, 0x803);
        put_be32(rnd + 4, (uint32_t)n);
        put_be32(rnd + 8, 28);
        put_be32(rnd + 12, 28);
        write_gz(pg, rnd, sz);
        assert_int_equal(truncate(pg, (off_t)(sz / 2)), 0);
        size_t sl50;
        uint8_t *lb50 = idx_labels(n, &sl50);
        tu_write_file(pl, lb50, sl50);
        assert_int_equal(cnn_dataset_load_idx(&ds, pg, pl, 10, &e), -1);
        assert_err_has(&e, pg, "offset ");
        assert_null(strstr(e.msg, "offset 0:")); /* somewhere in the pixel data */
        free(rnd);
        free(lb50);
        tu_write_file(pl, lb, sl);
    }

    /* a header promising far more than the file holds (3 x 24624 x 40026 = 2.96 GB in 64 bytes, a
     * fuzz finding) is refused before the pixels are allocated: plain, naming where the file ends and
     * how much is missing; gzip, by deflate's 1032:1 limit */
    {
        uint8_t hdr[64] = {0};
        put_be32(hdr, 0x803);
        put_be32(hdr + 4, 3);
        put_be32(hdr + 8, 24624);
        put_be32(hdr + 12, 40026);
        tu_write_file(pi, hdr, sizeof hdr);
        size_t sl3h;
        uint8_t *lb3h = idx_labels(3, &sl3h);
        tu_write_file(pl, lb3h, sl3h);
        free(lb3h);
        assert_int_equal(cnn_dataset_load_idx(&ds, pi, pl, 10, &e), -1);
        snprintf(want, sizeof want, "offset 64: file ends while reading pixels (%llu more",
                 3ull * 24624 * 40026 - 48);
        assert_err_has(&e, pi, want);
        write_gz(pg, hdr, sizeof hdr);
        assert_int_equal(cnn_dataset_load_idx(&ds, pg, pl, 10, &e), -1);
        snprintf(want, sizeof want, "offset 16: the header promises %llu bytes of pixels",
                 3ull * 24624 * 40026);
        assert_err_has(&e, pg, want);
        assert_non_null(strstr(e.msg, "gzip file can hold"));
        tu_write_file(pl, lb, sl);
    }

    /* count mismatch: 3 labels for 4 images */
    tu_write_file(pi, im, si);
    size_t sl3;
    uint8_t *lb3 = idx_labels(3, &sl3);
    char pl3[1024];
    path_in(pl3, sizeof pl3, t, "lb3");
    tu_write_file(pl3, lb3, sl3);
    assert_int_equal(cnn_dataset_load_idx(&ds, pi, pl3, 10, &e), -1);
    assert_err_has(&e, pl3, "offset 4");
    free(lb3);

    /* label out of range: label 2 of 4 is 6, with num_classes 5 -> offset 8 + 2 = 10 */
    assert_int_equal(cnn_dataset_load_idx(&ds, pi, pl, 5, &e), -1);
    assert_err_has(&e, pl, "offset 10");

    /* labels file with the images magic */
    assert_int_equal(cnn_dataset_load_idx(&ds, pi, pi, 10, &e), -1);
    assert_err_has(&e, pi, "offset 0");

    /* missing */
    path_in(pl3, sizeof pl3, t, "missing");
    assert_int_equal(cnn_dataset_load_idx(&ds, pi, pl3, 10, &e), -1);
    assert_err_has(&e, pl3, strerror(ENOENT));
    free(im);
    free(lb);
}

static void test_load_cifar_config(void **state)
{
    Tmp *t = *state;
    write_cifar(t, "test_batch.bin", 2, 0);
    CnnConfig cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.format = CNN_DATA_CIFAR10;
    snprintf(cfg.dir, sizeof cfg.dir, "%s", t->dir);
    cfg.height = cfg.width = 32;
    cfg.channels = 3;
    cfg.num_classes = 10;
    CnnDataset ds;
    CnnErr e = {{0}};
    /* cfg.test empty: the official default name */
    assert_int_equal(cnn_dataset_load(&ds, &cfg, 1, &e), 0);
    assert_int_equal(ds.n, 2);
    assert_int_equal(ds.images[1][2 * 1024 + 31 * 32 + 31], cifar_px(1, 2, 31, 31));
    cnn_dataset_free(&ds);
    /* train defaults to data_batch_1..5, which are missing here */
    assert_int_equal(cnn_dataset_load(&ds, &cfg, 0, &e), -1);
    assert_err_has(&e, "data_batch_1.bin", strerror(ENOENT));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_cifar_good, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cifar_wrong_size, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cifar_bad_label, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cifar_empty_and_missing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idx_plain_and_gz, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idx_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_load_cifar_config, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
