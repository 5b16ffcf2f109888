/* agent/loop/incidents_int.h - private to incidents*.c: the in-memory picture of active
 * incidents and their alerts, and the work collected during one transaction. */
#pragma once
#include "loop/incidents.h"
#include "util/buf.h"
#include "util/hashmap.h"

struct inc {
    int64_t id;                /* incident id */
    hale_incident_state state; /* current state */
    char *group_key;           /* owned */
    char *group_labels;        /* owned compact JSON */
    char *title;               /* owned */
    char *severity;            /* owned, "" when none */
    char *state_reason;        /* owned */
    char *context;             /* owned compact JSON */
    int64_t created_ms;        /* see hale_incident_rec for the meaning of these */
    int64_t updated_ms;
    int64_t state_since_ms;
    int64_t last_alert_ms;
    int64_t closed_ms;
    int64_t alerts_total;
    int64_t alerts_firing;
    int64_t attempts;
    int64_t version;
    bool dirty; /* changed in the current transaction */
};

/* Every alert the store holds has one: the dedup key is this map, not an index on disk. */
struct alert_entry {
    int64_t id;               /* its row in the alerts table */
    int64_t incident_id;      /* incident of its current episode, 0 for none */
    int64_t starts_ms;        /* episode start */
    hale_alert_status status; /* firing or resolved */
};

struct pair {
    int64_t incident_id; /* the incident */
    int64_t alert_id;    /* an alert that became part of it */
};

struct entered {
    int64_t incident_id;       /* who */
    hale_incident_state state; /* entered */
    int64_t outbox_id;         /* its work item */
};

struct hale_incidents {
    hale_store *store;                       /* borrowed */
    hale_audit *audit;                       /* borrowed; NULL: transitions are not logged */
    char **group_by;                         /* owned, n_group_by entries */
    size_t n_group_by;                       /* labels in group_by */
    uint64_t window_ms;                      /* grouping window */
    bool staged[HALE_INCIDENT__STATE_COUNT]; /* states a stage handles */
    bool loaded;                             /* caches reflect the store */
    int64_t next_id;                         /* id of the next new incident */
    int64_t next_alert_id;                   /* id of the next new alert row */
    hale_map *by_id;                         /* decimal id -> struct inc *, owns the incs */
    hale_map *by_group;                      /* group key -> newest active struct inc *, borrowed */
    hale_map *alerts;          /* fingerprint -> struct alert_entry *, every alert, owned */
    struct inc **dirty;        /* incidents changed in this transaction */
    size_t n_dirty, cap_dirty; /* used and allocated */
    struct entered *entered;   /* staged states entered in this transaction */
    size_t n_entered, cap_entered;
    struct pair *pairs;        /* incident_alerts rows not written yet */
    size_t n_pairs, cap_pairs; /* used and allocated */
    bool pairs_in_tx;          /* the open transaction writes pairs */
    int64_t pairs_written_ms;  /* when pairs were last written */
    hale_buf labels_text;      /* scratch: an alert row's labels JSON, reused per alert */
    hale_buf annotations_text; /* scratch: its annotations JSON */
    hale_buf group_key_text;   /* scratch: a firing alert's group key */
};

/* incidents.c */
struct inc *hale__incidents_get(const hale_incidents *m, int64_t id);
int hale__incidents_add(hale_incidents *m, struct inc *inc); /* takes inc, even on failure */
void hale__inc_free(struct inc *inc);
int hale__incidents_mark_dirty(hale_incidents *m, struct inc *inc);
/* Remember that alert_id became part of incident_id, for incident_alerts. */
int hale__incidents_add_pair(hale_incidents *m, int64_t incident_id, int64_t alert_id);
