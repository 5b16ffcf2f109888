/* tests/integ/test_audit_tamper.c - the tamper-detection suite of SECURITY.md 1.14: a signed
 * log of at least 10,000 leaves, written by `hale run` itself from posted Alertmanager
 * webhooks over five daemon starts (a key epoch each), is mutated in each of the 18 classes
 * at random positions, through the sqlite3 C API or byte edits of the file, dropping the
 * append-only triggers first as an attacker would; then the real `hale audit verify` judges
 * each copy, without an anchor and with one captured before the mutation. Prints the
 * detected/total table. HALE_TAMPER_INSTANCES (default 5) sets instances per class,
 * HALE_TAMPER_SEED replays a run. */
#include "fixture.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <sodium.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <time.h>

#include "audit_testlog.h"
#include "hale/audit_verify.h"
#include "integ_http.h"
#include "integ_proc.h"
#include "integ_store.h"
#include "util/strparse.h"

#define N_LEAVES    10000u /* at least this many leaves */
#define N_STARTS    5u     /* daemon starts: each rotates the signing key */
#define ORIGIN      "aiops.example/tamper-suite"
#define N_CLASSES   18
#define MAX_BACKUPS 200u

static const char *const class_what[N_CLASSES] = {
    "flip a bit in a leaf body",
    "edit a body, recompute its hash",
    "delete a middle row",
    "delete a row, renumber the rest",
    "swap two rows",
    "insert a forged row",
    "duplicate a row",
    "truncate the tail",
    "truncate tail and its checkpoints",
    "roll back to a backup",
    "replace a signature with garbage",
    "re-sign with an attacker key",
    "re-sign past epochs, stolen key",
    "edit a checkpoint's text",
    "edit a key-rotation leaf",
    "fork: other history to a witness",
    "page-level corruption of the file",
    "delete the checkpoint table",
};
/* Exit code `hale audit verify` must give: without an anchor, with one. */
static const int expect[N_CLASSES][2] = {
    {1, 1}, {1, 1}, {1, 1}, {1, 1}, {1, 1}, {1, 1}, {1, 1}, {1, 1}, {0, 1},
    {0, 1}, {1, 1}, {1, 1}, {1, 1}, {1, 1}, {1, 1}, {0, 1}, {1, 1}, {2, 2},
};

/* The checks (SECURITY.md 1.12) allowed to report each class, as bit masks: a garbage or
 * foreign signature is "no signature by the epoch's key" (7) or a bad signature (2); rows
 * deleted, renumbered or forged may first show as an execution without its decision (9); a
 * damaged page may surface as an unreadable row (3), a row that is not what it claims (4), a
 * broken execution chain (9) or a root that no longer matches (5). */
#define C(n) (1u << (n))
static const unsigned expect_check[N_CLASSES] = {
    C(3),
    C(5),
    C(4) | C(5),
    C(4) | C(5) | C(9),
    C(4) | C(5),
    C(4) | C(5) | C(9),
    C(4) | C(5),
    C(5),
    C(8),
    C(8),
    C(2) | C(7),
    C(2) | C(7),
    C(7),
    C(2),
    C(3) | C(5),
    C(8),
    C(3) | C(4) | C(5) | C(9),
    C(6),
};

struct suite {
    char *dir;
    char base[4096], pub[4096], anchor[4096], work[4096], fork_anchor[4096], daemon_anchor[4096];
    integ_hale hale;           /* the daemon that writes the log */
    hale_note_signer *current; /* its signing key at the end (audit.key): the stolen key */
    uint64_t n_leaves;         /* leaves in the base log */
    uint64_t rng;
    uint64_t *cp_sizes; /* checkpoint sizes of the base log */
    size_t n_cps;
    bool *cp_quiet; /* no execution open at that size */
    uint64_t rot_seqs[TESTLOG_MAX_EPOCHS];
    unsigned n_rots;
    unsigned instances;
    /* Backups for M10, taken while the log was written. */
    uint64_t backup_at[MAX_BACKUPS];
    unsigned n_backups, next_backup;
    uint64_t backup_targets[MAX_BACKUPS];
    unsigned alerts_posted;
};

static uint64_t rnd(struct suite *s, uint64_t n)
{
    s->rng ^= s->rng << 13;
    s->rng ^= s->rng >> 7;
    s->rng ^= s->rng << 17;
    return n ? s->rng % n : 0;
}

static sqlite3 *db_open(const char *path)
{
    sqlite3 *db = NULL;

    if (sqlite3_open(path, &db) != SQLITE_OK)
        fail_msg("open %s: %s", path, sqlite3_errmsg(db));
    return db;
}

