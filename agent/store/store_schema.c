/* agent/store/store_schema.c - the numbered migrations and the SQL of every prepared statement.
 * A migration is never edited once released: a schema change appends a new one. */
#include "internal.h"

#include "store/store_int.h"

/* Migrations 2 and 9 create audit_leaf; both give it these. */
#define AUDIT_LEAF_TRIGGERS                                                                        \
    "CREATE TRIGGER audit_leaf_no_update BEFORE UPDATE ON audit_leaf "                             \
    "  BEGIN SELECT RAISE(ABORT, 'audit_leaf is append-only'); END;"                               \
    "CREATE TRIGGER audit_leaf_no_delete BEFORE DELETE ON audit_leaf "                             \
    "  BEGIN SELECT RAISE(ABORT, 'audit_leaf is append-only'); END;"

static const char *const migrations[] = {
    /* 1: events, alerts, incidents, their history and the outbox. */
    "CREATE TABLE events ("
    "  id INTEGER PRIMARY KEY,"
    "  received_ms INTEGER NOT NULL,"
    "  kind TEXT NOT NULL,"
    "  source TEXT NOT NULL,"
    "  raw BLOB NOT NULL,"
    "  normalized TEXT NOT NULL);"
    "CREATE INDEX events_received ON events(received_ms);"
    "CREATE TABLE incidents ("
    "  id INTEGER PRIMARY KEY,"
    "  group_key TEXT NOT NULL,"
    "  group_labels TEXT NOT NULL,"
    "  title TEXT NOT NULL,"
    "  state TEXT NOT NULL,"
    "  severity TEXT NOT NULL,"
    "  state_reason TEXT NOT NULL,"
    "  context TEXT NOT NULL,"
    "  created_ms INTEGER NOT NULL,"
    "  updated_ms INTEGER NOT NULL,"
    "  state_since_ms INTEGER NOT NULL,"
    "  last_alert_ms INTEGER NOT NULL,"
    "  closed_ms INTEGER NOT NULL,"
    "  alerts_total INTEGER NOT NULL,"
    "  alerts_firing INTEGER NOT NULL,"
    "  attempts INTEGER NOT NULL,"
    "  version INTEGER NOT NULL);"
    "CREATE INDEX incidents_state ON incidents(state, id);"
    "CREATE INDEX incidents_active ON incidents(id) WHERE closed_ms = 0;"
    /* Rows are appended in arrival order (ids assigned by the loop), so a batch of new alerts
     * touches few pages. There is deliberately no index on fingerprint: with random keys every
     * new alert rewrote one index page per commit (14 of 18 KiB written per webhook). The
     * loop keeps fingerprint -> id in memory, rebuilt from this table at start. */
    "CREATE TABLE alerts ("
    "  id INTEGER PRIMARY KEY,"
    "  fingerprint TEXT NOT NULL,"
    "  status TEXT NOT NULL CHECK (status IN ('firing', 'resolved')),"
    "  labels TEXT NOT NULL,"
    "  annotations TEXT NOT NULL,"
    "  severity TEXT NOT NULL,"
    "  source TEXT NOT NULL,"
    "  generator_url TEXT NOT NULL,"
    "  starts_ms INTEGER NOT NULL,"
    "  ends_ms INTEGER NOT NULL,"
    "  first_seen_ms INTEGER NOT NULL,"
    "  last_seen_ms INTEGER NOT NULL,"
    "  seen_count INTEGER NOT NULL,"
    "  incident_id INTEGER REFERENCES incidents(id) DEFERRABLE INITIALLY DEFERRED,"
    "  last_event_id INTEGER NOT NULL);"
    /* Which alerts were part of which incident (an alert keeps its rows here after it moves
     * on to a later incident). Written in bulk about once a second rather than per commit:
     * an index on alerts(incident_id) rewrote one page per active incident per commit. Rows
     * missing after a crash are rebuilt from alerts.incident_id at start. */
    "CREATE TABLE incident_alerts ("
    "  incident_id INTEGER NOT NULL,"
    "  alert_id INTEGER NOT NULL,"
    "  PRIMARY KEY (incident_id, alert_id)) WITHOUT ROWID;"
    "CREATE TABLE incident_transitions ("
    "  id INTEGER PRIMARY KEY,"
    "  incident_id INTEGER NOT NULL REFERENCES incidents(id) DEFERRABLE INITIALLY DEFERRED,"
    "  from_state TEXT NOT NULL,"
    "  to_state TEXT NOT NULL,"
    "  at_ms INTEGER NOT NULL,"
    "  reason TEXT NOT NULL);"
    "CREATE INDEX incident_transitions_incident ON incident_transitions(incident_id, id);"
    "CREATE TABLE outbox ("
    "  id INTEGER PRIMARY KEY,"
    "  kind TEXT NOT NULL,"
    "  incident_id INTEGER REFERENCES incidents(id) DEFERRABLE INITIALLY DEFERRED,"
    "  payload TEXT NOT NULL,"
    "  created_ms INTEGER NOT NULL,"
    "  due_ms INTEGER NOT NULL,"
    "  attempts INTEGER NOT NULL DEFAULT 0,"
    "  done_ms INTEGER,"
    "  last_error TEXT);"
    "CREATE INDEX outbox_pending ON outbox(due_ms, id) WHERE done_ms IS NULL;",
    /* 2: the audit log (include/hale/audit.h). Leaves and signed heads are append-only; the
     * triggers stop accidents and bugs, not an attacker who owns the file: the Merkle tree and
     * the signatures are what detect tampering. Filter columns are copied out of the body and
     * indexed only where set (partial indexes), so leaves without them cost nothing extra. */
    "CREATE TABLE audit_meta ("
    "  name TEXT PRIMARY KEY,"
    "  value TEXT NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE audit_leaf ("
    "  seq INTEGER PRIMARY KEY,"
    "  ts_ns INTEGER NOT NULL,"
    "  kind TEXT NOT NULL,"
    "  incident_id INTEGER,"
    "  actor TEXT,"
    "  tool TEXT,"
    "  outcome TEXT,"
    "  body BLOB NOT NULL,"
    "  leaf_hash BLOB NOT NULL);"
    "CREATE INDEX audit_leaf_kind ON audit_leaf(kind, seq);"
    "CREATE INDEX audit_leaf_incident ON audit_leaf(incident_id, seq) "
    "  WHERE incident_id IS NOT NULL;"
    "CREATE INDEX audit_leaf_actor ON audit_leaf(actor, seq) WHERE actor IS NOT NULL;"
    "CREATE INDEX audit_leaf_tool ON audit_leaf(tool, seq) WHERE tool IS NOT NULL;"
    "CREATE INDEX audit_leaf_outcome ON audit_leaf(outcome, seq) WHERE outcome IS NOT NULL;"
    "CREATE TABLE audit_frontier ("
    "  id INTEGER PRIMARY KEY CHECK (id = 1),"
    "  size INTEGER NOT NULL,"
    "  frontier BLOB NOT NULL);"
    "CREATE TABLE audit_checkpoint ("
    "  size INTEGER PRIMARY KEY,"
    "  root BLOB NOT NULL,"
    "  note TEXT NOT NULL,"
    "  signed_ns INTEGER NOT NULL,"
    "  frontier BLOB NOT NULL);" AUDIT_LEAF_TRIGGERS
    "CREATE TRIGGER audit_checkpoint_no_update BEFORE UPDATE ON audit_checkpoint "
    "  BEGIN SELECT RAISE(ABORT, 'audit_checkpoint is append-only'); END;"
    "CREATE TRIGGER audit_checkpoint_no_delete BEFORE DELETE ON audit_checkpoint "
    "  BEGIN SELECT RAISE(ABORT, 'audit_checkpoint is append-only'); END;",
    /* 3: the policy engine's action ledger (limit counters that survive restarts) and its
     * pending approvals with their votes (include/hale/policy.h). */
    "CREATE TABLE policy_action ("
    "  id INTEGER PRIMARY KEY,"
    "  started_ms INTEGER NOT NULL,"
    "  tool TEXT NOT NULL,"
    "  target TEXT NOT NULL,"
    "  service TEXT NOT NULL,"
    "  labels TEXT NOT NULL,"
    "  automated INTEGER NOT NULL,"
    "  outcome TEXT NOT NULL CHECK (outcome IN ('running', 'success', 'failed', 'ineffective', "
    "    'abandoned')),"
    "  finished_ms INTEGER);"
    "CREATE INDEX policy_action_started ON policy_action(started_ms);"
    "CREATE INDEX policy_action_target ON policy_action(target, started_ms);"
    "CREATE INDEX policy_action_service ON policy_action(service, started_ms);"
    "CREATE INDEX policy_action_running ON policy_action(id) WHERE outcome = 'running';"
    "CREATE TABLE policy_approval ("
    "  id INTEGER PRIMARY KEY,"
    "  digest TEXT NOT NULL,"
    "  nonce TEXT NOT NULL,"
    "  tool TEXT NOT NULL,"
    "  request TEXT NOT NULL,"
    "  requester TEXT NOT NULL,"
    "  incident_id TEXT NOT NULL,"
    "  requirements TEXT NOT NULL,"
    "  self_approval INTEGER NOT NULL,"
    "  escalate INTEGER NOT NULL,"
    "  dry_run INTEGER NOT NULL,"
    "  policy_hash TEXT NOT NULL,"
    "  created_ms INTEGER NOT NULL,"
    "  expires_ms INTEGER NOT NULL,"
    "  state TEXT NOT NULL CHECK (state IN ('pending', 'approved', 'denied', 'expired', "
    "    'consumed')),"
    "  decided_ms INTEGER);"
    "CREATE INDEX policy_approval_state ON policy_approval(state, id);"
    "CREATE TABLE policy_vote ("
    "  approval_id INTEGER NOT NULL REFERENCES policy_approval(id),"
    "  user TEXT NOT NULL,"
    "  approve INTEGER NOT NULL,"
    "  comment TEXT NOT NULL,"
    "  at_ms INTEGER NOT NULL,"
    "  PRIMARY KEY (approval_id, user)) WITHOUT ROWID;",
    /* 4: side indexes for audit queries (include/hale/audit_query.h), filled after the fact by
     * hale_audit_index_catchup() so that appends never pay for them. audit_fts is a contentless
     * trigram index of the bodies (rowid = seq; detail=none keeps it small, and every match is
     * confirmed against the stored body anyway); audit_ts_block holds the time range of each
     * block of 1024 leaves, so a time filter becomes a seq range even if the clock stepped
     * back. Leaves at or above audit_index_state.indexed are not in either yet and are
     * scanned. Derived data: not part of what the Merkle tree or the verifier covers. */
    "CREATE VIRTUAL TABLE audit_fts USING fts5(body, content='', detail=none, "
    "  tokenize='trigram');"
    /* No automatic merging: catch-up merges a bounded amount with every batch instead, so no
     * single batch pays for a whole level (measured: 560 ms worst case with automerge, 66 ms
     * with 64 pages per batch). */
    "INSERT INTO audit_fts (audit_fts, rank) VALUES ('automerge', 0);"
    "INSERT INTO audit_fts (audit_fts, rank) VALUES ('crisismerge', 64);"
    "CREATE TABLE audit_ts_block ("
    "  block INTEGER PRIMARY KEY,"
    "  min_ts INTEGER NOT NULL,"
    "  max_ts INTEGER NOT NULL);"
    "CREATE TABLE audit_index_state ("
    "  id INTEGER PRIMARY KEY CHECK (id = 1),"
    "  indexed INTEGER NOT NULL);"
    "INSERT INTO audit_index_state (id, indexed) VALUES (1, 0);",
    /* 5: controller settings that must survive a restart, one JSON value per key (the global
     * pause switch: key 'pause'). Written by the daemon only. */
    "CREATE TABLE control_setting ("
    "  key TEXT PRIMARY KEY,"
    "  value TEXT NOT NULL,"
    "  updated_ms INTEGER NOT NULL) WITHOUT ROWID;",
    /* 6: the LLM client's response cache (include/hale/llm.h). key is the SHA-256 of
     * (model, rendered prompt hash, schema); answer is the validated answer's canonical JSON.
     * Rows past expires_ms are ignored and deleted by the client as it meets them. */
    "CREATE TABLE llm_cache ("
    "  key BLOB PRIMARY KEY,"
    "  model TEXT NOT NULL,"
    "  gateway TEXT NOT NULL,"
    "  answer TEXT NOT NULL,"
    "  created_ms INTEGER NOT NULL,"
    "  expires_ms INTEGER NOT NULL) WITHOUT ROWID;",
    /* 7: remediation actions and their idempotency keys (docs/heal.md). A row is written with
     * its decision leaf (state 'decided'), moves to 'intent' in the transaction of its
     * exec_intent leaf, and to 'done' or 'abandoned' in that of its exec_result or
     * exec_abandoned leaf: a restart finds every action that may have started without a
     * recorded result, and never runs it again. */
    "CREATE TABLE heal_action ("
    "  id INTEGER PRIMARY KEY,"
    "  idem_key TEXT NOT NULL UNIQUE,"
    "  incident_id INTEGER NOT NULL,"
    "  kind TEXT NOT NULL CHECK (kind IN ('action', 'rollback')),"
    "  decision_id TEXT NOT NULL,"
    "  intent_id TEXT NOT NULL,"
    "  attempt INTEGER NOT NULL,"
    "  tool TEXT NOT NULL,"
    "  digest TEXT NOT NULL,"
    "  request TEXT NOT NULL,"
    "  effect TEXT NOT NULL,"
    "  approval_id INTEGER NOT NULL,"
    "  ledger_id INTEGER NOT NULL,"
    "  state TEXT NOT NULL CHECK (state IN ('decided', 'intent', 'running', 'done', "
    "    'abandoned')),"
    "  outcome TEXT NOT NULL,"
    "  exit_code INTEGER,"
    "  output TEXT NOT NULL,"
    "  stdout TEXT NOT NULL,"
    "  stderr TEXT NOT NULL,"
    "  created_ms INTEGER NOT NULL,"
    "  updated_ms INTEGER NOT NULL);"
    "CREATE INDEX heal_action_incident ON heal_action(incident_id, id);"
    "CREATE INDEX heal_action_open ON heal_action(state) WHERE state IN ('intent', 'running');",
    /* 8: model state of each metric series (include/hale/metrics.h): its detector, anomaly
     * hysteresis and bucketed history, so a restart continues instead of relearning. series is
     * the identity (name and sorted labels); state is a versioned blob that is checked when
     * read. Written by the daemon only, in batches off the loop thread. */
    "CREATE TABLE metric_series_state ("
    "  series TEXT PRIMARY KEY,"
    "  name TEXT NOT NULL,"
    "  labels TEXT NOT NULL,"
    "  state BLOB NOT NULL,"
    "  samples INTEGER NOT NULL,"
    "  updated_ms INTEGER NOT NULL) WITHOUT ROWID;",
    /* 9: a leaf row is only what the log is: seq, the exact bytes and their leaf hash. The
     * time and filter attributes (kind, incident, actor, tool, outcome) move to audit_leaf_attr,
     * which hale_audit_index_catchup() fills from the bodies with the other side indexes of
     * migration 4: keeping five indexes in step with every append was most of its cost.
     * Derived data like them; queries confirm every match against the body. */
    "CREATE TABLE audit_leaf_attr ("
    "  seq INTEGER PRIMARY KEY,"
    "  ts_ns INTEGER NOT NULL,"
    "  kind TEXT NOT NULL,"
    "  incident_id INTEGER,"
    "  actor TEXT,"
    "  tool TEXT,"
    "  outcome TEXT);"
    "INSERT INTO audit_leaf_attr (seq, ts_ns, kind, incident_id, actor, tool, outcome) "
    "  SELECT seq, ts_ns, kind, incident_id, actor, tool, outcome FROM audit_leaf "
    "  WHERE seq < (SELECT indexed FROM audit_index_state WHERE id = 1);"
    "CREATE INDEX audit_attr_kind ON audit_leaf_attr(kind, seq);"
    "CREATE INDEX audit_attr_incident ON audit_leaf_attr(incident_id, seq) "
    "  WHERE incident_id IS NOT NULL;"
    "CREATE INDEX audit_attr_actor ON audit_leaf_attr(actor, seq) WHERE actor IS NOT NULL;"
    "CREATE INDEX audit_attr_tool ON audit_leaf_attr(tool, seq) WHERE tool IS NOT NULL;"
    "CREATE INDEX audit_attr_outcome ON audit_leaf_attr(outcome, seq) "
    "  WHERE outcome IS NOT NULL;"
    "CREATE TABLE audit_leaf_v9 ("
    "  seq INTEGER PRIMARY KEY,"
    "  body BLOB NOT NULL,"
    "  leaf_hash BLOB NOT NULL);"
    "INSERT INTO audit_leaf_v9 (seq, body, leaf_hash) "
    "  SELECT seq, body, leaf_hash FROM audit_leaf ORDER BY seq;"
    "DROP TABLE audit_leaf;"
    "ALTER TABLE audit_leaf_v9 RENAME TO audit_leaf;" AUDIT_LEAF_TRIGGERS,
};

