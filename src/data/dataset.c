/* dataset: loads CIFAR-10 binary batches (mmap'ed, used in place) and IDX image/label pairs (plain or
 * gzip, decoded into one owned HWC buffer), and validates every byte a model will see: sizes, magic
 * numbers, dimensions, labels, counts. Every user-fixable problem is a CnnErr naming the file and the
 * byte offset (for gzip files: the offset in the decompressed stream); system failures die. */
#include "cnn/data/dataset.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zlib.h>

#define CIFAR_SIDE 32
#define CIFAR_PIXELS (CIFAR_SIDE * CIFAR_SIDE * 3)
#define CIFAR_RECORD (1 + CIFAR_PIXELS) /* label byte + 3072 CHW bytes */
#define CIFAR_CLASSES 10
#define IDX_MAGIC_IMAGES 0x00000803u    /* unsigned byte, 3 dimensions */
#define IDX_MAGIC_LABELS 0x00000801u    /* unsigned byte, 1 dimension */
#define IDX_MAX_SIDE 65536

static const char *const default_cifar_train =
    "data_batch_1.bin,data_batch_2.bin,data_batch_3.bin,data_batch_4.bin,data_batch_5.bin";
static const char *const default_cifar_test = "test_batch.bin";
static const char *const default_idx_train = "train-images-idx3-ubyte.gz,train-labels-idx1-ubyte.gz";
static const char *const default_idx_test = "t10k-images-idx3-ubyte.gz,t10k-labels-idx1-ubyte.gz";

/* Splits a comma-separated list into malloc'd, trimmed names; empty names are skipped. Returns the
 * count; *names must be freed with free_names. */
static int split_names(const char *list, char ***names)
{
    int cap = 1;
    for (const char *p = list; *p; p++) cap += *p == ',';
    char **out = cnn_calloc((size_t)cap, sizeof *out);
    int n = 0;
    const char *p = list;
    for (;;) {
        const char *end = strchr(p, ',');
        if (!end) end = p + strlen(p);
        const char *a = p, *b = end;
        while (a < b && (*a == ' ' || *a == '\t')) a++;
        while (b > a && (b[-1] == ' ' || b[-1] == '\t')) b--;
        if (b > a) {
            out[n] = cnn_malloc((size_t)(b - a) + 1);
            memcpy(out[n], a, (size_t)(b - a));
            out[n][b - a] = '\0';
            n++;
        }
        if (!*end) break;
        p = end + 1;
    }
    *names = out;
    return n;
}

static void free_names(char **names, int n)
{
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
}

/* dir/name, or name alone when dir is empty or name is absolute. */
static void join_path(char *out, size_t cap, const char *dir, const char *name)
{
    int len;
    if (!dir || !*dir || name[0] == '/')
        len = snprintf(out, cap, "%s", name);
    else
        len = snprintf(out, cap, "%s%s%s", dir, dir[strlen(dir) - 1] == '/' ? "" : "/", name);
    if (len < 0 || (size_t)len >= cap) CNN_DIE("path too long: %s/%s", dir ? dir : "", name);
}

void cnn_dataset_free(CnnDataset *ds)
{
    if (!ds) return;
    for (int i = 0; i < ds->n_maps; i++)
        if (ds->maps[i] && munmap(ds->maps[i], ds->map_sizes[i]) != 0) CNN_DIE("munmap failed");
    free(ds->maps);
    free(ds->map_sizes);
    free(ds->images);
    free(ds->labels);
    free(ds->owned);
    memset(ds, 0, sizeof *ds);
}

/* ---- CIFAR-10 ---- */

/* Maps one batch file and checks its size and labels; on success stores the mapping in ds. */
static int map_cifar_file(CnnDataset *ds, const char *path, CnnErr *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return cnn_err(err, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) CNN_DIE("fstat %s: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return cnn_err(err, "%s: offset 0: not a regular file", path);
    }
    long long size = (long long)st.st_size;
    if (size == 0) {
        close(fd);
        return cnn_err(err, "%s: offset 0: empty file (CIFAR-10 records are %d bytes)", path,
                       CIFAR_RECORD);
    }
    if (size % CIFAR_RECORD != 0) {
        close(fd);
        return cnn_err(err,
                       "%s: offset %lld: partial record (file size %lld is not a multiple of the "
                       "%d-byte CIFAR-10 record)",
                       path, size - size % CIFAR_RECORD, size, CIFAR_RECORD);
    }
    if (size / CIFAR_RECORD > INT_MAX - ds->n) {
        close(fd);
        return cnn_err(err, "%s: offset 0: too many records", path);
    }
    void *map = mmap(NULL, (size_t)size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map == MAP_FAILED) CNN_DIE("mmap %s (%lld bytes): %s", path, size, strerror(errno));
    close(fd);
    ds->maps[ds->n_maps] = map;
    ds->map_sizes[ds->n_maps] = (size_t)size;
    ds->n_maps++;
    const uint8_t *bytes = map;
    for (long long off = 0; off < size; off += CIFAR_RECORD)
        if (bytes[off] >= CIFAR_CLASSES)
            return cnn_err(err, "%s: offset %lld: label %d is not in [0, %d)", path, off, bytes[off],
                           CIFAR_CLASSES);
    ds->n += (int)(size / CIFAR_RECORD);
    return 0;
}