static void sql(sqlite3 *db, const char *q)
{
    if (sqlite3_exec(db, q, NULL, NULL, NULL) != SQLITE_OK)
        fail_msg("%s: %s", q, sqlite3_errmsg(db));
}

static void drop_triggers(sqlite3 *db)
{
    sql(db, "DROP TRIGGER IF EXISTS audit_leaf_no_update; DROP TRIGGER IF EXISTS "
            "audit_leaf_no_delete; DROP TRIGGER IF EXISTS audit_checkpoint_no_update; DROP "
            "TRIGGER IF EXISTS audit_checkpoint_no_delete");
}

static int copy_file(const char *from, const char *to)
{
    size_t len;
    char *data = fixture_read(from, &len);
    FILE *f;

    if (!data)
        return -EIO;
    f = fopen(to, "wb");
    if (!f || fwrite(data, 1, len, f) != len) {
        free(data);
        if (f)
            fclose(f);
        return -EIO;
    }
    free(data);
    return fclose(f) == 0 ? 0 : -EIO;
}

static void backup_db(const char *from, const char *to)
{
    sqlite3 *src = db_open(from), *dst = db_open(to);
    sqlite3_backup *b = sqlite3_backup_init(dst, "main", src, "main");

    assert_non_null(b);
    assert_int_equal(sqlite3_backup_step(b, -1), SQLITE_DONE);
    sqlite3_backup_finish(b);
    sql(dst, "PRAGMA journal_mode = DELETE");
    sqlite3_close(src);
    sqlite3_close(dst);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

static void load_base_facts(struct suite *s)
{
    sqlite3 *db = db_open(s->base);
    sqlite3_stmt *st;
    int64_t open = 0;
    size_t c = 0;

    assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*) FROM audit_checkpoint", -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    s->n_cps = (size_t)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    s->cp_sizes = calloc(s->n_cps, sizeof(*s->cp_sizes));
    s->cp_quiet = calloc(s->n_cps, sizeof(*s->cp_quiet));
    assert_int_equal(
        sqlite3_prepare_v2(db, "SELECT size FROM audit_checkpoint ORDER BY size", -1, &st, NULL),
        SQLITE_OK);
    for (size_t i = 0; sqlite3_step(st) == SQLITE_ROW; i++)
        s->cp_sizes[i] = (uint64_t)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    assert_int_equal(
        sqlite3_prepare_v2(db,
                           "SELECT seq, json_extract(body, '$.kind') FROM audit_leaf ORDER BY seq",
                           -1, &st, NULL),
        SQLITE_OK);
    while (sqlite3_step(st) == SQLITE_ROW) {
        uint64_t seq = (uint64_t)sqlite3_column_int64(st, 0);
        const char *kind = (const char *)sqlite3_column_text(st, 1);

        if (strcmp(kind, "exec_intent") == 0)
            open++;
        else if (strcmp(kind, "exec_result") == 0 || strcmp(kind, "exec_abandoned") == 0)
            open--;
        else if (strcmp(kind, "key_rotation") == 0)
            s->rot_seqs[s->n_rots++] = seq;
        while (c < s->n_cps && s->cp_sizes[c] == seq + 1)
            s->cp_quiet[c++] = open == 0;
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
}

/* ---- leaf helpers ---- */

static char *get_body(sqlite3 *db, uint64_t seq, size_t *len)
{
    sqlite3_stmt *st;
    char *out = NULL;

    sqlite3_prepare_v2(db, "SELECT body FROM audit_leaf WHERE seq = ?1", -1, &st, NULL);
    sqlite3_bind_int64(st, 1, (int64_t)seq);
    if (sqlite3_step(st) == SQLITE_ROW) {
        *len = (size_t)sqlite3_column_bytes(st, 0);
        out = malloc(*len + 1);
        memcpy(out, sqlite3_column_blob(st, 0), *len);
        out[*len] = '\0';
    }
    sqlite3_finalize(st);
    assert_non_null(out);
    return out;
}

/* Write body (and, when rehash, its matching hash) to the row at seq (or move it: to_seq). */
static void put_leaf(sqlite3 *db, uint64_t seq, uint64_t to_seq, const char *body, size_t len,
                     bool rehash, bool insert)
{
    sqlite3_stmt *st;
    hale_hash h;

    hale_merkle_leaf_hash(body, len, &h);
    if (insert)
        sqlite3_prepare_v2(db, "INSERT INTO audit_leaf (seq, body, leaf_hash) VALUES (?2, ?3, ?4)",
                           -1, &st, NULL);
    else if (rehash)
        sqlite3_prepare_v2(db,
                           "UPDATE audit_leaf SET seq = ?2, body = ?3, leaf_hash = ?4 WHERE seq = "
                           "?1",
                           -1, &st, NULL);
    else
        sqlite3_prepare_v2(db, "UPDATE audit_leaf SET seq = ?2, body = ?3 WHERE seq = ?1", -1, &st,
                           NULL);
    sqlite3_bind_int64(st, 1, (int64_t)seq);
    sqlite3_bind_int64(st, 2, (int64_t)to_seq);
    sqlite3_bind_blob(st, 3, body, (int)len, SQLITE_TRANSIENT);
    if (insert || rehash)
        sqlite3_bind_blob(st, 4, h.b, 32, SQLITE_TRANSIENT);
    if (sqlite3_step(st) != SQLITE_DONE)
        fail_msg("put_leaf %" PRIu64 ": %s", seq, sqlite3_errmsg(db));
    sqlite3_finalize(st);
}

/* The body with member name set to the integer v or string sv, canonical again. */
static char *edit_body(const char *body, const char *name, json_int_t v, const char *sv,
                       size_t *len)
{
    json_t *o = json_loads(body, 0, NULL);
    char *out;

    assert_non_null(o);
    json_object_set_new(o, name, sv ? json_string(sv) : json_integer(v));
    out = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII);
    json_decref(o);
    *len = strlen(out);
    return out;
}

