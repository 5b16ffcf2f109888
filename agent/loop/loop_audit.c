/* agent/loop/loop_audit.c - the controller's audit log: keys and the signer process at start,
 * leaves queued by the loop thread and appended by the commit job, signed checkpoints (at
 * once under light load, at most audit_checkpoint_interval_ms apart under load, at start and
 * at shutdown), key rotation and anchoring. Sealing runs inside the commit job, which owns the
 * writer connection; the signer's round trip never runs on the loop thread once the loop runs. */
#include "internal.h"

#include <fcntl.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <sodium.h>
#include <unistd.h>

#define HALE_LOG_MODULE "audit"
#include "hale/audit.h"
#include "hale/audit_signer.h"
#include "hale/log.h"
#include "hale/note.h"
#include "hale/witness.h"
#include "loop/loop_int.h"
#include "util/alloc.h"
#include "util/sha256.h"
#include "util/strparse.h"
#include "util/timeutil.h"

static const char *signer_exe; /* NULL: /proc/self/exe */

void hale_loop_set_exe(const char *path)
{
    signer_exe = path;
}

const char *hale__loop_exe(void)
{
    return signer_exe;
}

static int64_t now_ns(void)
{
    return hale_time_now_ms() * 1000000;
}

/* ---- the queue of leaves from the loop thread ---- */

int hale__loop_audit_queue(hale_loop *l, const char *kind, json_t *payload)
{
    struct audit_item *it;
    void *arr = l->audit_queue;

    if (hale_grow(&arr, &l->cap_audit_queue, l->n_audit_queue, sizeof(*l->audit_queue)) < 0) {
        json_decref(payload);
        return -ENOMEM;
    }
    l->audit_queue = arr;
    it = &l->audit_queue[l->n_audit_queue++];
    snprintf(it->kind, sizeof(it->kind), "%s", kind);
    it->payload = payload;
    it->ts_ns = now_ns();
    return 0;
}

void hale__loop_audit_items_free(struct audit_item *items, size_t n)
{
    for (size_t i = 0; i < n; i++)
        json_decref(items[i].payload);
}

int hale__loop_audit_append_items(hale_loop *l, const struct audit_item *items, size_t n,
                                  char *errmsg, size_t errmsg_size)
{
    hale_diag d = {{0}};
    int r = 0;

    for (size_t i = 0; r == 0 && i < n; i++) {
        r = hale_audit_append(l->audit, items[i].kind, items[i].payload, items[i].ts_ns, NULL, &d);
        if (r < 0)
            snprintf(errmsg, errmsg_size, "audit leaf '%s': %s", items[i].kind, d.msg);
    }
    return r;
}

/* ---- sealing (the thread that owns the writer) ---- */

/* Seal the committed head (see hale_audit_seal) and remember how far the log is sealed. */
static int seal(hale_loop *l, bool rotate, char **ret_note, hale_diag *reterr)
{
    int r = hale_audit_seal(l->audit, l->signer, rotate, ret_note, reterr);

    if (r == 0)
        hale_audit_head(l->audit, &l->audit_sealed, NULL);
    return r;
}

static int rotate(hale_loop *l, hale_diag *reterr)
{
    bool pending = false;
    int r = hale_audit_rotate(l->audit, l->signer, &l->audit_epoch, &pending, reterr);

    l->audit_rotate_pending = pending;
    if (r == 0)
        hale_audit_head(l->audit, &l->audit_sealed, NULL);
    return r;
}

/* Write note as one record (the note and a blank line) to every anchor file. Returns 0 or the
 * errno of the last failure. Any thread: touches nothing but the files. */
static int anchor(const hale_config *cfg, const char *note)
{
    int err = 0;

    for (size_t i = 0; i < cfg->n_audit_anchor_files; i++) {
        const char *path = cfg->audit_anchor_files[i];
        int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
        size_t len = strlen(note);
        bool ok = fd >= 0 && write(fd, note, len) == (ssize_t)len && write(fd, "\n", 1) == 1 &&
                  fsync(fd) == 0;

        if (!ok)
            err = errno ? errno : EIO;
        if (fd >= 0)
            close(fd);
    }
    return err;
}

