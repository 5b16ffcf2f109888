/* agent/metrics/metrics_state.c - each series' model state as a versioned byte blob (its
 * detector's own snapshot inside), written to the store's metric_series_state table
 * (migration 8) and read back at start, so a restart continues instead of relearning. The blob
 * is written field by field in little-endian order; reading it checks every field, because a
 * row from disk is untrusted input. */
#include "internal.h"

#include <math.h>
#include <sqlite3.h>

#include "hale/store.h"
#include "metrics/metrics_int.h"
#include "util/json.h"

static const uint8_t magic[4] = {'H', 'M', 'S', 'S'};
#define STATE_VERSION 1u

struct wr {
    uint8_t *p;
    size_t pos, cap;
};

static void put(struct wr *w, uint64_t v, size_t bytes)
{
    for (size_t i = 0; i < bytes && w->pos < w->cap; i++)
        w->p[w->pos++] = (uint8_t)(v >> (8 * i));
}

static void put_f64(struct wr *w, double d)
{
    uint64_t v;

    memcpy(&v, &d, sizeof(v));
    put(w, v, 8);
}

static size_t state_size(const struct hale__metrics_series *s)
{
    return 4 + 4 + 8 + 8 + 8 + (1 + 1 + 8 + 8 + 8) + (1 + 4) + 4 + hale_detect_snapshot_size() + 4 +
           (s->ring ? 4 + 8 + 8 + 4 * (size_t)s->ring->n : 0);
}

static int encode(const hale_metrics *m, const struct hale__metrics_series *s, uint8_t **ret,
                  size_t *ret_len)
{
    size_t cap = state_size(s);
    struct wr w = {.p = malloc(cap), .cap = cap};
    const struct hale__metrics_ring *r = s->ring;
    int n;

    if (!w.p)
        return -ENOMEM;
    memcpy(w.p, magic, 4);
    w.pos = 4;
    put(&w, STATE_VERSION, 4);
    put(&w, s->samples, 8);
    put(&w, (uint64_t)s->newest_ms, 8);
    put_f64(&w, s->last_value);
    put(&w, s->hyst.active, 1);
    put(&w, s->hyst.pending, 1);
    put(&w, (uint64_t)s->hyst.since_ms, 8);
    put(&w, (uint64_t)s->hyst.mark_ms, 8);
    put_f64(&w, s->hyst.peak);
    put(&w, s->exh_firing, 1);
    put(&w, s->exh_clear, 4);
    put(&w, hale_detect_snapshot_size(), 4);
    n = hale_detect_snapshot(s->det, w.p + w.pos, cap - w.pos);
    if (n < 0) {
        free(w.p);
        return n;
    }
    w.pos += (size_t)n;
    put(&w, r ? r->n : 0, 4);
    if (r) {
        put(&w, (uint64_t)r->head_b, 8);
        put(&w, (uint64_t)hale__metrics_step_ms(m), 8);
        for (uint32_t i = 0; i < r->n; i++) {
            float f = r->v[(uint64_t)(r->head_b - (r->n - 1) + i) % r->cap];
            uint32_t v;

            memcpy(&v, &f, sizeof(v));
            put(&w, v, 4);
        }
    }
    *ret = w.p;
    *ret_len = w.pos;
    return 0;
}

struct rd {
    const uint8_t *p;
    size_t pos, len;
    bool short_;
};

static uint64_t get(struct rd *r, size_t bytes)
{
    uint64_t v = 0;

    if (r->len - r->pos < bytes) {
        r->short_ = true;
        return 0;
    }
    for (size_t i = 0; i < bytes; i++)
        v |= (uint64_t)r->p[r->pos++] << (8 * i);
    return v;
}

static double get_f64(struct rd *r)
{
    uint64_t v = get(r, 8);
    double d;

    memcpy(&d, &v, sizeof(d));
    return d;
}

static int decode_ring(hale_metrics *m, struct hale__metrics_series *s, struct rd *rd)
{
    uint32_t n = (uint32_t)get(rd, 4);
    int64_t head_b, step_ms;

    if (n == 0)
        return 0;
    head_b = (int64_t)get(rd, 8);
    step_ms = (int64_t)get(rd, 8);
    if (rd->short_ || n > HALE__METRICS_MAX_BUCKETS || rd->len - rd->pos != (size_t)n * 4)
        return HALE_EPARSE;
    /* A history of another step, or of a series no rule names any more, is not used. */
    if (!s->ring || step_ms != hale__metrics_step_ms(m))
        return 0;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t v = (uint32_t)get(rd, 4);
        float f;

        memcpy(&f, &v, sizeof(f));
        if (!isnan(f) && !isfinite(f))
            return HALE_EPARSE;
        if (n - i <= s->ring->cap)
            s->ring->v[(uint64_t)(head_b - (n - 1) + i) % s->ring->cap] = f;
    }
    s->ring->head_b = head_b;
    s->ring->n = n < s->ring->cap ? n : s->ring->cap;
    s->version++;
    return 0;
}