/* Move the row at seq to to_seq, renumbering its body and hash as a thorough attacker would. */
static void renumber(sqlite3 *db, uint64_t seq, uint64_t to_seq, bool rewrite_body)
{
    size_t len, nlen;
    char *b = get_body(db, seq, &len), *nb;

    if (!rewrite_body) {
        put_leaf(db, seq, to_seq, b, len, false, false);
        free(b);
        return;
    }
    nb = edit_body(b, "seq", (json_int_t)to_seq, NULL, &nlen);
    put_leaf(db, seq, to_seq, nb, nlen, true, false);
    free(b);
    free(nb);
}

/* Recompute every checkpoint from the first one above from_size: root, frontier, and a note
 * signed by signer (an attacker's key). */
static void resign_from(sqlite3 *db, uint64_t from_size, const hale_note_signer *signer)
{
    sqlite3_stmt *leaves, *cps, *upd;
    hale_merkle_frontier f;
    uint8_t enc[HALE_MERKLE_FRONTIER_MAX_BYTES];

    hale_merkle_frontier_init(&f);
    sqlite3_prepare_v2(db, "SELECT leaf_hash FROM audit_leaf ORDER BY seq", -1, &leaves, NULL);
    sqlite3_prepare_v2(db, "SELECT size FROM audit_checkpoint WHERE size > ?1 ORDER BY size", -1,
                       &cps, NULL);
    sqlite3_prepare_v2(db,
                       "UPDATE audit_checkpoint SET root = ?2, note = ?3, frontier = ?4 WHERE "
                       "size = ?1",
                       -1, &upd, NULL);
    sqlite3_bind_int64(cps, 1, (int64_t)from_size);
    while (sqlite3_step(cps) == SQLITE_ROW) {
        uint64_t size = (uint64_t)sqlite3_column_int64(cps, 0);
        hale_hash root;
        char *note;
        int n;

        while (f.size < size && sqlite3_step(leaves) == SQLITE_ROW) {
            hale_hash h;

            memcpy(h.b, sqlite3_column_blob(leaves, 0), 32);
            hale_merkle_frontier_append(&f, &h);
        }
        hale_merkle_frontier_root(&f, &root);
        note = testlog_sign(signer, ORIGIN, size, &root);
        n = hale_merkle_frontier_encode(&f, enc, sizeof(enc));
        sqlite3_bind_int64(upd, 1, (int64_t)size);
        sqlite3_bind_blob(upd, 2, root.b, 32, SQLITE_TRANSIENT);
        sqlite3_bind_text(upd, 3, note, -1, SQLITE_TRANSIENT);
        sqlite3_bind_blob(upd, 4, enc, n, SQLITE_TRANSIENT);
        assert_int_equal(sqlite3_step(upd), SQLITE_DONE);
        sqlite3_reset(upd);
        free(note);
    }
    sqlite3_finalize(leaves);
    sqlite3_finalize(cps);
    sqlite3_finalize(upd);
}

