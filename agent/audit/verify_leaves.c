/* agent/audit/verify_leaves.c - the leaf stream of the verifier pass. SHA-256 of the bodies is
 * most of a verification's cost, so rows are read in batches and a second thread hashes one
 * batch while this one checks the previous: the checks still run one leaf at a time in seq
 * order, and the first fault found is the first in the log. Memory stays bounded: two batches
 * of at most BATCH_ROWS rows and BATCH_BYTES of bodies. */
#include "internal.h"

#include <inttypes.h>
#include <pthread.h>
#include <sqlite3.h>

#include "audit/verify_int.h"
#include "hale/audit_verify.h"

#define BATCH_ROWS  512u
#define BATCH_BYTES (4u << 20) /* bodies in one batch; one huge body makes a batch alone */

/* One row as read: types checked later, in order, by check_row(). */
struct row {
    int seq_type;        /* sqlite type of the seq column */
    int64_t seq;         /* its value when an integer */
    int body_type;       /* sqlite type of the body column */
    size_t body_off;     /* the body's bytes in the batch arena */
    size_t body_len;     /* its length (0 when not read: oversized or wrong type) */
    bool body_oversized; /* longer than HALE_AUDIT_VERIFY_MAX_BODY_BYTES: not copied */
    bool stored_ok;      /* leaf_hash is a 32-byte blob */
    uint8_t stored[32];  /* its bytes */
    hale_hash h;         /* the recomputed leaf hash (by the hashing thread) */
};

struct batch {
    struct row *rows; /* rows read */
    size_t n;         /* rows in use */
    char *arena;      /* body bytes */
    size_t used;      /* bytes of arena in use */
    size_t cap;       /* bytes allocated */
    int rc_end;       /* after the last row: SQLITE_ROW (more), SQLITE_DONE, or an error */
};

struct hasher {
    pthread_t thread;   /* the hashing thread */
    pthread_mutex_t mu; /* guards the fields below */
    pthread_cond_t cv;  /* signals job and done changes */
    struct batch *job;  /* the batch to hash, NULL when idle */
    bool done;          /* job has been hashed */
    bool quit;          /* the thread should exit */
};

static void hash_batch(struct batch *b)
{
    for (size_t i = 0; i < b->n; i++) {
        struct row *r = &b->rows[i];

        hale_merkle_leaf_hash(b->arena + r->body_off, r->body_len, &r->h);
    }
}

static void *hasher_main(void *arg)
{
    struct hasher *h = arg;

    pthread_mutex_lock(&h->mu);
    for (;;) {
        while (!h->job && !h->quit)
            pthread_cond_wait(&h->cv, &h->mu);
        if (h->quit)
            break;
        pthread_mutex_unlock(&h->mu);
        hash_batch(h->job);
        pthread_mutex_lock(&h->mu);
        h->job = NULL;
        h->done = true;
        pthread_cond_broadcast(&h->cv);
    }
    pthread_mutex_unlock(&h->mu);
    return NULL;
}

static void hasher_start_job(struct hasher *h, struct batch *b)
{
    pthread_mutex_lock(&h->mu);
    h->job = b;
    h->done = false;
    pthread_cond_broadcast(&h->cv);
    pthread_mutex_unlock(&h->mu);
}

static void hasher_wait(struct hasher *h)
{
    pthread_mutex_lock(&h->mu);
    while (h->job)
        pthread_cond_wait(&h->cv, &h->mu);
    pthread_mutex_unlock(&h->mu);
}

/* Read up to BATCH_ROWS rows into b. Returns 0 or -ENOMEM; sqlite results go to b->rc_end. */
static int read_batch(sqlite3_stmt *st, struct batch *b)
{
    b->n = 0;
    b->used = 0;
    b->rc_end = SQLITE_DONE;
    while (b->n < BATCH_ROWS && b->used < BATCH_BYTES) {
        struct row *r = &b->rows[b->n];
        int rc = sqlite3_step(st);
        size_t len;

        if (rc != SQLITE_ROW) {
            b->rc_end = rc;
            return 0;
        }
        memset(r, 0, sizeof(*r));
        r->seq_type = sqlite3_column_type(st, 0);
        r->seq = sqlite3_column_int64(st, 0);
        r->body_type = sqlite3_column_type(st, 1);
        if (r->body_type == SQLITE_BLOB || r->body_type == SQLITE_TEXT) {
            const void *p = sqlite3_column_blob(st, 1);

            len = (size_t)sqlite3_column_bytes(st, 1);
            if (!p && len > 0) { /* out of memory or an I/O error reading the value */
                b->rc_end = sqlite3_errcode(sqlite3_db_handle(st));
                return 0;
            }
            if (len > HALE_AUDIT_VERIFY_MAX_BODY_BYTES) {
                r->body_oversized = true;
            } else {
                if (b->used + len + 1 > b->cap) {
                    size_t nc = b->cap * 2 > b->used + len + 1 ? b->cap * 2 : b->used + len + 1;
                    char *grown = realloc(b->arena, nc);

                    if (!grown)
                        return -ENOMEM;
                    b->arena = grown;
                    b->cap = nc;
                }
                if (len)
                    memcpy(b->arena + b->used, p, len);
                r->body_off = b->used;
                r->body_len = len;
                b->used += len;
            }
        }
        if (sqlite3_column_type(st, 2) == SQLITE_BLOB && sqlite3_column_bytes(st, 2) == 32) {
            r->stored_ok = true;
            memcpy(r->stored, sqlite3_column_blob(st, 2), 32);
        }
        b->n++;
    }
    b->rc_end = SQLITE_ROW;
    return 0;
}