static int decode(hale_metrics *m, struct hale__metrics_series *s, const uint8_t *p, size_t len,
                  hale_diag *reterr)
{
    struct rd rd = {.p = p, .len = len};
    hale_detect *det = NULL;
    hale_metrics_hyst h;
    uint64_t samples;
    int64_t newest;
    double last;
    uint32_t det_len;
    int r;

    if (len < 8 || memcmp(p, magic, 4) != 0) {
        hale_diag_set(reterr, "not a series state");
        return HALE_EPARSE;
    }
    rd.pos = 4;
    if (get(&rd, 4) != STATE_VERSION) {
        hale_diag_set(reterr, "unknown state version");
        return HALE_EPARSE;
    }
    samples = get(&rd, 8);
    newest = (int64_t)get(&rd, 8);
    last = get_f64(&rd);
    h.active = get(&rd, 1) != 0;
    h.pending = get(&rd, 1) != 0;
    h.since_ms = (int64_t)get(&rd, 8);
    h.mark_ms = (int64_t)get(&rd, 8);
    h.peak = get_f64(&rd);
    s->exh_firing = get(&rd, 1) != 0;
    s->exh_clear = (unsigned)get(&rd, 4);
    det_len = (uint32_t)get(&rd, 4);
    if (rd.short_ || det_len > len - rd.pos || !isfinite(last) || !(h.peak >= 0 && h.peak <= 1)) {
        hale_diag_set(reterr, "truncated or out-of-range state");
        return HALE_EPARSE;
    }
    if ((r = hale_detect_restore(p + rd.pos, det_len, &det, reterr)) < 0)
        return r;
    rd.pos += det_len;
    if ((r = decode_ring(m, s, &rd)) < 0) {
        hale_detect_free(det);
        hale_diag_set(reterr, "history: truncated or not finite");
        return r;
    }
    hale_detect_free(s->det);
    s->det = det;
    s->samples = samples;
    s->newest_ms = newest;
    s->last_value = last;
    s->hyst = h;
    return 0;
}

json_t *hale__metrics_labels_json(const hale_sample *s)
{
    json_t *o = json_object();

    for (size_t i = 0; o && i < s->n_labels; i++)
        if (json_object_set_new(o, s->labels[2 * i], json_string(s->labels[2 * i + 1])) < 0) {
            json_decref(o);
            return NULL;
        }
    return o;
}

void hale_metrics_snaps_free(hale_metrics_snap *s, size_t n)
{
    for (size_t i = 0; s && i < n; i++) {
        free(s[i].series);
        free(s[i].name);
        free(s[i].labels_json);
        free(s[i].state);
    }
    free(s);
}

static int snap_one(const hale_metrics *m, const struct hale__metrics_series *s,
                    hale_metrics_snap *out)
{
    json_t *labels = hale__metrics_labels_json(&s->ident);
    int r;

    *out = (hale_metrics_snap){.samples = s->samples};
    out->labels_json = labels ? hale_json_dump_canonical(labels) : NULL;
    json_decref(labels);
    out->series = strdup(s->key);
    out->name = strdup(s->ident.name);
    if (!out->labels_json || !out->series || !out->name)
        return -ENOMEM;
    r = encode(m, s, &out->state, &out->state_len);
    return r;
}

int hale_metrics_snapshot(hale_metrics *m, size_t max, bool all, hale_metrics_snap **ret,
                          size_t *ret_n)
{
    size_t total = m->n_series, n = 0, want = all ? total : (max < total ? max : total);
    size_t start = m->snap_cursor, k;
    hale_metrics_snap *out = calloc(want ? want : 1, sizeof(*out));
    int r = 0;

    if (!out)
        return -ENOMEM;
    for (k = 0; r == 0 && k < total && n < want; k++) {
        struct hale__metrics_series *s = m->series[(start + k) % total];

        if (!s->dirty)
            continue;
        r = snap_one(m, s, &out[n++]);
        if (r == 0)
            s->dirty = false;
    }
    if (total && !all)
        m->snap_cursor = (uint32_t)((start + k) % total);
    if (r < 0) {
        hale_metrics_snaps_failed(m, out, n);
        hale_metrics_snaps_free(out, n);
        return r;
    }
    *ret = out;
    *ret_n = n;
    return 0;
}

void hale_metrics_snaps_failed(hale_metrics *m, const hale_metrics_snap *snaps, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct hale__metrics_series *s =
            snaps[i].series ? hale_map_get(m->by_key, snaps[i].series) : NULL;

        if (s)
            s->dirty = true;
    }
}

