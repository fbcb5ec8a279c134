/* document: pass 1 of the config parser. The text becomes a Doc, its sections in file order, each
 * with its (key, value, line) entries; --set overrides then replace or add entries as if they were
 * in the file, remembering their own text for messages. Nothing here knows what a key means: pass 2
 * (interpret.c) does.
 *
 * Debian's libinih has no INI_HANDLER_LINENO, so a reader callback feeds it one line at a time and
 * counts lines; it also sees every [section] header (libinih reports a section only when a key
 * follows it), strips leading blanks (no multi-line continuation surprises) and strips inline
 * comments starting with whitespace then ';' or '#'. */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ini.h>

#include "internal.h"

int cnn_config_is_fixed(const char *name)
{
    return !strcmp(name, "run") || !strcmp(name, "data") || !strcmp(name, "train");
}

int cnn_config_find_section(const Doc *d, const char *name)
{
    for (int i = 0; i < d->n_sec; i++)
        if (!strcmp(d->sec[i].name, name)) return i;
    return -1;
}

Entry *cnn_config_find_entry(const Section *s, const char *key)
{
    for (int i = 0; i < s->n; i++)
        if (!strcmp(s->e[i].key, key)) return &s->e[i];
    return NULL;
}

const char *cnn_config_entry_where(const Doc *d, const Entry *e, char *buf, size_t n)
{
    if (e->line) snprintf(buf, n, "%s:%d", d->file, e->line);
    else snprintf(buf, n, "--set %s", e->ovr);
    return buf;
}

const char *cnn_config_section_where(const Doc *d, const Section *s, char *buf, size_t n)
{
    if (s->line) snprintf(buf, n, "%s:%d", d->file, s->line);
    else snprintf(buf, n, "%s", d->file);
    return buf;
}

static int failv(CnnErr *err, const char *where, const char *fmt, va_list ap)
{
    char msg[CNN_ERR_LEN];
    vsnprintf(msg, sizeof msg, fmt, ap);
    return cnn_err(err, "%s: %s", where, msg);
}

int cnn_config_fail(CnnErr *err, const char *where, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    failv(err, where, fmt, ap);
    va_end(ap);
    return -1;
}

/* An error at the line the reader is on; the first one wins. */
static void fail_line(Doc *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail_line(Doc *d, const char *fmt, ...)
{
    if (d->err_line) return;
    char where[CNN_PATH_LEN + 32];
    snprintf(where, sizeof where, "%s:%d", d->file, d->line);
    va_list ap;
    va_start(ap, fmt);
    failv(d->err, where, fmt, ap);
    va_end(ap);
    d->err_line = d->line;
}

static Section *add_section(Doc *d, const char *name, int line)
{
    Section *s = &d->sec[d->n_sec++];
    memset(s, 0, sizeof *s);
    snprintf(s->name, sizeof s->name, "%s", name);
    s->line = line;
    return s;
}

static void add_entry(Section *s, const char *key, const char *value, int line, const char *ovr)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 16;
        Entry *e = realloc(s->e, cnn_mul_size((size_t)s->cap, sizeof *e));
        if (!e) CNN_DIE("out of memory");
        s->e = e;
    }
    Entry *e = &s->e[s->n++];
    snprintf(e->key, sizeof e->key, "%s", key);
    e->value = strdup(value);
    if (!e->value) CNN_DIE("out of memory");
    e->line = line;
    e->ovr = ovr;
}

void cnn_config_doc_free(Doc *d)
{
    for (int i = 0; i < d->n_sec; i++) {
        for (int j = 0; j < d->sec[i].n; j++) free(d->sec[i].e[j].value);
        free(d->sec[i].e);
    }
    d->n_sec = 0;
}

/* A section name becomes an HDF5 group and the left part of --set SECTION.KEY: no '.', '/', blanks. */
static int check_section_name(Doc *d, const char *name)
{
    if (!*name) {
        fail_line(d, "empty section name");
        return -1;
    }
    if (strlen(name) >= CNN_NAME_LEN) {
        fail_line(d, "section name '%s' is longer than %d characters", name, CNN_NAME_LEN - 1);
        return -1;
    }
    for (const char *p = name; *p; p++) {
        if (*p == '.' || *p == '/' || isspace((unsigned char)*p) || !isprint((unsigned char)*p)) {
            fail_line(d, "section name '%s' may not contain '%c' (names are used in --set and HDF5 paths)",
                      name, *p);
            return -1;
        }
    }
    return 0;
}

