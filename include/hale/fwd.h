/* include/hale/fwd.h - forward declarations only, for headers that need just a pointer. */
#pragma once

typedef struct hale_config hale_config;
typedef struct hale_store hale_store;
typedef struct hale_http_server hale_http_server;
typedef struct hale_http_req hale_http_req;
typedef struct hale_loop hale_loop;
typedef struct hale_audit hale_audit;
typedef struct hale_diag hale_diag;
