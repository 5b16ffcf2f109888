/* agent/loop/incidents.c - the incident manager's caches: loading active incidents and their
 * alerts from the store, writing changed incidents before a commit, and forgetting closed
 * ones after it. Correlation itself is in incidents_apply.c. */
#include "internal.h"

#include "hale/store.h"
#include "loop/incidents_int.h"
#include "util/alloc.h"

/* Labels or annotations larger than this (impossible within HALE_MAX_LABELS labels of at most
 * HALE_MAX_LABEL_VALUE_BYTES each) are written by jansson instead. */
#define SCRATCH_MAX   (4u * 1024u * 1024u)
#define GROUP_KEY_MAX (64u * 1024u) /* a longer group key fails the alert with HALE_ELIMIT */

static void id_key(int64_t id, char out[24])
{
    snprintf(out, 24, "%lld", (long long)id);
}

void hale__inc_free(struct inc *inc)
{
    if (!inc)
        return;
    free(inc->group_key);
    free(inc->group_labels);
    free(inc->title);
    free(inc->severity);
    free(inc->state_reason);
    free(inc->context);
    free(inc);
}

struct inc *hale__incidents_get(const hale_incidents *m, int64_t id)
{
    char key[24];

    id_key(id, key);
    return hale_map_get(m->by_id, key);
}

int hale__incidents_add(hale_incidents *m, struct inc *inc)
{
    struct inc *newest;
    char key[24];

    id_key(inc->id, key);
    if (hale_map_put(m->by_id, key, inc) < 0) {
        hale__inc_free(inc);
        return -ENOMEM;
    }
    newest = hale_map_get(m->by_group, inc->group_key);
    if ((!newest || newest->id < inc->id) && hale_map_put(m->by_group, inc->group_key, inc) < 0)
        return -ENOMEM; /* inc is owned by by_id now; the caller reloads on failure */
    return 0;
}

int hale__incidents_mark_dirty(hale_incidents *m, struct inc *inc)
{
    void *arr = m->dirty;
    int r;

    if (inc->dirty)
        return 0;
    r = hale_grow(&arr, &m->cap_dirty, m->n_dirty, sizeof(*m->dirty));
    m->dirty = arr;
    if (r < 0)
        return r;
    m->dirty[m->n_dirty++] = inc;
    inc->dirty = true;
    return 0;
}

static int free_inc_value(const char *key, void *value, void *ud)
{
    (void)key;
    (void)ud;
    hale__inc_free(value);
    return 0;
}

static int free_value(const char *key, void *value, void *ud)
{
    (void)key;
    (void)ud;
    free(value);
    return 0;
}

static void drop_caches(hale_incidents *m)
{
    if (m->by_id)
        (void)hale_map_foreach(m->by_id, free_inc_value, NULL);
    if (m->alerts)
        (void)hale_map_foreach(m->alerts, free_value, NULL);
    hale_map_free(m->by_id);
    hale_map_free(m->by_group);
    hale_map_free(m->alerts);
    m->by_id = m->by_group = m->alerts = NULL;
    m->n_dirty = m->n_entered = m->n_pairs = 0;
    m->pairs_in_tx = false;
    m->loaded = false;
}

static int load_incident(const hale_incident_rec *r, void *ud)
{
    hale_incidents *m = ud;
    struct inc *inc = calloc(1, sizeof(*inc));
    hale_incident_state state;

    if (!inc)
        return -ENOMEM;
    if (hale_incident_state_parse(r->state, &state) < 0)
        state = HALE_INCIDENT_OPEN; /* unreachable unless the file was edited by hand */
    *inc = (struct inc){.id = r->id,
                        .state = state,
                        .created_ms = r->created_ms,
                        .updated_ms = r->updated_ms,
                        .state_since_ms = r->state_since_ms,
                        .last_alert_ms = r->last_alert_ms,
                        .closed_ms = r->closed_ms,
                        .alerts_total = r->alerts_total,
                        .alerts_firing = r->alerts_firing,
                        .attempts = r->attempts,
                        .version = r->version};
    inc->group_key = strdup(r->group_key);
    inc->group_labels = strdup(r->group_labels);
    inc->title = strdup(r->title);
    inc->severity = strdup(r->severity);
    inc->state_reason = strdup(r->state_reason);
    inc->context = strdup(r->context);
    if (!inc->group_key || !inc->group_labels || !inc->title || !inc->severity ||
        !inc->state_reason || !inc->context) {
        hale__inc_free(inc);
        return -ENOMEM;
    }
    return hale__incidents_add(m, inc);
}