/* Checks 3 and 4 for one row, then the per-leaf checks and the tree. */
static int check_row(hale__vctx *c, const struct batch *b, const struct row *r)
{
    uint64_t seq = c->f.size;
    hale__audit_tok t[HALE__AF_COUNT];
    hale_diag why = {{0}};
    const char *body = b->arena ? b->arena + r->body_off : "";
    int res;

    if (r->seq_type != SQLITE_INTEGER)
        return hale__vfail(c, HALE_AUDIT_TAMPERED, 4, (int64_t)seq, -1,
                           "leaf %" PRIu64 ": the seq column is not an integer", seq);
    if (r->seq != (int64_t)seq)
        return hale__vfail(c, HALE_AUDIT_TAMPERED, 4, (int64_t)seq, -1,
                           "leaf %" PRIu64 " %s (the next row has seq %" PRId64 ")", seq,
                           r->seq > (int64_t)seq ? "is missing" : "appears twice", r->seq);
    if (r->body_type != SQLITE_BLOB && r->body_type != SQLITE_TEXT)
        return hale__vfail(c, HALE_AUDIT_TAMPERED, 3, (int64_t)seq, -1,
                           "leaf %" PRIu64 ": the body is NULL or not bytes", seq);
    if (r->body_oversized)
        return hale__vfail(c, HALE_AUDIT_TAMPERED, 3, (int64_t)seq, -1,
                           "leaf %" PRIu64 ": the body is larger than %u bytes", seq,
                           HALE_AUDIT_VERIFY_MAX_BODY_BYTES);
    if (!r->stored_ok || memcmp(r->stored, r->h.b, 32) != 0)
        return hale__vfail(c, HALE_AUDIT_TAMPERED, 3, (int64_t)seq, -1,
                           "leaf %" PRIu64 ": the stored leaf_hash does not match the body", seq);
    if (hale__audit_body_scan(body, r->body_len, t, &why) < 0)
        return hale__vfail(c, HALE_AUDIT_TAMPERED, 4, (int64_t)seq, -1, "leaf %" PRIu64 ": %s", seq,
                           why.msg);
    res = hale__vcheck_leaf(c, seq, t);
    if (res != 0)
        return res;
    if (hale_merkle_frontier_append(&c->f, &r->h) < 0)
        return hale__vfail(c, HALE_AUDIT_TAMPERED, 4, (int64_t)seq, -1, "too many leaves");
    c->rep->n_leaves = c->f.size;
    return hale__vat_size(c);
}

static int process(hale__vctx *c, const struct batch *b)
{
    for (size_t i = 0; i < b->n; i++) {
        int r = check_row(c, b, &b->rows[i]);

        if (r != 0)
            return r;
    }
    if (b->rc_end != SQLITE_ROW && b->rc_end != SQLITE_DONE)
        return hale__vdb_fail(c, b->rc_end, "reading audit_leaf");
    return 0;
}

int hale__vleaves_run(hale__vctx *c, sqlite3_stmt *st)
{
    struct batch bufs[2] = {{0}};
    struct hasher h = {.job = NULL};
    struct batch *cur = &bufs[0], *next = &bufs[1];
    bool threaded = false, mutex_ok = false;
    int r = 0;

    for (int i = 0; i < 2; i++) {
        bufs[i].rows = calloc(BATCH_ROWS, sizeof(struct row));
        if (!bufs[i].rows)
            r = -ENOMEM;
    }
    if (r == 0 && pthread_mutex_init(&h.mu, NULL) == 0) {
        mutex_ok = true;
        if (pthread_cond_init(&h.cv, NULL) == 0) {
            threaded = pthread_create(&h.thread, NULL, hasher_main, &h) == 0;
            if (!threaded) /* one thread does it all: slower, still correct */
                pthread_cond_destroy(&h.cv);
        }
    }
    if (r == 0)
        r = read_batch(st, cur);
    if (r == 0 && threaded)
        hasher_start_job(&h, cur);
    else if (r == 0)
        hash_batch(cur);
    while (r == 0) {
        struct batch *t;

        if (cur->rc_end == SQLITE_ROW)
            r = read_batch(st, next); /* while the other thread hashes cur */
        else
            *next = (struct batch){
                .rows = next->rows, .arena = next->arena, .cap = next->cap, .rc_end = SQLITE_DONE};
        if (threaded)
            hasher_wait(&h);
        if (r < 0)
            break;
        if (next->n && threaded)
            hasher_start_job(&h, next);
        else if (next->n)
            hash_batch(next);
        r = process(c, cur); /* while the other thread hashes next */
        if (r != 0 || cur->rc_end != SQLITE_ROW)
            break;
        t = cur;
        cur = next;
        next = t;
    }
    if (threaded) {
        hasher_wait(&h);
        pthread_mutex_lock(&h.mu);
        h.quit = true;
        pthread_cond_broadcast(&h.cv);
        pthread_mutex_unlock(&h.mu);
        pthread_join(h.thread, NULL);
        pthread_cond_destroy(&h.cv);
    }
    if (mutex_ok)
        pthread_mutex_destroy(&h.mu);
    for (int i = 0; i < 2; i++) {
        free(bufs[i].rows);
        free(bufs[i].arena);
    }
    if (r < 0)
        return hale__vfail(c, HALE_AUDIT_UNUSABLE, 3, -1, -1, "out of memory reading leaves");
    return r;
}