int cnn_dataset_load_cifar10(CnnDataset *ds, const char *dir, const char *files, CnnErr *err)
{
    memset(ds, 0, sizeof *ds);
    char **names;
    int n_files = split_names(files, &names);
    if (n_files == 0) {
        free_names(names, n_files);
        return cnn_err(err, "%s: no CIFAR-10 files named (\"%s\")", dir, files);
    }
    ds->maps = cnn_calloc((size_t)n_files, sizeof *ds->maps);
    ds->map_sizes = cnn_calloc((size_t)n_files, sizeof *ds->map_sizes);
    char path[CNN_PATH_LEN + 256];
    for (int f = 0; f < n_files; f++) {
        join_path(path, sizeof path, dir, names[f]);
        if (map_cifar_file(ds, path, err) != 0) {
            free_names(names, n_files);
            cnn_dataset_free(ds);
            return -1;
        }
    }
    free_names(names, n_files);

    ds->h = ds->w = CIFAR_SIDE;
    ds->c = 3;
    ds->num_classes = CIFAR_CLASSES;
    ds->layout = CNN_LAYOUT_CHW;
    ds->images = cnn_malloc(cnn_mul_size((size_t)ds->n, sizeof *ds->images));
    ds->labels = cnn_malloc((size_t)ds->n);
    int i = 0;
    for (int m = 0; m < ds->n_maps; m++) {
        const uint8_t *bytes = ds->maps[m];
        for (size_t off = 0; off < ds->map_sizes[m]; off += CIFAR_RECORD, i++) {
            ds->labels[i] = bytes[off];
            ds->images[i] = bytes + off + 1;
        }
    }
    CNN_ASSERT(i == ds->n);
    return 0;
}

/* ---- IDX ---- */

typedef struct {
    gzFile f;
    const char *path;
    long long off;  /* bytes consumed so far (decompressed) */
    long long size; /* the file's size on disk */
} IdxReader;

/* zlib's message without the "<fd:N>: " prefix gzdopen gives it (the path is already in ours). */
static const char *gz_msg(gzFile f, int *zerr)
{
    const char *m = gzerror(f, zerr);
    if (strncmp(m, "<fd:", 4) == 0) {
        const char *colon = strstr(m, ": ");
        if (colon) m = colon + 2;
    }
    return m;
}

static int idx_open(IdxReader *r, const char *path, CnnErr *err)
{
    r->path = path;
    r->off = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return cnn_err(err, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) CNN_DIE("fstat %s: %s", path, strerror(errno));
    r->size = (long long)st.st_size;
    r->f = gzdopen(fd, "rb");
    if (!r->f) CNN_DIE("gzdopen %s failed (out of memory?)", path);
    gzbuffer(r->f, 1 << 17);
    return 0;
}

/* The data ran out at offset `at` with `missing` bytes of `what` still expected: one message whether
 * the read found it or the file's size foretold it. */
static int idx_ends_early(const IdxReader *r, long long at, const char *what, unsigned long long missing,
                          CnnErr *err)
{
    return cnn_err(err, "%s: offset %lld: file ends while reading %s (%llu more bytes expected)", r->path,
                   at, what, missing);
}

/* Reads exactly n bytes or fails naming the offset where data ran out (or the zlib error). */
static int idx_read(IdxReader *r, void *buf, size_t n, const char *what, CnnErr *err)
{
    uint8_t *p = buf;
    size_t got = 0;
    while (got < n) {
        size_t chunk = n - got > (1u << 30) ? (1u << 30) : n - got;
        int k = gzread(r->f, p + got, (unsigned)chunk);
        if (k <= 0) {
            int zerr = Z_OK;
            const char *msg = gz_msg(r->f, &zerr);
            if (k < 0 || zerr != Z_OK)
                return cnn_err(err, "%s: offset %lld: data ended or is corrupt while reading %s (%s)",
                               r->path, r->off + (long long)got, what, msg);
            return idx_ends_early(r, r->off + (long long)got, what, n - got, err);
        }
        got += (size_t)k;
    }
    r->off += (long long)n;
    return 0;
}

