/* include/hale/incident.h - the incident state machine: its states, which transitions are
 * legal, and the stage interface through which later parts of the loop (investigate, decide,
 * heal, verify) plug in without editing the machine.
 *
 *   open -> investigating -> deciding -> awaiting_approval -> healing -> verifying -> resolved
 *   and from any active state: -> resolved (its alerts cleared), -> failed, -> escalated.
 *   escalated waits on humans and leaves only to resolved; resolved, failed and rolled_back
 *   are terminal. */
#pragma once
#include <stdbool.h>
#include <stdint.h>

typedef enum hale_incident_state {
    HALE_INCIDENT_OPEN = 0,
    HALE_INCIDENT_INVESTIGATING,
    HALE_INCIDENT_DECIDING,
    HALE_INCIDENT_AWAITING_APPROVAL,
    HALE_INCIDENT_HEALING,
    HALE_INCIDENT_VERIFYING,
    HALE_INCIDENT_RESOLVED,
    HALE_INCIDENT_FAILED,
    HALE_INCIDENT_ESCALATED,
    HALE_INCIDENT_ROLLED_BACK,
    HALE_INCIDENT__STATE_COUNT
} hale_incident_state;

/* "open", "awaiting_approval", ...; "invalid" for out-of-range values. Static strings. */
const char *hale_incident_state_name(hale_incident_state s);
/* Returns 0 and sets *ret, or HALE_ESCHEMA for an unknown name. */
int hale_incident_state_parse(const char *name, hale_incident_state *ret);
/* resolved, failed, rolled_back: nothing leaves them. */
bool hale_incident_state_is_terminal(hale_incident_state s);
/* Is from -> to a legal transition? Staying in the same state is not a transition. */
bool hale_incident_transition_allowed(hale_incident_state from, hale_incident_state to);

/* Severity rank used to order incidents: critical 4, error 3, warning 2, info 1, else 0. */
int hale_severity_rank(const char *severity);

/* What a stage sees of an incident: a snapshot, borrowed for the duration of the call. */
typedef struct hale_incident_view {
    int64_t id;                /* incident id */
    hale_incident_state state; /* the state the stage registered for */
    const char *group_key;     /* 'alertname="X",service="Y"' */
    const char *severity;      /* highest alert severity */
    const char *title;         /* human summary */
    int64_t outbox_id;         /* the durable work item; pass back to hale_stage_finish */
    unsigned attempt;          /* deliveries of this work item so far, 0 the first time */
} hale_incident_view;

/* A stage works on incidents in one state. When an incident enters that state a durable work
 * item is written in the same transaction; after the commit the loop calls on_enter (and again
 * after a restart while the item is unfinished). The stage moves the incident on with
 * hale_loop_incident_transition() and marks the item done with hale_loop_stage_finish(), now
 * or from a later callback. on_enter must not block the loop thread. */
typedef struct hale_stage {
    const char *name;          /* for logs and metrics, static */
    hale_incident_state state; /* the state it handles; one stage per state */
    void (*on_enter)(void *ud, const hale_incident_view *inc);
    void *ud; /* handed back to on_enter */
} hale_stage;
