/* fuzz_checkpoint: the checkpoint reader against damaged checkpoints. Fuzzing HDF5's own parser is not
 * the aim, so the input is not a file: it is a list of edits (4 bytes each: what, which object, two
 * arguments) applied through HDF5 to a valid checkpoint of the tiny network written at start: change a
 * dataset's shape or type, drop a dataset, a group or an attribute, give an attribute another value or
 * type, truncate the file or flip one of its bytes. libFuzzer's mutations of these bytes are mutations
 * of the checkpoint's structure. The file is sealed again after the edits (its size and CRC-32, see
 * h5util.h), except for the byte edits, which the seal must catch. The reader must accept the file or
 * refuse it with a message, never crash; and a tensor whose shape changed or that is missing must be
 * refused. */
#include <hdf5.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cnn/config.h"
#include "cnn/io/checkpoint.h"
#include "cnn/io/h5util.h"
#include "cnn/nn/model.h"
#include "cnn/nn/optim.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { MAX_OBJ = 64 };
static char dir[64], valid[128], edit[128];
static uint8_t *valid_bytes;
static size_t valid_size;
static char datasets[MAX_OBJ][128];
static int n_datasets;
static struct {
    char obj[64], name[64];
} attrs[MAX_OBJ];
static int n_attrs;
static CnnModel model;
static CnnOptim optim;
static CnnCkptData cdata;

static herr_t visit_ds(hid_t o, const char *name, const H5O_info_t *info, void *op)
{
    (void)o, (void)op;
    if (info->type == H5O_TYPE_DATASET && n_datasets < MAX_OBJ) snprintf(datasets[n_datasets++], 128, "/%s", name);
    return 0;
}

static herr_t visit_attr(hid_t loc, const char *name, const H5A_info_t *info, void *op)
{
    (void)loc, (void)info;
    if (n_attrs < MAX_OBJ) {
        snprintf(attrs[n_attrs].obj, 64, "%s", (const char *)op);
        snprintf(attrs[n_attrs].name, 64, "%s", name);
        n_attrs++;
    }
    return 0;
}

static void setup(void)
{
    static CnnConfig cfg;
    CnnErr err;
    if (cnn_config_load(&cfg, "configs/tiny.ini", NULL, 0, &err)) abort();
    CnnModelOpts opts = cnn_model_opts_local(1);
    if (cnn_model_build(&model, &cfg, &opts, &err)) abort();
    cnn_model_init_params(&model, 1);
    cnn_optim_init(&optim, &cfg, model.n_params, model.k);
    cdata = (CnnCkptData){.tensors = model.tensors, .n_tensors = model.n_tensors, .params = model.params};
    cdata.n_slots = cnn_optim_slots(&optim, cdata.slot_names, cdata.slots);
    snprintf(dir, sizeof dir, "/tmp/cnn-fuzz-ckpt-%d", (int)getpid());
    if (mkdir(dir, 0700) != 0) abort();
    CnnCkptMeta meta;
    memset(&meta, 0, sizeof meta);
    meta.step = 6;
    meta.world_size = 2;
    meta.seed = 1;
    meta.model_hash = cnn_config_model_hash(&cfg);
    meta.config = cnn_config_to_ini(&cfg);
    snprintf(meta.optimizer, sizeof meta.optimizer, "adam");
    meta.optim_t = 6;
    if (cnn_ckpt_write(dir, &meta, &cdata, 0, valid, sizeof valid, &err)) abort();
    free(meta.config);
    snprintf(edit, sizeof edit, "%s/edit.h5", dir);
    FILE *f = fopen(valid, "rb");
    fseek(f, 0, SEEK_END);
    valid_size = (size_t)ftell(f);
    rewind(f);
    valid_bytes = malloc(valid_size);
    if (fread(valid_bytes, 1, valid_size, f) != valid_size) abort();
    fclose(f);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t h = H5Fopen(valid, H5F_ACC_RDONLY, H5P_DEFAULT);
    H5Ovisit2(h, H5_INDEX_NAME, H5_ITER_INC, visit_ds, NULL, H5O_INFO_BASIC);
    static const char *const holders[] = {"/", "/state", "/optimizer/adam"};
    for (int i = 0; i < 3; i++) {
        hid_t o = H5Oopen(h, holders[i], H5P_DEFAULT);
        H5Aiterate2(o, H5_INDEX_NAME, H5_ITER_INC, NULL, visit_attr, (void *)holders[i]);
        H5Oclose(o);
    }
    H5Fclose(h);
}

/* A dataset at path with rank/dims and file type t, zeros. */
static void make_dataset(hid_t f, const char *path, int rank, const hsize_t *dims, hid_t t)
{
    H5Ldelete(f, path, H5P_DEFAULT);
    hid_t sp = H5Screate_simple(rank, dims, NULL);
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    hid_t d = H5Dcreate2(f, path, t, sp, lcpl, H5P_DEFAULT, H5P_DEFAULT);
    if (d >= 0) H5Dclose(d);
    H5Pclose(lcpl);
    H5Sclose(sp);
}