/* Refuses a header that promises more bytes than the file can hold, before anything that size is
 * allocated (a 64-byte file claiming 3 GB of pixels must not cost 3 GB). A plain file must hold them
 * itself; a gzip file of S bytes decodes to at most 1032 S (deflate's largest ratio). Call after the
 * first read, when zlib knows which kind the file is. */
#define DEFLATE_MAX_RATIO 1032
static int idx_can_hold(IdxReader *r, size_t n, const char *what, CnnErr *err)
{
    if (gzdirect(r->f)) {
        long long left = r->size > r->off ? r->size - r->off : 0;
        if ((unsigned long long)n > (unsigned long long)left)
            return idx_ends_early(r, r->off + left, what, n - (unsigned long long)left, err);
        return 0;
    }
    if ((unsigned long long)n / DEFLATE_MAX_RATIO > (unsigned long long)r->size)
        return cnn_err(err,
                       "%s: offset %lld: the header promises %zu bytes of %s, more than a %lld-byte gzip "
                       "file can hold",
                       r->path, r->off, n, what, r->size);
    return 0;
}

/* After the data: there must be nothing left, and the gzip stream must end cleanly (its CRC and
 * length trailer read), so a cut .gz is caught even when the cut falls after the last pixel. */
static int idx_expect_end(IdxReader *r, CnnErr *err)
{
    uint8_t extra;
    int k = gzread(r->f, &extra, 1);
    int zerr = Z_OK;
    const char *msg = gz_msg(r->f, &zerr);
    if (k < 0 || zerr != Z_OK)
        return cnn_err(err, "%s: offset %lld: truncated or corrupt gzip stream (%s)", r->path, r->off,
                       msg);
    if (k > 0)
        return cnn_err(err, "%s: offset %lld: trailing bytes after the data", r->path, r->off);
    return 0;
}

static void idx_close(IdxReader *r)
{
    if (r->f) gzclose_r(r->f);
    r->f = NULL;
}

static uint32_t be32(const uint8_t *b)
{
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | (uint32_t)b[3];
}

/* Reads the header of an IDX file: magic, then ndim big-endian sizes (dims[0..ndim)). */
static int idx_header(IdxReader *r, uint32_t magic, int ndim, uint32_t *dims, CnnErr *err)
{
    uint8_t b[16];
    if (idx_read(r, b, 4 + 4 * (size_t)ndim, "the IDX header", err) != 0) return -1;
    uint32_t got = be32(b);
    if (got != magic)
        return cnn_err(err, "%s: offset 0: bad magic 0x%08x (want 0x%08x: IDX unsigned-byte %s)",
                       r->path, got, magic, ndim == 3 ? "images" : "labels");
    for (int d = 0; d < ndim; d++) dims[d] = be32(b + 4 + 4 * d);
    return 0;
}