static void edit_and_rehash(struct suite *s, sqlite3 *db, uint64_t seq)
{
    size_t len, nlen;
    char *b = get_body(db, seq, &len), *nb;

    nb = edit_body(b, "ts", (json_int_t)rnd(s, 1000000) + 1, NULL, &nlen);
    put_leaf(db, seq, seq, nb, nlen, true, false);
    free(b);
    free(nb);
}

/* M17: overwrite the whole page that holds a random leaf's body with random bytes. */
static void corrupt_page(struct suite *s, const char *path)
{
    sqlite3 *db = db_open(path);
    size_t len, blen, page;
    char *body = get_body(db, rnd(s, s->n_leaves), &blen), *data, *hit = NULL;
    FILE *f;

    sqlite3_close(db);
    data = fixture_read(path, &len);
    assert_non_null(data);
    page = ((size_t)(unsigned char)data[16] << 8) | (unsigned char)data[17];
    if (page == 1)
        page = 65536;
    for (size_t i = 0; i + blen <= len && !hit; i++)
        if (memcmp(data + i, body, blen) == 0)
            hit = data + i;
    assert_non_null(hit);
    randombytes_buf(data + ((size_t)(hit - data) / page) * page, page);
    f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    fclose(f);
    free(data);
    free(body);
}

/* M16: an anchor of a forked history: leaf k changed, signed by the key the attacker holds
 * (the current epoch's; earlier keys are erased). */