/* For each witness, the add-checkpoint body for note: a proof from the size it cosigned last
 * (learned from its 409 answers; 0 at first contact). Posted later without the writer. */
static void prepare_witnesses(hale_loop *l, const hale_config *cfg, const char *note)
{
    hale_hash proof[HALE_MERKLE_MAX_PROOF];
    uint64_t size;
    size_t n = cfg->n_audit_witness_urls < HALE_LOOP_MAX_WITNESSES ? cfg->n_audit_witness_urls
                                                                   : HALE_LOOP_MAX_WITNESSES;

    hale_audit_head(l->audit, &size, NULL);
    for (size_t i = 0; i < n; i++) {
        struct witness_state *w = &l->witnesses[i];
        uint64_t old = w->size <= size ? w->size : 0;
        int np = 0;

        free(w->body);
        w->body = NULL;
        if (old > 0 && old < size)
            np = hale_audit_prove(l->audit, old, size, proof, HALE_MERKLE_MAX_PROOF, NULL, NULL);
        if (np >= 0 && hale_witness_body(old, proof, (size_t)np, note, &w->body, &w->body_len) == 0)
            snprintf(w->url, sizeof(w->url), "%s", cfg->audit_witness_urls[i]);
    }
}

/* Threadpool, without the writer: post the prepared bodies; a 409 teaches the witness's size
 * for the next round, a 200 adds the cosigned checkpoint to the anchor files. */
static void witness_work(uv_work_t *wk)
{
    hale_loop *l = wk->data;

    for (size_t i = 0; i < HALE_LOOP_MAX_WITNESSES; i++) {
        struct witness_state *w = &l->witnesses[i];
        char *cosigs = NULL, *record;
        uint64_t size = 0;
        const char *blank;
        size_t len;

        if (!w->body)
            continue;
        w->result = hale_witness_add_checkpoint(w->url, w->body, w->body_len, 5000, &cosigs, &size,
                                                &w->diag);
        blank = strstr(w->body, "\n\n");
        if (w->result == HALE_ESTATE) {
            w->size = size;
        } else if (w->result == 0 && blank) {
            /* The note is everything after the proof block. */
            const char *note = blank + 2;
            hale_checkpoint cp;
            const char *end = strstr(note, "\n\n");

            if (end && hale_checkpoint_parse(note, (size_t)(end - note) + 1, &cp, NULL) == 0) {
                w->size = cp.size;
                hale_checkpoint_release(&cp);
            }
            len = strlen(note) + strlen(cosigs) + 1;
            record = malloc(len);
            if (record) {
                snprintf(record, len, "%s%s", note, cosigs);
                w->anchor_errno = anchor(l->witness_cfg, record);
                free(record);
            }
        }
        free(cosigs);
        free(w->body);
        w->body = NULL;
    }
}

static void witness_done(uv_work_t *wk, int status)
{
    hale_loop *l = wk->data;

    (void)status;
    l->witness_running = false;
    for (size_t i = 0; i < HALE_LOOP_MAX_WITNESSES; i++) {
        struct witness_state *w = &l->witnesses[i];

        if (w->result == HALE_ESTATE) {
            /* Learned its size: try again at once rather than an interval later. */
            l->audit_last_anchor_ms = 0;
            log_info("witness %s last cosigned %" PRIu64 " leaves", w->url, w->size);
        } else if (w->result < 0) {
            log_warn("audit anchor: %s", w->diag.msg);
        }
        if (w->anchor_errno)
            log_warn("cannot write a cosigned checkpoint to an anchor file: %s",
                     strerror(w->anchor_errno));
        w->result = w->anchor_errno = 0;
    }
    hale_config_unref(l->witness_cfg);
    l->witness_cfg = NULL;
}