int cnn_dataset_load_idx(CnnDataset *ds, const char *images_path, const char *labels_path,
                         int num_classes, CnnErr *err)
{
    memset(ds, 0, sizeof *ds);
    CNN_ASSERT(num_classes > 0 && num_classes <= 256);
    IdxReader ri = {0}, rl = {0};
    uint32_t di[3] = {0}, dl[1] = {0};
    int rc = -1;

    if (idx_open(&ri, images_path, err) != 0) return -1;
    if (idx_header(&ri, IDX_MAGIC_IMAGES, 3, di, err) != 0) goto out;
    if (di[0] == 0 || di[0] > INT_MAX) {
        cnn_err(err, "%s: offset 4: image count %u is not in [1, %d]", images_path, di[0], INT_MAX);
        goto out;
    }
    for (int d = 1; d < 3; d++)
        if (di[d] == 0 || di[d] > IDX_MAX_SIDE) {
            cnn_err(err, "%s: offset %d: image %s %u is not in [1, %d]", images_path, 4 + 4 * d,
                    d == 1 ? "rows" : "cols", di[d], IDX_MAX_SIDE);
            goto out;
        }
    if (idx_open(&rl, labels_path, err) != 0) goto out;
    if (idx_header(&rl, IDX_MAGIC_LABELS, 1, dl, err) != 0) goto out;
    if (dl[0] != di[0]) {
        cnn_err(err, "%s: offset 4: %u labels, but %s (offset 4) holds %u images", labels_path, dl[0],
                images_path, di[0]);
        goto out;
    }

    ds->n = (int)di[0];
    ds->h = (int)di[1];
    ds->w = (int)di[2];
    ds->c = 1;
    ds->num_classes = num_classes;
    ds->layout = CNN_LAYOUT_HWC;
    size_t per = (size_t)ds->h * (size_t)ds->w;
    size_t total = cnn_mul_size((size_t)ds->n, per);
    if (idx_can_hold(&ri, total, "pixels", err) != 0) goto out;
    ds->owned = cnn_malloc_for(total, "the data set's decoded pixels");
    if (idx_read(&ri, ds->owned, total, "pixels", err) != 0) goto out;
    if (idx_expect_end(&ri, err) != 0) goto out;
    ds->labels = cnn_malloc((size_t)ds->n);
    if (idx_read(&rl, ds->labels, (size_t)ds->n, "labels", err) != 0) goto out;
    if (idx_expect_end(&rl, err) != 0) goto out;
    for (int i = 0; i < ds->n; i++)
        if (ds->labels[i] >= num_classes) {
            cnn_err(err, "%s: offset %d: label %d is not in [0, %d)", labels_path, 8 + i, ds->labels[i],
                    num_classes);
            goto out;
        }
    ds->images = cnn_malloc(cnn_mul_size((size_t)ds->n, sizeof *ds->images));
    for (int i = 0; i < ds->n; i++) ds->images[i] = ds->owned + (size_t)i * per;
    rc = 0;
out:
    idx_close(&ri);
    idx_close(&rl);
    if (rc != 0) cnn_dataset_free(ds);
    return rc;
}

int cnn_dataset_load(CnnDataset *ds, const CnnConfig *cfg, int test, CnnErr *err)
{
    const char *files = test ? cfg->test : cfg->train;
    char first[CNN_PATH_LEN + 256];
    if (cfg->format == CNN_DATA_CIFAR10) {
        if (!*files) files = test ? default_cifar_test : default_cifar_train;
        if (cnn_dataset_load_cifar10(ds, cfg->dir, files, err) != 0) return -1;
        if (cfg->num_classes != 0 && cfg->num_classes != CIFAR_CLASSES) {
            cnn_dataset_free(ds);
            return cnn_err(err, "%s: CIFAR-10 has %d classes, but the config says num_classes = %d",
                           cfg->dir, CIFAR_CLASSES, cfg->num_classes);
        }
        char **names;
        int k = split_names(files, &names);
        join_path(first, sizeof first, cfg->dir, names[0]);
        free_names(names, k);
    } else if (cfg->format == CNN_DATA_IDX) {
        if (!*files) files = test ? default_idx_test : default_idx_train;
        char **names;
        int k = split_names(files, &names);
        if (k != 2) {
            free_names(names, k);
            return cnn_err(err, "%s: idx data needs \"images,labels\" (two file names), got \"%s\"",
                           cfg->dir, files);
        }
        char labels[CNN_PATH_LEN + 256];
        join_path(first, sizeof first, cfg->dir, names[0]);
        join_path(labels, sizeof labels, cfg->dir, names[1]);
        free_names(names, k);
        int classes = cfg->num_classes > 0 ? cfg->num_classes : CIFAR_CLASSES;
        if (cnn_dataset_load_idx(ds, first, labels, classes, err) != 0) return -1;
    } else {
        return cnn_err(err, "%s: unknown data format %d", cfg->dir, (int)cfg->format);
    }
    if ((cfg->height && cfg->height != ds->h) || (cfg->width && cfg->width != ds->w) ||
        (cfg->channels && cfg->channels != ds->c)) {
        int h = ds->h, w = ds->w, c = ds->c;
        cnn_dataset_free(ds);
        return cnn_err(err, "%s: offset 0: images are %dx%dx%d, but the config expects %dx%dx%d", first,
                       h, w, c, cfg->height, cfg->width, cfg->channels);
    }
    return 0;
}

double cnn_dataset_bytes(const CnnDataset *ds)
{
    double b = (double)ds->n * (sizeof *ds->images + 1.0);
    for (int i = 0; i < ds->n_maps; i++) b += (double)ds->map_sizes[i];
    if (ds->owned) b += (double)ds->n * ds->h * ds->w * ds->c;
    return b;
}
