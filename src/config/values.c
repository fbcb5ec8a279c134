/* values: one config value's text → its field in CnnConfig or CnnLayerSpec, by the key's KeySpec
 * (kind, range, names). The syntax is strict: the whole value must be one number, name or flag, with
 * no blanks, nothing after it, and numbers finite and inside the key's range; a value that is not is
 * an error naming the entry and saying what the key takes. Nothing is stored on an error. */
#include <ctype.h>
#include <errno.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"

static void range_text(const KeySpec *k, char *buf, size_t n)
{
    int integer = k->kind == K_INT || k->kind == K_LONG || k->kind == K_U64 || k->kind == K_LONGS;
    const char *what = integer ? "an integer" : "a number";
    if (k->lo == -HUGE_VAL && k->hi == HUGE_VAL) snprintf(buf, n, "%s", what);
    else if (k->hi == HUGE_VAL) snprintf(buf, n, "%s %s %g", what, k->lo_open ? ">" : ">=", k->lo);
    else
        snprintf(buf, n, "%s in %c%g, %g%c", what, k->lo_open ? '(' : '[', k->lo, k->hi,
                 k->hi_open ? ')' : ']');
}

static int in_range(const KeySpec *k, double v)
{
    if (k->lo_open ? !(v > k->lo) : !(v >= k->lo)) return 0;
    if (k->hi_open ? !(v < k->hi) : !(v <= k->hi)) return 0;
    return 1;
}

/* Strict number syntax: the whole value, no blanks, finite. */
static int parse_double(const char *s, double *out)
{
    if (!*s || isspace((unsigned char)*s)) return -1;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (*end || errno == ERANGE || !isfinite(v)) return -1;
    *out = v;
    return 0;
}

static int parse_ll(const char *s, long long *out)
{
    if (!*s || isspace((unsigned char)*s)) return -1;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (*end || errno == ERANGE) return -1;
    *out = v;
    return 0;
}

static int parse_bool(const char *s, int *out)
{
    static const char *const t[] = {"true", "1", "yes"}, *const f[] = {"false", "0", "no"};
    for (int i = 0; i < 3; i++) {
        if (!strcasecmp(s, t[i])) return *out = 1, 0;
        if (!strcasecmp(s, f[i])) return *out = 0, 0;
    }
    return -1;
}

void cnn_config_names_text(const char *const *names, char *buf, size_t n)
{
    buf[0] = 0;
    for (int i = 0; names[i]; i++) {
        size_t l = strlen(buf);
        snprintf(buf + l, n - l, "%s%s", i ? "|" : "", names[i]);
    }
}

/* The setters below store v at p and return 0, or return -1 and store nothing. */

/* K_INT, K_LONG: a decimal integer that fits the field and lies in k's range. */
static int set_integer(const KeySpec *k, const char *v, void *p)
{
    long long x;
    long long max = k->kind == K_INT ? INT_MAX : LONG_MAX;
    if (parse_ll(v, &x) || x > max || !in_range(k, (double)x)) return -1;
    if (k->kind == K_INT) *(int *)p = (int)x;
    else *(long *)p = (long)x;
    return 0;
}

/* K_U64: decimal digits only (no sign), up to UINT64_MAX. */
static int set_u64(const char *v, void *p)
{
    char *end;
    errno = 0;
    if (!isdigit((unsigned char)v[0])) return -1;
    unsigned long long x = strtoull(v, &end, 10);
    if (*end || errno == ERANGE) return -1;
    *(uint64_t *)p = (uint64_t)x;
    return 0;
}

/* K_FLOAT, K_DOUBLE: a finite number in k's range; a float's range is checked after rounding. */
static int set_real(const KeySpec *k, const char *v, void *p)
{
    double x;
    if (parse_double(v, &x)) return -1;
    if (k->kind == K_FLOAT) {
        if (fabs(x) > (double)FLT_MAX) return -1;
        float f = (float)x;
        if (!in_range(k, (double)f)) return -1;
        *(float *)p = f;
    } else {
        if (!in_range(k, x)) return -1;
        *(double *)p = x;
    }
    return 0;
}

/* K_ENUM: one of k's names, stored as its index (enums here are int-sized, values 0..n-1). */
static int set_enum(const KeySpec *k, const char *v, void *p)
{
    for (int i = 0; k->names[i]; i++) {
        if (!strcmp(v, k->names[i])) {
            *(int *)p = i;
            return 0;
        }
    }
    return -1;
}

/* K_CONTRAST: "lo, hi" with 0 < lo <= hi, or a single 0 (off), into two floats. */
static int set_contrast(const char *v, void *p)
{
    float *lohi = p;
    const char *comma = strchr(v, ',');
    double lo, hi;
    if (!comma) {
        if (parse_double(v, &lo) || lo != 0.0) return -1;
        lohi[0] = lohi[1] = 0.0f;
        return 0;
    }
    char a[128];
    size_t la = (size_t)(comma - v);
    while (la && isspace((unsigned char)v[la - 1])) la--;
    if (la >= sizeof a) return -1;
    memcpy(a, v, la);
    a[la] = 0;
    const char *b = comma + 1;
    while (isspace((unsigned char)*b)) b++;
    if (parse_double(a, &lo) || parse_double(b, &hi) || !(lo > 0.0) || !(hi >= lo) || hi > (double)FLT_MAX)
        return -1;
    lohi[0] = (float)lo;
    lohi[1] = (float)hi;
    return 0;
}