#define INCIDENT_COLS                                                                              \
    "id, group_key, group_labels, title, state, severity, state_reason, context, created_ms, "     \
    "updated_ms, state_since_ms, last_alert_ms, closed_ms, alerts_total, alerts_firing, "          \
    "attempts, version"
#define ALERT_COLS                                                                                 \
    "id, fingerprint, status, labels, annotations, severity, source, generator_url, starts_ms, "   \
    "ends_ms, first_seen_ms, last_seen_ms, seen_count, incident_id, last_event_id"

#define ALERT_COLS_A                                                                               \
    "a.id, a.fingerprint, a.status, a.labels, a.annotations, a.severity, a.source, "               \
    "a.generator_url, a.starts_ms, a.ends_ms, a.first_seen_ms, a.last_seen_ms, a.seen_count, "     \
    "a.incident_id, a.last_event_id"

const char *const hale__store_sql[ST__COUNT] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_EVENT_INSERT] = "INSERT INTO events (received_ms, kind, source, raw, normalized) "
                        "VALUES (?1, ?2, ?3, ?4, ?5)",
    [ST_ALERT_UPSERT] = "INSERT INTO alerts (" ALERT_COLS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, "
                        "?8, ?9, ?10, ?11, ?12, ?13, NULLIF(?14, 0), ?15) "
                        "ON CONFLICT (id) DO UPDATE SET status = ?3, labels = ?4, "
                        "annotations = ?5, severity = ?6, source = ?7, generator_url = ?8, "
                        "starts_ms = ?9, ends_ms = ?10, last_seen_ms = ?12, "
                        "seen_count = seen_count + 1, incident_id = NULLIF(?14, 0), "
                        "last_event_id = ?15",
    [ST_ALERT_SEEN] = "UPDATE alerts SET last_seen_ms = ?2, seen_count = seen_count + 1, "
                      "last_event_id = ?3 WHERE id = ?1",
    [ST_INCIDENT_PUT] = "INSERT INTO incidents (" INCIDENT_COLS ") VALUES (?1, ?2, ?3, ?4, ?5, "
                        "?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17) "
                        "ON CONFLICT (id) DO UPDATE SET group_key = ?2, group_labels = ?3, "
                        "title = ?4, state = ?5, severity = ?6, state_reason = ?7, context = ?8, "
                        "updated_ms = ?10, state_since_ms = ?11, last_alert_ms = ?12, "
                        "closed_ms = ?13, alerts_total = ?14, alerts_firing = ?15, "
                        "attempts = ?16, version = ?17",
    [ST_TRANSITION_ADD] = "INSERT INTO incident_transitions (incident_id, from_state, to_state, "
                          "at_ms, reason) VALUES (?1, ?2, ?3, ?4, ?5)",
    [ST_OUTBOX_ADD] = "INSERT INTO outbox (kind, incident_id, payload, created_ms, due_ms) "
                      "VALUES (?1, NULLIF(?2, 0), ?3, ?4, ?5)",
    [ST_OUTBOX_FINISH] = "UPDATE outbox SET done_ms = ?2, last_error = ?3, "
                         "attempts = attempts + 1 WHERE id = ?1",
    [ST_EVENTS_PRUNE] = "DELETE FROM events WHERE id IN (SELECT id FROM events "
                        "WHERE received_ms < ?1 ORDER BY received_ms LIMIT ?2)",
    [ST_INCIDENTS_ALL] = "SELECT " INCIDENT_COLS " FROM incidents ORDER BY id DESC LIMIT ?1",
    [ST_INCIDENTS_BY_STATE] = "SELECT " INCIDENT_COLS " FROM incidents WHERE state = ?2 "
                              "ORDER BY id DESC LIMIT ?1",
    [ST_INCIDENTS_ACTIVE] = "SELECT " INCIDENT_COLS " FROM incidents WHERE closed_ms = 0 "
                            "ORDER BY id",
    [ST_INCIDENT_GET] = "SELECT " INCIDENT_COLS " FROM incidents WHERE id = ?1",
    [ST_ALERT_GET] = "SELECT " ALERT_COLS " FROM alerts WHERE id = ?1",
    [ST_ALERTS_ALL] = "SELECT " ALERT_COLS " FROM alerts ORDER BY id",
    [ST_ALERTS_OF_INCIDENT] = "SELECT " ALERT_COLS_A " FROM incident_alerts r "
                              "JOIN alerts a ON a.id = r.alert_id WHERE r.incident_id = ?1 "
                              "ORDER BY a.id",
    [ST_INCIDENT_ALERT_ADD] = "INSERT OR IGNORE INTO incident_alerts (incident_id, alert_id) "
                              "VALUES (?1, ?2)",
    [ST_INCIDENT_ALERTS_REBUILD] = "INSERT OR IGNORE INTO incident_alerts (incident_id, "
                                   "alert_id) SELECT incident_id, id FROM alerts "
                                   "WHERE incident_id IS NOT NULL",
    [ST_TRANSITIONS_OF_INCIDENT] = "SELECT incident_id, from_state, to_state, at_ms, reason "
                                   "FROM incident_transitions WHERE incident_id = ?1 ORDER BY id",
    [ST_OUTBOX_PENDING] = "SELECT id, kind, COALESCE(incident_id, 0), payload, created_ms, "
                          "due_ms, attempts FROM outbox WHERE done_ms IS NULL "
                          "ORDER BY due_ms, id",
    [ST_MAX_INCIDENT_ID] = "SELECT COALESCE(MAX(id), 0) FROM incidents",
    [ST_MAX_ALERT_ID] = "SELECT COALESCE(MAX(id), 0) FROM alerts",
    [ST_INCIDENT_COUNTS] = "SELECT state, COUNT(*) FROM incidents GROUP BY state ORDER BY state",
};