static void set_attr(hid_t f, const char *obj, const char *name, int kind, uint8_t a, uint8_t b)
{
    hid_t o = H5Oopen(f, obj, H5P_DEFAULT);
    if (o < 0) return;
    H5Adelete(o, name);
    hid_t sp = H5Screate(H5S_SCALAR);
    if (kind == 0) { /* an integer of any size and sign */
        const int64_t v = (int64_t)((uint64_t)(int64_t)(int8_t)a << (8 * (b % 8)));
        hid_t at = H5Acreate2(o, name, H5T_STD_I64LE, sp, H5P_DEFAULT, H5P_DEFAULT);
        if (at >= 0) H5Awrite(at, H5T_NATIVE_INT64, &v), H5Aclose(at);
    } else if (kind == 1) { /* a float, NaN or Inf among them */
        double v = b % 4 == 0 ? 0.0 / 0.0 : b % 4 == 1 ? 1.0 / 0.0 : (double)(int8_t)a * 1e10;
        hid_t at = H5Acreate2(o, name, H5T_IEEE_F64LE, sp, H5P_DEFAULT, H5P_DEFAULT);
        if (at >= 0) H5Awrite(at, H5T_NATIVE_DOUBLE, &v), H5Aclose(at);
    } else { /* a string: empty, garbage, long, or another file's format */
        static char s[20000];
        const size_t n = b % 4 == 0 ? 0 : b % 4 == 1 ? 7 : b % 4 == 2 ? 16384 : 12;
        for (size_t i = 0; i < n; i++) s[i] = (char)(a + i * 31);
        if (b % 4 == 3) memcpy(s, "cnn-dist xyz", 12);
        s[n] = 0;
        hid_t t = H5Tcopy(H5T_C_S1);
        H5Tset_size(t, H5T_VARIABLE);
        const char *p = s;
        hid_t at = H5Acreate2(o, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
        if (at >= 0) H5Awrite(at, t, &p), H5Aclose(at);
        H5Tclose(t);
    }
    H5Sclose(sp);
    H5Oclose(o);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!valid_bytes) setup();
    FILE *f = fopen(edit, "wb");
    if (!f || fwrite(valid_bytes, 1, valid_size, f) != valid_size || fclose(f) != 0) abort();
    hid_t h = H5Fopen(edit, H5F_ACC_RDWR, H5P_DEFAULT);
    if (h < 0) abort();
    int tensor_broken = 0;
    size_t cut = 0, flip = 0;
    for (size_t i = 0; i + 4 <= size && i < 64; i += 4) {
        const uint8_t op = data[i] % 8, which = data[i + 1], a = data[i + 2], b = data[i + 3];
        const char *ds = datasets[which % n_datasets];
        const int is_tensor = strncmp(ds, "/params/", 8) == 0 || strncmp(ds, "/optimizer/", 11) == 0;
        hsize_t dims[4] = {1, 1, 1, 1};
        int rank = 1;
        hid_t d = H5Dopen2(h, ds, H5P_DEFAULT);
        if (d >= 0) {
            hid_t sp = H5Dget_space(d);
            rank = H5Sget_simple_extent_dims(sp, dims, NULL);
            H5Sclose(sp);
            H5Dclose(d);
        }
        if (rank < 1 || rank > 4) rank = 1;
        switch (op) {
        case 0: { /* another shape */
            const int r2 = 1 + a % 4;
            dims[b % (unsigned)r2] += (hsize_t)(1 + b % 3);
            make_dataset(h, ds, r2, dims, H5T_IEEE_F32LE);
            tensor_broken |= is_tensor;
            break;
        }
        case 1: /* another type, same shape */
            make_dataset(h, ds, rank, dims,
                         a % 4 == 0 ? H5T_IEEE_F64LE : a % 4 == 1 ? H5T_STD_I32LE : a % 4 == 2 ? H5T_STD_U8LE : H5T_STD_I64BE);
            break;
        case 2: /* gone */
            H5Ldelete(h, ds, H5P_DEFAULT);
            tensor_broken |= is_tensor;
            break;
        case 3: /* an attribute's value */
        case 4: /* an attribute of another type */
            if (n_attrs) set_attr(h, attrs[which % n_attrs].obj, attrs[which % n_attrs].name, op == 3 ? a % 3 : b % 3, a, b);
            break;
        case 5: /* an attribute gone */
            if (n_attrs) H5Adelete_by_name(h, attrs[which % n_attrs].obj, attrs[which % n_attrs].name, H5P_DEFAULT);
            break;
        case 6: { /* a whole group gone */
            static const char *const groups[] = {"/state", "/optimizer", "/params", "/optimizer/adam/m"};
            H5Ldelete(h, groups[a % 4], H5P_DEFAULT);
            tensor_broken |= a % 4 != 0;
            break;
        }
        case 7: /* the bytes: cut the file short, or flip one */
            if (b & 1)
                cut = 1 + ((size_t)a << 8 | b);
            else
                flip = 1 + ((size_t)a << 8 | b);
            break;
        }
    }
    H5Fclose(h);
    /* sealed again, so that the structure's edits reach the reader's validation; the byte edits below
     * come after, and the seal must catch them */
    CnnErr serr;
    if (cnn_io_seal(edit, &serr)) abort();
    struct stat st;
    if (stat(edit, &st) == 0 && cut) {
        if (truncate(edit, (off_t)((size_t)st.st_size * (cut % 65536) / 65536)) != 0) abort();
    } else if (stat(edit, &st) == 0 && flip && st.st_size > 0) {
        FILE *g = fopen(edit, "r+b");
        const long off = (long)((size_t)st.st_size * (flip % 65536) / 65536);
        fseek(g, off, SEEK_SET);
        int c = fgetc(g);
        fseek(g, off, SEEK_SET);
        fputc(c ^ 0x5a, g);
        fclose(g);
    }
    CnnCkptMeta meta;
    CnnErr err;
    if (cnn_ckpt_read_meta(edit, &meta, &err) == 0) cnn_ckpt_meta_free(&meta);
    else if (!err.msg[0]) abort();
    if (cnn_ckpt_read(edit, &meta, &cdata, &err) == 0) {
        if (tensor_broken) abort(); /* a tensor with another shape, or none, was taken */
        cnn_ckpt_meta_free(&meta);
    } else if (!err.msg[0]) {
        abort();
    }
    return 0;
}