/* K_LONGS, K_FLOATS: "a, b, c": 1 to k->cap numbers, each a whole value of its kind in k's range
 * (blanks around the commas allowed, an empty item not), into the array at p and the count at n. */
static int set_list(const KeySpec *k, const char *v, void *p, int *n)
{
    long longs[MAX_LIST];
    float floats[MAX_LIST];
    CNN_ASSERT(k->cap <= MAX_LIST);
    int count = 0;
    for (const char *item = v;;) {
        const char *end = strchr(item, ',');
        size_t len = end ? (size_t)(end - item) : strlen(item);
        while (len && isspace((unsigned char)*item)) item++, len--;
        while (len && isspace((unsigned char)item[len - 1])) len--;
        char text[128];
        if (len == 0 || len >= sizeof text || (size_t)count == k->cap) return -1;
        memcpy(text, item, len);
        text[len] = 0;
        if (k->kind == K_LONGS) {
            long long x;
            if (parse_ll(text, &x) || x > LONG_MAX || !in_range(k, (double)x)) return -1;
            longs[count++] = (long)x;
        } else {
            double x;
            if (parse_double(text, &x) || fabs(x) > (double)FLT_MAX || !in_range(k, (double)(float)x)) return -1;
            floats[count++] = (float)x;
        }
        if (!end) break;
        item = end + 1;
    }
    if (k->kind == K_LONGS) memcpy(p, longs, (size_t)count * sizeof *longs);
    else memcpy(p, floats, (size_t)count * sizeof *floats);
    *n = count;
    return 0;
}

/* A text value must read back the same from 'key = value' (what to_ini writes): the reader takes a ';'
 * or '#' that follows whitespace (the space after '=' included) as the start of a comment, and inih
 * strips the ends. */
static bool str_writable(const char *v)
{
    if (*v == ';' || *v == '#' || isspace((unsigned char)*v)) return false;
    for (const char *c = v; *c; c++) {
        if ((unsigned char)*c < 0x20 || *c == 0x7f) return false;
        if ((*c == ';' || *c == '#') && isspace((unsigned char)c[-1])) return false;
        if (!c[1] && isspace((unsigned char)*c)) return false;
    }
    return true;
}

int cnn_config_set_value(const Doc *d, const Entry *e, const KeySpec *k, void *base, const char *what)
{
    char where[CNN_PATH_LEN + 64], expect[256];
    cnn_config_entry_where(d, e, where, sizeof where);
    const char *v = e->value;
    void *p = (char *)base + k->off;
    if (!*v) return cnn_config_fail(d->err, where, "empty value for '%s' in %s", k->key, what);
    int bad = 0;
    switch (k->kind) {
    case K_INT:
    case K_LONG: bad = set_integer(k, v, p); break;
    case K_U64: bad = set_u64(v, p); break;
    case K_FLOAT:
    case K_DOUBLE: bad = set_real(k, v, p); break;
    case K_BOOL:
        if (!parse_bool(v, p)) return 0;
        return cnn_config_fail(d->err, where, "bad value '%s' for '%s' in %s: expected true|false|1|0|yes|no",
                               v, k->key, what);
    case K_STR:
        if (strlen(v) >= k->cap)
            return cnn_config_fail(d->err, where, "value of '%s' in %s is longer than %zu characters", k->key,
                                   what, k->cap - 1);
        if (!str_writable(v))
            return cnn_config_fail(d->err, where,
                                   "value '%s' of '%s' in %s would not read back from the config a checkpoint "
                                   "stores: a ';' or '#' at its start or after a space begins a comment, and spaces "
                                   "at either end or control characters are lost",
                                   v, k->key, what);
        memcpy(p, v, strlen(v) + 1);
        return 0;
    case K_ENUM:
        if (!set_enum(k, v, p)) return 0;
        cnn_config_names_text(k->names, expect, sizeof expect);
        return cnn_config_fail(d->err, where, "bad value '%s' for '%s' in %s: expected %s", v, k->key, what,
                               expect);
    case K_CONTRAST:
        if (!set_contrast(v, p)) return 0;
        return cnn_config_fail(d->err, where,
                               "bad value '%s' for 'contrast' in %s: expected 'LO, HI' with 0 < LO <= HI, "
                               "or 0 (off)",
                               v, what);
    case K_LONGS:
    case K_FLOATS:
        if (!set_list(k, v, p, (int *)((char *)base + k->n_off))) return 0;
        range_text(k, expect, sizeof expect);
        return cnn_config_fail(d->err, where,
                               "bad value '%s' for '%s' in %s: expected 1 to %zu comma-separated values, each %s", v,
                               k->key, what, k->cap, expect);
    }
    if (!bad) return 0;
    range_text(k, expect, sizeof expect);
    return cnn_config_fail(d->err, where, "bad value '%s' for '%s' in %s: expected %s", v, k->key, what,
                           expect);
}