static int exec_sql(hale_store *s, const char *sql, hale_diag *reterr)
{
    char *err = NULL;

    if (sqlite3_exec(s->db, sql, NULL, NULL, &err) != SQLITE_OK) {
        hale_diag_set(reterr, "%s", err ? err : sqlite3_errmsg(s->db));
        sqlite3_free(err);
        return HALE_ESTORE;
    }
    return 0;
}

static int read_user_version(hale_store *s, int *ret)
{
    sqlite3_stmt *st = NULL;
    int r = HALE_ESTORE;

    if (sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
        return HALE_ESTORE;
    if (sqlite3_step(st) == SQLITE_ROW) {
        *ret = sqlite3_column_int(st, 0);
        r = 0;
    }
    sqlite3_finalize(st);
    return r;
}

int hale__store_migrate(hale_store *s, hale_diag *reterr)
{
    const int latest = (int)HALE_ARRAY_SIZE(migrations);
    char sql[64];
    int version = 0;
    int r;

    if (read_user_version(s, &version) < 0) {
        hale_diag_set(reterr, "cannot read schema version: %s", sqlite3_errmsg(s->db));
        return HALE_ESTORE;
    }
    if (version > latest) {
        hale_diag_set(reterr, "database schema version %d is newer than this hale (%d)", version,
                      latest);
        return HALE_ESCHEMA;
    }
    s->schema_version = version;
    if (s->read_only)
        return 0;
    for (; version < latest; version++) {
        r = exec_sql(s, "BEGIN IMMEDIATE", reterr);
        if (r < 0)
            return r;
        snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", version + 1);
        r = exec_sql(s, migrations[version], reterr);
        if (r == 0)
            r = exec_sql(s, sql, reterr);
        if (r == 0)
            r = exec_sql(s, "COMMIT", reterr);
        if (r < 0) {
            hale_diag_prefix(reterr, "migration failed");
            (void)exec_sql(s, "ROLLBACK", NULL);
            return r;
        }
        s->schema_version = version + 1;
    }
    return 0;
}
