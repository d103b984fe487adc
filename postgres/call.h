/* The PostgreSQL side's view of one sandboxd.python() call: a plain C interface over the client
 * library (call.cc), so that the extension's PostgreSQL code (sandboxd_pg.c) holds no C++ object
 * and may ereport (longjmp) anywhere, and no C++ exception ever reaches PostgreSQL. Every
 * function here is noexcept; failures come back as a status and a message kept in the call.
 * Column types are sandboxd::ColumnType's codes (client_lib/include/sandboxd/types.h). */
#ifndef SANDBOXD_POSTGRES_CALL_H
#define SANDBOXD_POSTGRES_CALL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum SbxType {
  SBX_BOOL = 1,
  SBX_INT = 2,
  SBX_LONG = 3,
  SBX_REAL = 4,
  SBX_DECIMAL = 5,
  SBX_STRING = 6,
  SBX_DATETIME = 7,
  SBX_TIMESPAN = 8,
  SBX_GUID = 9,
  SBX_DYNAMIC = 10
};

/* sandboxd::ErrorCode's values; SBX_OK is 0. */
enum SbxCode {
  SBX_OK = 0,
  SBX_BAD_REQUEST = 1,
  SBX_SCHEMA_MISMATCH = 2,
  SBX_SCRIPT_ERROR = 3,
  SBX_TIMEOUT = 4,
  SBX_MEMORY_LIMIT = 5,
  SBX_OUTPUT_LIMIT = 6,
  SBX_POLICY_VIOLATION = 7,
  SBX_ARTIFACT_DENIED = 8,
  SBX_ARTIFACT_FAILED = 9,
  SBX_IMAGE_NOT_FOUND = 10,
  SBX_OVERLOADED = 11,
  SBX_INTERNAL = 12,
  SBX_UNAVAILABLE = 13
};

typedef struct SbxCall SbxCall;

/* NULL when out of memory. */
SbxCall* sbx_call_new(void);
/* Cancels a call in flight (the daemon ends its sandbox when the connection closes), waits for
 * its thread, and frees everything. NULL is ignored. */
void sbx_call_free(SbxCall* call);

/* The input table: its columns first, then sbx_call_begin_rows, then cells column by column of
 * each row. Appends never fail here; a wrong cell is reported by sbx_call_start. */
int sbx_call_add_input_column(SbxCall* call, const char* name, int type);
int sbx_call_begin_rows(SbxCall* call);
void sbx_call_append_null(SbxCall* call, int column);
void sbx_call_append_bool(SbxCall* call, int column, int value);
void sbx_call_append_int(SbxCall* call, int column, int32_t value);
void sbx_call_append_long(SbxCall* call, int column, int64_t value);
void sbx_call_append_real(SbxCall* call, int column, double value);
void sbx_call_append_ticks(SbxCall* call, int column, int64_t ticks);
void sbx_call_append_text(SbxCall* call, int column, const char* text, size_t length);

/* Parses `typeof(...)` against the input columns: the result columns, read with
 * sbx_call_output_*. A status other than SBX_OK leaves its message in sbx_call_message. */
int sbx_call_resolve_schema(SbxCall* call, const char* output_schema);
int sbx_call_output_count(const SbxCall* call);
const char* sbx_call_output_name(const SbxCall* call, int column);
int sbx_call_output_type(const SbxCall* call, int column);
/* Kusto's name of a type ("long"). */
const char* sbx_type_name(int type);

struct SbxLimits {
  uint64_t memory_mb;  /* 0: the node's default */
  uint64_t timeout_ms; /* 0: the node's default */
};

/* Finishes the input table, connects to the daemon and sends the request from a thread of its
 * own. On SBX_OK, *wake_fd is a descriptor that turns readable when the answer is in (wait on it
 * with the latch); sbx_call_done tells. `image` NULL or empty: the node's default. */
int sbx_call_start(SbxCall* call, const char* socket_path, const char* script,
                   const char* params_json, const char* artifacts_json, const char* image,
                   struct SbxLimits limits, int* wake_fd);
int sbx_call_done(SbxCall* call);
/* Closes the connection of a call in flight and waits for its thread. */
void sbx_call_cancel(SbxCall* call);

/* After sbx_call_done: SBX_OK with a result table, or the error's code. */
int sbx_call_status(const SbxCall* call);
/* The error's (or a failed step's) message; "" when none. */
const char* sbx_call_message(const SbxCall* call);
/* What the script wrote to stderr before it failed; "" when none. */
const char* sbx_call_stderr(const SbxCall* call);
uint64_t sbx_call_retry_after_ms(const SbxCall* call);
/* The name of a status code ("TIMEOUT"), the client library's own; "INTERNAL" for an unknown one.
 */
const char* sbx_code_name(int code);

uint64_t sbx_call_result_rows(const SbxCall* call);
int sbx_call_result_isnull(const SbxCall* call, int column, uint64_t row);
int sbx_call_result_bool(const SbxCall* call, int column, uint64_t row);
int32_t sbx_call_result_int(const SbxCall* call, int column, uint64_t row);
int64_t sbx_call_result_long(const SbxCall* call, int column, uint64_t row);
double sbx_call_result_real(const SbxCall* call, int column, uint64_t row);
int64_t sbx_call_result_ticks(const SbxCall* call, int column, uint64_t row);
/* Text cells (decimal, string, guid, dynamic): not NUL-terminated. */
const char* sbx_call_result_text(const SbxCall* call, int column, uint64_t row, size_t* length);

#ifdef __cplusplus
}
#endif

#endif /* SANDBOXD_POSTGRES_CALL_H */