/* A [header] line: registers the section. Returns 0, or -1 after recording the error. */
static int reader_header(Doc *d, char *line)
{
    char *close = strchr(line, ']');
    if (!close) {
        fail_line(d, "section header without ']'");
        return -1;
    }
    for (char *p = close + 1; *p; p++) {
        if (!isspace((unsigned char)*p)) {
            fail_line(d, "text after the section header");
            return -1;
        }
    }
    char name[CNN_PATH_LEN];
    char *b = line + 1;
    while (isspace((unsigned char)*b)) b++;
    size_t len = (size_t)(close - b);
    while (len && isspace((unsigned char)b[len - 1])) len--;
    if (len >= sizeof name) len = sizeof name - 1;
    memcpy(name, b, len);
    name[len] = 0;
    if (check_section_name(d, name)) return -1;
    int prev = cnn_config_find_section(d, name);
    if (prev >= 0) {
        fail_line(d, "duplicated section [%s] (first at line %d)", name, d->sec[prev].line);
        return -1;
    }
    int n_layers = 0;
    for (int i = 0; i < d->n_sec; i++) n_layers += !cnn_config_is_fixed(d->sec[i].name);
    if (!cnn_config_is_fixed(name) && n_layers == CNN_MAX_LAYERS) {
        fail_line(d, "more than %d layers", CNN_MAX_LAYERS);
        return -1;
    }
    add_section(d, name, d->line);
    d->cur = d->n_sec - 1;
    return 0;
}

/* libinih's ini_reader: one line per call, the way we want libinih to see it. */
static char *doc_reader(char *str, int num, void *stream)
{
    Doc *d = stream;
    if (d->err_line || !*d->text) return NULL;
    d->line++;
    const char *s = d->text;
    size_t len = strcspn(s, "\n");
    d->text = s[len] ? s + len + 1 : s + len;
    if (len && s[len - 1] == '\r') len--;
    while (len && (*s == ' ' || *s == '\t')) s++, len--;

    /* Inline comments: ';' or '#' after whitespace, or at the start. */
    size_t keep = len;
    for (size_t i = 0; i < len; i++) {
        if ((s[i] == ';' || s[i] == '#') && (i == 0 || s[i - 1] == ' ' || s[i - 1] == '\t')) {
            keep = i;
            break;
        }
    }
    if (keep + 2 > (size_t)num) {
        fail_line(d, "line longer than %d characters", num - 2);
        return NULL;
    }
    memcpy(str, s, keep);
    str[keep] = 0;
    if (str[0] == '[' && reader_header(d, str)) return NULL;
    str[keep] = '\n';
    str[keep + 1] = 0;
    return str;
}

static int doc_handler(void *user, const char *section, const char *key, const char *value)
{
    (void)section; /* libinih truncates long names; our reader saw the full header */
    Doc *d = user;
    if (d->err_line) return 0;
    if (d->cur < 0) {
        fail_line(d, "key '%s' before any [section]", key);
        return 0;
    }
    Section *s = &d->sec[d->cur];
    Entry *prev = cnn_config_find_entry(s, key);
    if (prev) {
        fail_line(d, "duplicated key '%s' in [%s] (first at line %d)", key, s->name, prev->line);
        return 0;
    }
    if (strlen(key) >= CNN_NAME_LEN) {
        fail_line(d, "unknown key '%s' in [%s]", key, s->name);
        return 0;
    }
    add_entry(s, key, value, d->line, NULL);
    return 1;
}

int cnn_config_doc_read(Doc *d, const char *text, const char *file, CnnErr *err)
{
    d->file = file;
    d->text = text ? text : "";
    d->cur = -1;
    d->err = err;
    int rc = ini_parse_stream(doc_reader, d, doc_handler, d);
    if (rc != 0 && (!d->err_line || (rc > 0 && rc < d->err_line))) {
        if (rc > 0) cnn_err(err, "%s:%d: expected 'key = value', a [section] or a comment", file, rc);
        else cnn_err(err, "%s: cannot parse (libinih error %d)", file, rc);
        return -1;
    }
    return d->err_line ? -1 : 0;
}

int cnn_config_doc_override(Doc *d, const char *ovr, CnnErr *err)
{
    const char *eq = strchr(ovr, '=');
    const char *dot = strchr(ovr, '.');
    char where[CNN_PATH_LEN + 32];
    snprintf(where, sizeof where, "--set %s", ovr);
    if (!eq || !dot || dot > eq) return cnn_config_fail(err, where, "expected SECTION.KEY=VALUE");
    char sec[CNN_NAME_LEN], key[CNN_NAME_LEN];
    size_t ls = (size_t)(dot - ovr), lk = (size_t)(eq - dot - 1);
    if (ls == 0 || lk == 0) return cnn_config_fail(err, where, "expected SECTION.KEY=VALUE");
    if (ls >= sizeof sec || lk >= sizeof key)
        return cnn_config_fail(err, where, "section or key name too long");
    memcpy(sec, ovr, ls);
    sec[ls] = 0;
    memcpy(key, dot + 1, lk);
    key[lk] = 0;
    const char *value = eq + 1;
    for (const char *p = value; *p; p++)
        if (*p == '\n' || *p == '\r') return cnn_config_fail(err, where, "value contains a line break");
    int i = cnn_config_find_section(d, sec);
    if (i < 0) {
        if (!cnn_config_is_fixed(sec)) return cnn_config_fail(err, where, "unknown section [%s]", sec);
        add_section(d, sec, 0);
        i = d->n_sec - 1;
    }
    Entry *e = cnn_config_find_entry(&d->sec[i], key);
    if (e) {
        char *v = strdup(value);
        if (!v) CNN_DIE("out of memory");
        free(e->value);
        e->value = v;
        e->line = 0;
        e->ovr = ovr;
    } else {
        add_entry(&d->sec[i], key, value, 0, ovr);
    }
    return 0;
}