#define SQL_PUT                                                                                    \
    "INSERT OR REPLACE INTO metric_series_state (series, name, labels, state, samples, "           \
    "updated_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
#define SQL_LOAD "SELECT series, name, labels, state FROM metric_series_state ORDER BY series"

int hale_metrics_state_save(hale_store *s, const hale_metrics_snap *snaps, size_t n, int64_t now_ms,
                            hale_diag *reterr)
{
    sqlite3 *db = hale_store_sqlite(s);
    sqlite3_stmt *st = NULL;
    int r = hale_store_begin(s);

    if (r == 0 && sqlite3_prepare_v2(db, SQL_PUT, -1, &st, NULL) != SQLITE_OK)
        r = HALE_ESTORE;
    for (size_t i = 0; r == 0 && i < n; i++) {
        sqlite3_bind_text(st, 1, snaps[i].series, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, snaps[i].name, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, snaps[i].labels_json, -1, SQLITE_STATIC);
        sqlite3_bind_blob(st, 4, snaps[i].state, (int)snaps[i].state_len, SQLITE_STATIC);
        sqlite3_bind_int64(st, 5, (sqlite3_int64)snaps[i].samples);
        sqlite3_bind_int64(st, 6, now_ms);
        if (sqlite3_step(st) != SQLITE_DONE)
            r = HALE_ESTORE;
        sqlite3_reset(st);
    }
    if (r < 0)
        hale_diag_set(reterr, "%s", sqlite3_errmsg(db));
    sqlite3_finalize(st);
    if (r == 0)
        r = hale_store_commit(s);
    else
        hale_store_rollback(s);
    if (r < 0 && reterr && !reterr->msg[0])
        hale_diag_set(reterr, "%s", hale_store_errmsg(s));
    return r;
}

static int restore_row(hale_metrics *m, const char *name, const char *labels_json, const void *blob,
                       size_t len)
{
    const char *pairs[2 * HALE_METRICS_MAX_LABELS];
    struct hale__metrics_series *s = NULL;
    hale_sample smp = {.name = name, .labels = pairs};
    hale_sample_set *set = NULL;
    json_t *labels = NULL;
    size_t n = 0;
    int r;

    if (hale_json_parse(labels_json, strlen(labels_json), &labels, NULL) < 0 ||
        !json_is_object(labels) || json_object_size(labels) > HALE_METRICS_MAX_LABELS) {
        json_decref(labels);
        return HALE_EPARSE;
    }
    for (void *it = json_object_iter(labels); it; it = json_object_iter_next(labels, it)) {
        pairs[2 * n] = json_object_iter_key(it);
        pairs[2 * n + 1] = json_string_value(json_object_iter_value(it));
        if (!pairs[2 * n + 1])
            break;
        n++;
    }
    /* Names and values are checked and sorted as for any sample from outside. */
    r = n == json_object_size(labels) ? hale_sample_set_new(&set) : HALE_EPARSE;
    if (r == 0 && (r = hale_sample_set_add(set, name, pairs, n, 0, 0, NULL)) == 0) {
        smp = *hale_sample_set_get(set, 0);
        r = hale__metrics_series_get(m, &smp, &s);
    }
    if (r == 0)
        r = decode(m, s, blob, len, NULL);
    hale_sample_set_free(set);
    json_decref(labels);
    return r;
}

int hale_metrics_state_load(hale_store *s, hale_metrics *m, size_t *ret_restored,
                            size_t *ret_refused, hale_diag *reterr)
{
    sqlite3 *db = hale_store_sqlite(s);
    sqlite3_stmt *st = NULL;
    size_t ok = 0, bad = 0;
    int rc;

    if (sqlite3_prepare_v2(db, SQL_LOAD, -1, &st, NULL) != SQLITE_OK) {
        hale_diag_set(reterr, "%s", sqlite3_errmsg(db));
        return HALE_ESTORE;
    }
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(st, 1);
        const char *labels = (const char *)sqlite3_column_text(st, 2);
        const void *blob = sqlite3_column_blob(st, 3);
        int len = sqlite3_column_bytes(st, 3);

        if (name && labels && blob && restore_row(m, name, labels, blob, (size_t)len) == 0)
            ok++;
        else
            bad++;
    }
    if (rc != SQLITE_DONE)
        hale_diag_set(reterr, "%s", sqlite3_errmsg(db));
    sqlite3_finalize(st);
    if (ret_restored)
        *ret_restored = ok;
    if (ret_refused)
        *ret_refused = bad;
    return rc == SQLITE_DONE ? 0 : HALE_ESTORE;
}