static void write_fork_anchor(struct suite *s)
{
    uint64_t first = s->rot_seqs[s->n_rots - 1] + 2; /* the last epoch's first checkpoint size */
    uint64_t size = first + rnd(s, s->n_leaves - first + 1), k = rnd(s, size);
    sqlite3 *db = db_open(s->work);
    sqlite3_stmt *st;
    hale_merkle_frontier f;
    hale_hash root;
    char *note, *text;

    hale_merkle_frontier_init(&f);
    sqlite3_prepare_v2(db, "SELECT seq, leaf_hash FROM audit_leaf WHERE seq < ?1 ORDER BY seq", -1,
                       &st, NULL);
    sqlite3_bind_int64(st, 1, (int64_t)size);
    while (sqlite3_step(st) == SQLITE_ROW) {
        hale_hash h;

        memcpy(h.b, sqlite3_column_blob(st, 1), 32);
        if ((uint64_t)sqlite3_column_int64(st, 0) == k)
            h.b[0] ^= 1;
        hale_merkle_frontier_append(&f, &h);
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    hale_merkle_frontier_root(&f, &root);
    note = testlog_sign(s->current, ORIGIN, size, &root);
    assert_non_null(note);
    text = malloc(strlen(note) + 2);
    snprintf(text, strlen(note) + 2, "%s\n", note);
    assert_int_equal(fixture_write(s->fork_anchor, text), 0);
    free(text);
    free(note);
}

/* Apply one instance of class m (0-based) to s->work. */
static void mutate(struct suite *s, int m)
{
    sqlite3 *db;
    uint64_t n = s->n_leaves, r = 1 + rnd(s, n - 2), j;
    size_t len;
    char *b, q[512];

    if (m == 9) { /* M10: the work copy becomes one of the backups */
        char path[4200];

        snprintf(path, sizeof(path), "%s/backup-%u.db", s->dir, (unsigned)rnd(s, s->n_backups));
        assert_int_equal(copy_file(path, s->work), 0);
        return;
    }
    if (m == 15) { /* M16: the log stays; the witness saw another history */
        write_fork_anchor(s);
        return;
    }
    if (m == 16) {
        corrupt_page(s, s->work);
        return;
    }
    db = db_open(s->work);
    drop_triggers(db);
    sql(db, "BEGIN");
    switch (m) {
    case 0: /* M1 */
        b = get_body(db, r, &len);
        b[rnd(s, len)] ^= (char)(1u << rnd(s, 8));
        put_leaf(db, r, r, b, len, false, false);
        free(b);
        break;
    case 1: /* M2 */
        edit_and_rehash(s, db, r);
        break;
    case 2: /* M3 */
        snprintf(q, sizeof(q), "DELETE FROM audit_leaf WHERE seq = %" PRIu64, r);
        sql(db, q);
        break;
    case 3: /* M4 */
        snprintf(q, sizeof(q), "DELETE FROM audit_leaf WHERE seq = %" PRIu64, r);
        sql(db, q);
        for (j = r + 1; j < n; j++)
            renumber(db, j, j - 1, true);
        break;
    case 4: /* M5 */
        j = r + 1 + rnd(s, n - r - 1);
        renumber(db, r, UINT64_C(1) << 40, false);
        renumber(db, j, r, false);
        renumber(db, UINT64_C(1) << 40, j, false);
        break;
    case 5: /* M6 */
        for (j = n; j-- > r;)
            renumber(db, j, j + 1, true);
        b = get_body(db, r + 1, &len);
        {
            size_t nlen;
            char *nb = edit_body(b, "seq", (json_int_t)r, NULL, &nlen), *forged;

            forged = edit_body(nb, "kind", 0, "approval", &nlen);
            put_leaf(db, r, r, forged, nlen, true, true);
            free(nb);
            free(forged);
        }
        free(b);
        break;
    case 6: /* M7 */
        for (j = n; j-- > r + 1;)
            renumber(db, j, j + 1, false);
        b = get_body(db, r, &len);
        put_leaf(db, r + 1, r + 1, b, len, true, true);
        free(b);
        break;
    case 7: /* M8 */
        snprintf(q, sizeof(q), "DELETE FROM audit_leaf WHERE seq >= %" PRIu64, r);
        sql(db, q);
        break;
    case 8: { /* M9: cut at a sealed, quiet checkpoint and fix the frontier row */
        size_t c;

        do
            c = rnd(s, s->n_cps - 1);
        while (!s->cp_quiet[c]);
        snprintf(q, sizeof(q),
                 "DELETE FROM audit_leaf WHERE seq >= %" PRIu64 "; DELETE FROM audit_checkpoint "
                 "WHERE size > %" PRIu64 "; UPDATE audit_frontier SET size = %" PRIu64
                 ", frontier = (SELECT frontier FROM audit_checkpoint WHERE size = %" PRIu64 ")",
                 s->cp_sizes[c], s->cp_sizes[c], s->cp_sizes[c], s->cp_sizes[c]);
        sql(db, q);
        break;
    }
    case 10: { /* M11 */
        uint64_t size = s->cp_sizes[rnd(s, s->n_cps)];
        uint8_t sig[68];
        char b64[128], note[1024];
        sqlite3_stmt *st;

        randombytes_buf(sig, sizeof(sig));
        sqlite3_prepare_v2(db, "SELECT note FROM audit_checkpoint WHERE size = ?1", -1, &st, NULL);
        sqlite3_bind_int64(st, 1, (int64_t)size);
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        snprintf(note, sizeof(note), "%s", (const char *)sqlite3_column_text(st, 0));
        sqlite3_finalize(st);
        if (rnd(s, 2)) { /* keep the key ID: the signature itself is garbage */
            uint8_t kid[6];

            assert_int_equal(sodium_base642bin(kid, sizeof(kid), strrchr(note, ' ') + 1, 8, NULL,
                                               NULL, NULL, sodium_base64_VARIANT_ORIGINAL),
                             0);
            memcpy(sig, kid, 4);
        }
        sodium_bin2base64(b64, sizeof(b64), sig, sizeof(sig), sodium_base64_VARIANT_ORIGINAL);
        snprintf(strrchr(note, ' ') + 1, sizeof(note) - (size_t)(strrchr(note, ' ') + 1 - note),
                 "%s\n", b64);
        sqlite3_prepare_v2(db, "UPDATE audit_checkpoint SET note = ?2 WHERE size = ?1", -1, &st,
                           NULL);
        sqlite3_bind_int64(st, 1, (int64_t)size);
        sqlite3_bind_text(st, 2, note, -1, SQLITE_TRANSIENT);
        assert_int_equal(sqlite3_step(st), SQLITE_DONE);
        sqlite3_finalize(st);
        break;
    }
    case 11: { /* M12 */
        hale_note_signer *attacker = testlog_signer(ORIGIN, (uint32_t)rnd(s, 1u << 30), 77);

        edit_and_rehash(s, db, r);
        resign_from(db, r, attacker);
        hale_note_signer_free(attacker);
        break;
    }
    case 12: /* M13: a leaf of a past epoch, all heads after it re-signed with the last key */
        r = rnd(s, s->rot_seqs[s->n_rots - 1]);
        edit_and_rehash(s, db, r);
        resign_from(db, r, s->current);
        break;
    case 13: { /* M14: one character of the text (size or root line) changed */
        uint64_t size = s->cp_sizes[rnd(s, s->n_cps)];
        static const char b64chars[] =
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        char note[1024], *line2, *line3;
        sqlite3_stmt *st;

        sqlite3_prepare_v2(db, "SELECT note FROM audit_checkpoint WHERE size = ?1", -1, &st, NULL);
        sqlite3_bind_int64(st, 1, (int64_t)size);
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        snprintf(note, sizeof(note), "%s", (const char *)sqlite3_column_text(st, 0));
        sqlite3_finalize(st);
        line2 = strchr(note, '\n') + 1;
        line3 = strchr(line2, '\n') + 1;
        if (rnd(s, 2)) {
            char *c = line3 + rnd(s, 42), old = *c;

            while (*c == old)
                *c = b64chars[rnd(s, 64)];
        } else {
            char *c = line2 + rnd(s, (size_t)(line3 - line2 - 1));

            *c = (char)('0' + (*c - '0' + 1 + rnd(s, 9)) % 10);
            if (c == line2 && *c == '0')
                *c = '1';
        }
        sqlite3_prepare_v2(db, "UPDATE audit_checkpoint SET note = ?2 WHERE size = ?1", -1, &st,
                           NULL);
        sqlite3_bind_int64(st, 1, (int64_t)size);
        sqlite3_bind_text(st, 2, note, -1, SQLITE_TRANSIENT);
        assert_int_equal(sqlite3_step(st), SQLITE_DONE);
        sqlite3_finalize(st);
        break;
    }
    case 14: { /* M15: the rotation introduces the attacker's key */
        hale_note_signer *attacker = testlog_signer(ORIGIN, (uint32_t)rnd(s, 1u << 30), 78);
        char vkey[HALE_NOTE_VKEY_MAX_BYTES], *nb;
        size_t nlen;

        hale_note_verifier_format(hale_note_signer_verifier(attacker), vkey, sizeof(vkey));
        r = s->rot_seqs[rnd(s, s->n_rots)];
        b = get_body(db, r, &len);
        nb = edit_body(b, "key", 0, vkey, &nlen);
        put_leaf(db, r, r, nb, nlen, rnd(s, 2) != 0, false);
        free(b);
        free(nb);
        hale_note_signer_free(attacker);
        break;
    }
    case 17: /* M18 */
        sql(db, "DROP TABLE audit_checkpoint");
        break;
    default:
        fail_msg("class %d", m + 1);
    }
    sql(db, "COMMIT");
    sqlite3_close(db);
}

/* Run `hale audit verify --json`; *ret_check gets the check that decided (0 when none). */
static int run_verify(struct suite *s, const char *anchor, unsigned *ret_check)
{
    const char *argv[] = {HALE_BINARY, "audit", "verify",
                          "--json",    "--db",  s->work,
                          "--pubkey",  s->pub,  anchor ? "--anchor" : NULL,
                          anchor,      NULL};
    char *out = NULL, *err = NULL;
    int r = integ_run(s->dir, argv, NULL, 60000, &out, &err);
    json_t *rep = out ? json_loads(out, 0, NULL) : NULL;

    if (getenv("HALE_TAMPER_VERBOSE"))
        fprintf(stderr, "%s%s", out ? out : "", err ? err : "");
    *ret_check = (unsigned)json_integer_value(json_object_get(rep, "check"));
    json_decref(rep);
    free(out);
    free(err);
    return r;
}

static int64_t leaf_count(const char *db_path)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int64_t n = -1;

    if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_busy_timeout(db, 5000) == SQLITE_OK &&
        sqlite3_prepare_v2(db, "SELECT count(*) FROM audit_leaf", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

/* A rollback target: a copy of the live database an operator could have taken, kept only
 * when it verifies on its own (not cut between a key rotation and its seal). */
static void take_backup(struct suite *s, const char *live)
{
    hale_audit_verify_opts o = {0};
    hale_audit_verify_report rep;
    hale_note_verifier *keys = NULL;
    size_t n_keys = 0;
    char path[4200];

    snprintf(path, sizeof(path), "%s/backup-%u.db", s->dir, s->n_backups);
    remove(path);
    backup_db(live, path);
    assert_int_equal(hale_audit_keys_load(s->pub, &keys, &n_keys, NULL), 0);
    o.root_key = &keys[0];
    if (hale_audit_verify(path, &o, &rep) == HALE_AUDIT_VERIFIED && rep.n_leaves > 0)
        s->backup_at[s->n_backups++] = rep.n_leaves;
    hale_audit_verify_report_release(&rep);
    free(keys);
}

/* Post webhooks to `hale run` until the log holds N_LEAVES leaves, restarting the daemon
 * N_STARTS - 1 times on the way (each start rotates the signing key); take the backups. */
static void write_log_with_daemon(struct suite *s)
{
    char db_path[4200], key_path[4200], extra[4800], *key_text;
    integ_conn conn;
    int64_t n = 0;
    size_t len;

    snprintf(extra, sizeof(extra),
             "\"audit_origin\": \"%s\", \"audit_checkpoint_interval_ms\": 50, "
             "\"request_timeout_s\": 10, \"audit_anchor_files\": [\"%s\"], "
             "\"audit_anchor_interval_s\": 1",
             ORIGIN, s->daemon_anchor);
    assert_int_equal(integ_hale_write_config(&s->hale, extra), 0);
    snprintf(db_path, sizeof(db_path), "%s/hale.db", s->hale.data_dir);
    for (unsigned start = 0; start < N_STARTS; start++) {
        int64_t goal = (int64_t)N_LEAVES * (start + 1) / N_STARTS;

        assert_int_equal(integ_hale_start(&s->hale, 20000), 0);
        if (start == 0) {
            snprintf(key_path, sizeof(key_path), "%s/audit.pub", s->hale.data_dir);
            assert_int_equal(copy_file(key_path, s->pub), 0); /* pinned at installation */
        }
        integ_conn_init(&conn, s->hale.port);
        while ((n = leaf_count(db_path)) < goal) {
            for (int k = 0; k < 50; k++) {
                char fp[32], svc[32];
                json_t *alerts;
                char *msg;
                integ_resp resp = {0};

                snprintf(fp, sizeof(fp), "%016x", ++s->alerts_posted);
                snprintf(svc, sizeof(svc), "svc-%u", s->alerts_posted % 997);
                alerts = json_pack("[o]", integ_am_alert("firing", fp, NULL, NULL, "alertname",
                                                         "TamperSuite", "service", svc, NULL));
                msg = integ_am_webhook(alerts);
                assert_int_equal(integ_conn_request(&conn, "POST", "/api/v1/alerts",
                                                    "application/json", msg, strlen(msg), 10000,
                                                    &resp),
                                 0);
                assert_int_equal(resp.status, 200);
                integ_resp_release(&resp);
                free(msg);
            }
            while (s->next_backup < s->instances &&
                   n >= (int64_t)s->backup_targets[s->next_backup]) {
                unsigned before = s->n_backups;

                integ_sleep_ms(60); /* let the next checkpoint seal what was just written */
                take_backup(s, db_path);
                if (s->n_backups > before)
                    s->next_backup++;
                else
                    break; /* retried after the next posts */
            }
        }
        integ_conn_close(&conn);
        assert_int_equal(integ_hale_stop(&s->hale, 20000), 0);
    }
    backup_db(db_path, s->base);
    snprintf(key_path, sizeof(key_path), "%s/audit.key", s->hale.data_dir);
    key_text = fixture_read(key_path, &len);
    assert_non_null(key_text);
    while (len && key_text[len - 1] == '\n')
        key_text[--len] = '\0';
    assert_int_equal(hale_note_signer_parse(key_text, &s->current), 0);
    sodium_memzero(key_text, len);
    free(key_text);
}

static void test_tamper_suite(void **state)
{
    struct suite *s = *state;
    unsigned detected[N_CLASSES][2] = {{0}}, classes_all[2] = {0};
    const char *seed_env = getenv("HALE_TAMPER_SEED");
    uint32_t seed = (uint32_t)time(NULL);
    uint64_t t0 = integ_now_ms();
    unsigned check;

    if (seed_env && hale_parse_u32(seed_env, &seed) < 0)
        fail_msg("HALE_TAMPER_SEED: expected a number");
    s->rng = (uint64_t)seed * 0x9E3779B97F4A7C15u + 1;
    printf("tamper suite: seed %" PRIu32 " (HALE_TAMPER_SEED replays), %u instances per class\n",
           seed, s->instances);
    for (unsigned i = 0; i < s->instances; i++)
        s->backup_targets[i] = 100 + rnd(s, N_LEAVES - 200);
    qsort(s->backup_targets, s->instances, sizeof(uint64_t), cmp_u64);
    write_log_with_daemon(s);
    assert_true(s->n_backups > 0);
    load_base_facts(s);
    s->n_leaves = s->n_cps ? s->cp_sizes[s->n_cps - 1] : 0;
    assert_true(s->n_leaves >= N_LEAVES);
    assert_int_equal(leaf_count(s->base), (int64_t)s->n_leaves); /* sealed at shutdown */
    assert_true(s->n_rots >= N_STARTS - 1);
    /* The anchor an auditor captured: the newest checkpoint before anything was touched. */
    assert_int_equal(copy_file(s->base, s->work), 0);
    {
        const char *argv[] = {HALE_BINARY, "audit", "prove", "0", "--db", s->work, NULL};
        char *out = NULL, *rec;
        json_t *p;

        assert_int_equal(integ_run(s->dir, argv, NULL, 60000, &out, NULL), 0);
        p = json_loads(out, 0, NULL);
        assert_non_null(p);
        rec = malloc(strlen(out) + 2);
        snprintf(rec, strlen(out) + 2, "%s\n", json_string_value(json_object_get(p, "checkpoint")));
        assert_int_equal(fixture_write(s->anchor, rec), 0);
        free(rec);
        json_decref(p);
        free(out);
    }
    assert_int_equal(run_verify(s, NULL, &check), 0);
    assert_int_equal(run_verify(s, s->anchor, &check), 0);
    assert_int_equal(run_verify(s, s->daemon_anchor, &check), 0); /* what hale run anchored */
    printf("base log written by hale run: %" PRIu64 " leaves from %u webhooks, %zu checkpoints, "
           "%u key epochs, %u backups; %" PRIu64 " ms\n\n",
           s->n_leaves, s->alerts_posted, s->n_cps, s->n_rots + 1, s->n_backups,
           integ_now_ms() - t0);

    for (int m = 0; m < N_CLASSES; m++) {
        for (unsigned i = 0; i < s->instances; i++) {
            uint64_t keep = s->rng;

            for (int cfg = 0; cfg < 2; cfg++) {
                const char *anchor = cfg == 0 ? NULL : m == 15 ? s->fork_anchor : s->anchor;
                int code;

                s->rng = keep; /* the same mutation for both configurations */
                assert_int_equal(copy_file(s->base, s->work), 0);
                mutate(s, m);
                code = run_verify(s, anchor, &check);
                if (code == expect[m][cfg] && code != 0) {
                    detected[m][cfg]++;
                    if (!(expect_check[m] & C(check)))
                        fail_msg("M%d (%s), instance %u: detected by check %u, not the one "
                                 "expected (seed %" PRIu32 ")",
                                 m + 1, class_what[m], i, check, seed);
                }
                if (code != expect[m][cfg])
                    fail_msg("M%d (%s), instance %u, %s: exit %d, expected %d (seed %" PRIu32 ")",
                             m + 1, class_what[m], i, cfg ? "with anchor" : "no anchor", code,
                             expect[m][cfg], seed);
            }
        }
    }
    printf("%-4s %-36s %14s %14s\n", "", "mutation", "no anchor", "with anchor");
    for (int m = 0; m < N_CLASSES; m++) {
        printf("M%-3d %-36s %8u/%-5u %8u/%-5u\n", m + 1, class_what[m], detected[m][0],
               s->instances, detected[m][1], s->instances);
        for (int cfg = 0; cfg < 2; cfg++)
            classes_all[cfg] += detected[m][cfg] == s->instances;
    }
    printf("\ndetected %u/18 classes (100%% of instances) without an anchor, %u/18 with one; "
           "%" PRIu64 " ms\n",
           classes_all[0], classes_all[1], integ_now_ms() - t0);
    assert_int_equal(classes_all[0], 15);
    assert_int_equal(classes_all[1], 18);
}

static int setup(void **state)
{
    struct suite *s = calloc(1, sizeof(*s));
    const char *n = getenv("HALE_TAMPER_INSTANCES");
    uint32_t inst = 5;

    if (n && (hale_parse_u32(n, &inst) < 0 || inst == 0 || inst > MAX_BACKUPS))
        fail_msg("HALE_TAMPER_INSTANCES: 1 to %u", MAX_BACKUPS);
    s->instances = inst;
    s->dir = fixture_tmpdir("audit-tamper");
    assert_non_null(s->dir);
    assert_int_equal(integ_hale_init(&s->hale, "audit-tamper-daemon"), 0);
    snprintf(s->base, sizeof(s->base), "%s/base.db", s->dir);
    snprintf(s->pub, sizeof(s->pub), "%s/audit.pub", s->dir);
    snprintf(s->anchor, sizeof(s->anchor), "%s/anchor", s->dir);
    snprintf(s->fork_anchor, sizeof(s->fork_anchor), "%s/fork-anchor", s->dir);
    snprintf(s->daemon_anchor, sizeof(s->daemon_anchor), "%s/daemon-anchors", s->dir);
    snprintf(s->work, sizeof(s->work), "%s/work.db", s->dir);
    *state = s;
    return 0;
}

static int teardown(void **state)
{
    struct suite *s = *state;

    hale_note_signer_free(s->current);
    integ_hale_release(&s->hale);
    fixture_rmtree(s->dir);
    free(s->dir);
    free(s->cp_sizes);
    free(s->cp_quiet);
    free(s);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_tamper_suite, setup, teardown),
    };

    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