static void start_witnesses(hale_loop *l)
{
    bool any = false;

    for (size_t i = 0; i < HALE_LOOP_MAX_WITNESSES; i++)
        any = any || l->witnesses[i].body;
    if (!any || l->witness_running)
        return;
    l->witness_cfg = hale_config_ref(l->cfg);
    l->witness_work.data = l;
    if (uv_queue_work(&l->uv, &l->witness_work, witness_work, witness_done) == 0)
        l->witness_running = true;
    else
        hale_config_unref(l->witness_cfg);
}

void hale__loop_audit_job(hale_loop *l, struct commit_job *job)
{
    hale_diag d = {{0}};
    char *note = NULL;
    int r = 0;

    if (l->audit_rotate_pending) {
        /* The key_rotation leaf is committed: finish the switch with the same pending key. */
        r = hale_audit_rotate_finish(l->audit, l->signer, &d);
        if (r == 0) {
            hale_audit_head(l->audit, &l->audit_sealed, NULL);
            l->audit_epoch++;
            l->audit_rotate_pending = false;
        }
    } else if (job->rotate) {
        r = rotate(l, &d); /* its seal covers every leaf before the rotation too */
    }
    if (r == 0 && (job->anchor || (job->seal && hale__loop_audit_unsealed(l)))) {
        r = seal(l, false, &note, &d);
        if (r == 0 && job->anchor) {
            l->audit_anchor_errno = anchor(job->cfg, note);
            prepare_witnesses(l, job->cfg, note);
        }
    }
    free(note);
    job->audit_result = r;
    if (r < 0)
        snprintf(job->audit_err, sizeof(job->audit_err), "%s", d.msg);
}

bool hale__loop_audit_unsealed(const hale_loop *l)
{
    uint64_t size;

    hale_audit_head(l->audit, &size, NULL);
    return size > l->audit_sealed;
}

/* Loop thread, before a job starts: what the job does for the log. */
void hale__loop_audit_plan(hale_loop *l, struct commit_job *job)
{
    uint64_t now = uv_now(&l->uv);
    const hale_config *c = l->cfg;

    job->seal = job->n_items > 0 || l->n_audit_queue > 0 || hale__loop_audit_unsealed(l);
    job->seal = job->seal && now - l->audit_last_seal_ms >= c->audit_checkpoint_interval_ms;
    job->rotate = c->audit_rotate_interval_s > 0 &&
                  now - l->audit_last_rotate_ms >= c->audit_rotate_interval_s * 1000u;
    job->anchor = (c->n_audit_anchor_files > 0 || c->n_audit_witness_urls > 0) &&
                  !l->witness_running &&
                  now - l->audit_last_anchor_ms >= c->audit_anchor_interval_s * 1000u;
    job->cfg = hale_config_ref(l->cfg);
}

/* Loop thread, after the job: bookkeeping and failures. */
void hale__loop_audit_done(hale_loop *l, struct commit_job *job)
{
    uint64_t now = uv_now(&l->uv);

    hale_config_unref(job->cfg);
    job->cfg = NULL;
    if (job->audit_result < 0) {
        l->stats.audit_seal_failures++;
        l->audit_broken = job->audit_result == HALE_EPROOF;
        log_err("cannot seal the audit log: %s (%s)%s", hale_strerror(job->audit_result),
                job->audit_err,
                l->audit_broken ? ": the store no longer extends the signed log; investigate "
                                  "with `hale audit verify` before trusting it"
                                : ", retrying");
    } else {
        if (job->seal || job->anchor || job->rotate)
            l->audit_last_seal_ms = now;
        if (job->rotate) {
            l->audit_last_rotate_ms = now;
            log_info("audit signing key rotated, epoch %" PRIu64, l->audit_epoch);
        }
        if (job->anchor) {
            l->audit_last_anchor_ms = now;
            if (l->audit_anchor_errno)
                log_warn("cannot write an audit anchor file: %s", strerror(l->audit_anchor_errno));
            l->audit_anchor_errno = 0;
            start_witnesses(l);
        }
    }
    job->seal = job->rotate = job->anchor = false;
}