static int load_alert(const hale_alert_rec *r, void *ud)
{
    hale_incidents *m = ud;
    struct alert_entry *e;

    if (strlen(r->fingerprint) != HALE_FINGERPRINT_LEN)
        return 0; /* not written by hale: ignore rather than refuse to start */
    e = malloc(sizeof(*e));
    if (!e)
        return -ENOMEM;
    e->id = r->id;
    e->incident_id = r->incident_id;
    e->starts_ms = r->starts_ms;
    e->status = strcmp(r->status, "firing") == 0 ? HALE_ALERT_FIRING : HALE_ALERT_RESOLVED;
    /* Rows come in id order: a later duplicate (impossible through hale) wins. */
    free(hale_map_get(m->alerts, r->fingerprint));
    if (hale_map_put(m->alerts, r->fingerprint, e) < 0) {
        free(e);
        return -ENOMEM;
    }
    return 0;
}

/* Pairs not yet written when the process stopped are implied by alerts.incident_id. */
static int rebuild_pairs(hale_incidents *m)
{
    int r = hale_store_begin(m->store);

    if (r == 0)
        r = hale_store_incident_alerts_rebuild(m->store);
    if (r >= 0)
        r = hale_store_commit(m->store);
    else
        hale_store_rollback(m->store);
    return r;
}

static int load(hale_incidents *m)
{
    int r;

    drop_caches(m);
    m->by_id = hale_map_new();
    m->by_group = hale_map_new();
    m->alerts = hale_map_new();
    if (!m->by_id || !m->by_group || !m->alerts)
        return -ENOMEM;
    r = hale_store_max_incident_id(m->store, &m->next_id);
    if (r < 0)
        return r;
    m->next_id++;
    r = hale_store_max_alert_id(m->store, &m->next_alert_id);
    if (r < 0)
        return r;
    m->next_alert_id++;
    r = hale_store_incidents_active_each(m->store, load_incident, m);
    if (r == 0)
        r = hale_store_alerts_each(m->store, 0, load_alert, m);
    if (r == 0)
        r = rebuild_pairs(m);
    if (r < 0)
        return r;
    m->loaded = true;
    return 0;
}

int hale_incidents_new(hale_store *store, const char *const *group_by, size_t n_group_by,
                       uint64_t window_ms, hale_incidents **ret)
{
    hale_incidents *m = calloc(1, sizeof(*m));
    int r;

    if (!m)
        return -ENOMEM;
    m->store = store;
    hale_buf_init(&m->labels_text, SCRATCH_MAX);
    hale_buf_init(&m->annotations_text, SCRATCH_MAX);
    hale_buf_init(&m->group_key_text, GROUP_KEY_MAX);
    r = hale_incidents_set_grouping(m, group_by, n_group_by, window_ms);
    if (r == 0)
        r = load(m);
    if (r < 0) {
        hale_incidents_free(m);
        return r;
    }
    *ret = m;
    return 0;
}

static void free_group_by(hale_incidents *m)
{
    for (size_t i = 0; i < m->n_group_by; i++)
        free(m->group_by[i]);
    free(m->group_by);
    m->group_by = NULL;
    m->n_group_by = 0;
}

void hale_incidents_free(hale_incidents *m)
{
    if (!m)
        return;
    drop_caches(m);
    free_group_by(m);
    free(m->dirty);
    free(m->entered);
    free(m->pairs);
    hale_buf_release(&m->labels_text);
    hale_buf_release(&m->annotations_text);
    hale_buf_release(&m->group_key_text);
    free(m);
}

int hale_incidents_set_grouping(hale_incidents *m, const char *const *group_by, size_t n_group_by,
                                uint64_t window_ms)
{
    char **copy = calloc(n_group_by + 1, sizeof(*copy));

    if (!copy)
        return -ENOMEM;
    for (size_t i = 0; i < n_group_by; i++) {
        copy[i] = strdup(group_by[i]);
        if (!copy[i]) {
            for (size_t j = 0; j < i; j++)
                free(copy[j]);
            free(copy);
            return -ENOMEM;
        }
    }
    free_group_by(m);
    m->group_by = copy;
    m->n_group_by = n_group_by;
    m->window_ms = window_ms;
    return 0;
}

void hale_incidents_set_audit(hale_incidents *m, hale_audit *a)
{
    m->audit = a;
}

void hale_incidents_set_staged(hale_incidents *m, hale_incident_state s, bool staged)
{
    if ((unsigned)s < HALE_INCIDENT__STATE_COUNT)
        m->staged[s] = staged;
}

#define PAIRS_EVERY_MS 50
#define PAIRS_MAX      4096u

int hale__incidents_add_pair(hale_incidents *m, int64_t incident_id, int64_t alert_id)
{
    void *arr = m->pairs;
    int r = hale_grow(&arr, &m->cap_pairs, m->n_pairs, sizeof(*m->pairs));

    m->pairs = arr;
    if (r < 0)
        return r;
    m->pairs[m->n_pairs++] = (struct pair){incident_id, alert_id};
    return 0;
}

static int pair_cmp(const void *a, const void *b)
{
    const struct pair *x = a, *y = b;

    if (x->incident_id != y->incident_id)
        return x->incident_id < y->incident_id ? -1 : 1;
    return x->alert_id < y->alert_id ? -1 : x->alert_id > y->alert_id;
}

static int write_pairs(hale_incidents *m)
{
    int r = 0;

    /* In key order: consecutive rows land on the same page of incident_alerts instead of
     * jumping between one page per active incident. */
    qsort(m->pairs, m->n_pairs, sizeof(*m->pairs), pair_cmp);
    for (size_t i = 0; r == 0 && i < m->n_pairs; i++)
        r = hale_store_incident_alert_add(m->store, m->pairs[i].incident_id, m->pairs[i].alert_id);
    m->pairs_in_tx = r == 0;
    return r;
}

int hale_incidents_flush(hale_incidents *m, int64_t now_ms, bool all_pairs)
{
    int r = 0;

    for (size_t i = 0; r == 0 && i < m->n_dirty; i++) {
        struct inc *inc = m->dirty[i];
        hale_incident_rec rec = {.id = inc->id,
                                 .group_key = inc->group_key,
                                 .group_labels = inc->group_labels,
                                 .title = inc->title,
                                 .state = hale_incident_state_name(inc->state),
                                 .severity = inc->severity,
                                 .state_reason = inc->state_reason,
                                 .context = inc->context,
                                 .created_ms = inc->created_ms,
                                 .updated_ms = now_ms,
                                 .state_since_ms = inc->state_since_ms,
                                 .last_alert_ms = inc->last_alert_ms,
                                 .closed_ms = inc->closed_ms,
                                 .alerts_total = inc->alerts_total,
                                 .alerts_firing = inc->alerts_firing,
                                 .attempts = inc->attempts,
                                 .version = inc->version + 1};

        r = hale_store_incident_put(m->store, &rec);
    }
    if (r == 0 && m->n_pairs > 0 &&
        (all_pairs || m->n_pairs >= PAIRS_MAX || now_ms - m->pairs_written_ms >= PAIRS_EVERY_MS)) {
        r = write_pairs(m);
        if (r == 0)
            m->pairs_written_ms = now_ms;
    }
    return r;
}

/* A closed incident leaves memory; its alerts stay in the map for deduplication. */
static void evict(hale_incidents *m, struct inc *inc)
{
    char key[24];

    if (hale_map_get(m->by_group, inc->group_key) == inc)
        (void)hale_map_remove(m->by_group, inc->group_key);
    id_key(inc->id, key);
    (void)hale_map_remove(m->by_id, key);
    hale__inc_free(inc);
}

void hale_incidents_committed(hale_incidents *m, hale_incidents_entered_fn entered, void *ud)
{
    struct entered *list = m->entered;
    size_t n = m->n_entered;

    /* Detach the list first: a callback may run another transaction on this manager. */
    m->entered = NULL;
    m->n_entered = m->cap_entered = 0;
    for (size_t i = 0; i < m->n_dirty; i++) {
        m->dirty[i]->dirty = false;
        m->dirty[i]->version++;
    }
    if (m->pairs_in_tx) {
        m->n_pairs = 0;
        m->pairs_in_tx = false;
    }
    for (size_t i = 0; i < m->n_dirty; i++)
        if (m->dirty[i]->closed_ms != 0)
            evict(m, m->dirty[i]);
    m->n_dirty = 0;
    for (size_t i = 0; i < n && entered; i++)
        entered(ud, list[i].incident_id, list[i].state, list[i].outbox_id);
    free(list);
}

int hale_incidents_aborted(hale_incidents *m)
{
    return load(m);
}

int hale_incidents_view(const hale_incidents *m, int64_t id, hale_incident_view *ret)
{
    struct inc *inc = m->by_id ? hale__incidents_get(m, id) : NULL;

    if (!inc)
        return HALE_ENOTFOUND;
    *ret = (hale_incident_view){.id = inc->id,
                                .state = inc->state,
                                .group_key = inc->group_key,
                                .severity = inc->severity,
                                .title = inc->title};
    return 0;
}

size_t hale_incidents_pairs_pending(const hale_incidents *m)
{
    return m->n_pairs;
}

size_t hale_incidents_active(const hale_incidents *m)
{
    return m->by_id ? hale_map_size(m->by_id) : 0;
}

size_t hale_incidents_cached_alerts(const hale_incidents *m)
{
    return m->alerts ? hale_map_size(m->alerts) : 0;
}