/* ---- start and stop (loop thread, while no job runs) ---- */

/* The origin: configured, else the log's own, else aiops.local/<hostname>. */
static int pick_origin(hale_loop *l, char *out, size_t cap)
{
    sqlite3_stmt *st = NULL;
    char host[256] = "";

    if (*l->cfg->audit_origin) {
        snprintf(out, cap, "%s", l->cfg->audit_origin);
        return 0;
    }
    if (sqlite3_prepare_v2(hale_store_sqlite(l->store),
                           "SELECT value FROM audit_meta WHERE name = 'origin'", -1, &st,
                           NULL) != SQLITE_OK)
        return HALE_ESTORE;
    if (sqlite3_step(st) == SQLITE_ROW) {
        snprintf(out, cap, "%s", (const char *)sqlite3_column_text(st, 0));
        sqlite3_finalize(st);
        return 0;
    }
    sqlite3_finalize(st);
    if (gethostname(host, sizeof(host) - 1) < 0 || !*host)
        snprintf(host, sizeof(host), "hale");
    for (char *p = host; *p; p++)
        if (*p <= ' ' || *p == '+' || *p == 0x7f)
            *p = '-';
    snprintf(out, cap, "aiops.local/%s", host);
    return 0;
}

static int append_one(hale_loop *l, const char *kind, json_t *payload, hale_diag *reterr)
{
    int r = hale_store_begin(l->store);

    if (r == 0)
        r = hale_audit_append(l->audit, kind, payload, now_ns(), NULL, reterr);
    if (r == 0)
        r = hale_store_commit(l->store);
    else
        hale_store_rollback(l->store);
    json_decref(payload);
    return r;
}

static json_t *config_leaf(const hale_config *c)
{
    char *text = hale_config_to_json(c);
    uint8_t digest[HALE_SHA256_BYTES];
    char hex[2 * HALE_SHA256_BYTES + 1];
    hale_sha256_part part;

    if (!text)
        return NULL;
    part = (hale_sha256_part){text, strlen(text)};
    hale_sha256(&part, 1, digest);
    free(text);
    hale_hex_encode(digest, sizeof(digest), hex);
    return json_pack("{s:s,s:s}", "config_sha256", hex, "config_source",
                     c->source ? c->source : "");
}

int hale__loop_audit_config_reloaded(hale_loop *l)
{
    json_t *p = config_leaf(l->cfg);

    return p ? hale__loop_audit_queue(l, HALE_AUDIT_KIND_CONFIG, p) : -ENOMEM;
}

int hale__loop_audit_open(hale_loop *l, hale_diag *reterr)
{
    hale_audit_signer_opts so = {.exe = signer_exe};
    hale_note_verifier root;
    char origin[HALE_AUDIT_MAX_ORIGIN + 1], vkey[HALE_NOTE_VKEY_MAX_BYTES];
    bool created = false;
    json_t *p;
    int r;

    /* Idempotent; a program embedding the loop need not have called it. */
    if (sodium_init() < 0) {
        hale_diag_set(reterr, "cannot initialise libsodium");
        return -EIO;
    }
    if ((r = pick_origin(l, origin, sizeof(origin))) < 0)
        return r;
    r = hale_audit_keys_ensure(l->cfg->data_dir, origin, &created, &root, reterr);
    if (r < 0)
        return r;
    (void)hale_note_verifier_format(&root, vkey, sizeof(vkey));
    if (created)
        log_notice("created the audit signing key in '%s'; its public key (pin it for "
                   "`hale audit verify --pubkey`): %s",
                   l->cfg->data_dir, vkey);
    r = hale_audit_open(l->store, origin, &l->audit, reterr);
    if (r == 0)
        r = hale_audit_signer_start(l->cfg->data_dir, origin, &so, &l->signer, reterr);
    if (r == 0)
        r = hale_audit_resume(l->audit, l->signer, &root, &l->audit_epoch, reterr);
    if (r < 0)
        return r;
    hale_audit_head(l->audit, &l->audit_sealed, NULL);
    hale_incidents_set_audit(l->incidents, l->audit);
    p = config_leaf(l->cfg);
    if (p && (json_object_set_new(p, "version", json_string(HALE_VERSION)) < 0 ||
              json_object_set_new(p, "revision", json_string(HALE_REVISION)) < 0 ||
              json_object_set_new(p, "pid", json_integer((json_int_t)getpid())) < 0)) {
        json_decref(p);
        p = NULL;
    }
    if (!p)
        return -ENOMEM;
    if ((r = append_one(l, HALE_AUDIT_KIND_START, p, reterr)) < 0)
        return r;
    /* Every start opens a new key epoch: a key copied off this host before now signs nothing
     * that comes after. */
    if ((r = rotate(l, reterr)) < 0)
        return r;
    l->audit_last_seal_ms = l->audit_last_rotate_ms = l->audit_last_anchor_ms = uv_now(&l->uv);
    log_info("audit log '%s': %" PRIu64 " leaves, signing key epoch %" PRIu64, origin,
             l->audit_sealed, l->audit_epoch);
    return 0;
}

void hale__loop_audit_close(hale_loop *l, const char *reason)
{
    hale_diag d = {{0}};
    char *note = NULL;
    json_t *p;
    int r = 0;

    if (l->audit && l->signer) {
        p = json_pack("{s:s}", "reason", reason);
        r = p ? append_one(l, HALE_AUDIT_KIND_STOP, p, &d) : -ENOMEM;
        if (r == 0)
            r = seal(l, false, &note, &d);
        if (r == 0 && anchor(l->cfg, note) != 0)
            log_warn("cannot write the final checkpoint to an anchor file");
        free(note);
        if (r < 0)
            log_err("cannot seal the audit log at shutdown: %s (%s); the next start seals it",
                    hale_strerror(r), d.msg);
    }
    if (l->signer && hale_audit_signer_stop(l->signer, &d) < 0)
        log_warn("audit signer: %s", d.msg);
    l->signer = NULL;
    if (l->incidents)
        hale_incidents_set_audit(l->incidents, NULL);
    hale_audit_free(l->audit);
    l->audit = NULL;
    for (size_t i = 0; i < HALE_LOOP_MAX_WITNESSES; i++) {
        free(l->witnesses[i].body);
        l->witnesses[i].body = NULL;
    }
    hale__loop_audit_items_free(l->audit_queue, l->n_audit_queue);
    free(l->audit_queue);
    l->audit_queue = NULL;
    l->n_audit_queue = 0;
}

void hale__loop_audit_anchor_soon(hale_loop *l)
{
    /* Due now: the next commit job, or the idle flush when none comes, anchors. */
    l->audit_last_anchor_ms = 0;
}

bool hale__loop_audit_due(hale_loop *l)
{
    const hale_config *c = l->cfg;
    uint64_t now = uv_now(&l->uv);

    if (!l->audit || l->audit_broken)
        return false;
    return l->audit_rotate_pending ||
           (hale__loop_audit_unsealed(l) &&
            now - l->audit_last_seal_ms >= c->audit_checkpoint_interval_ms) ||
           (c->audit_rotate_interval_s > 0 &&
            now - l->audit_last_rotate_ms >= c->audit_rotate_interval_s * 1000u) ||
           ((c->n_audit_anchor_files > 0 || c->n_audit_witness_urls > 0) && !l->witness_running &&
            now - l->audit_last_anchor_ms >= c->audit_anchor_interval_s * 1000u);
}
