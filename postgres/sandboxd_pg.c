/* The PostgreSQL side of the sandboxd extension: sandboxd.python(output_schema, script,
 * input_query, params, artifacts, image), Kusto's `evaluate python()` over a query's rows.
 *
 * The input query runs through SPI (as the calling role, read-only) and its rows become the
 * input table; the script runs in a sandbox of the sandboxd daemon reached over its Unix socket
 * (the GUC sandboxd.socket); the result table comes back as the function's rows, checked first
 * against the `AS t(...)` the caller declared.
 *
 * This file is C and holds no C++ object: the client library is reached through call.h, whose
 * one heap object (SbxCall) is freed by a memory context callback, so an ereport anywhere here
 * (an error, a cancel in CHECK_FOR_INTERRUPTS) unwinds cleanly and ends the call in flight. */
/* clang-format off: postgres.h comes first, before any other header. */
#include "postgres.h"
/* clang-format on */

#include "call.h"
#include "common/int.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "storage/latch.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

PG_MODULE_MAGIC;

PG_FUNCTION_INFO_V1(sandboxd_python);

void _PG_init(void);  // NOLINT(bugprone-reserved-identifier): PostgreSQL's name for it

static char* sandboxd_socket = NULL;
static int sandboxd_memory_mb = 0;
static int sandboxd_timeout_ms = 0;
static int sandboxd_max_memory_mb = 0;
static int sandboxd_max_timeout_ms = 0;

/* Unix epoch to PostgreSQL's epoch (2000-01-01), in microseconds. */
#define SBX_PG_EPOCH_OFFSET_US INT64CONST(946684800000000)
#define SBX_TICKS_PER_US 10
/* Kusto's datetime range (sandboxd/types.h): 0001-01-01 .. 9999-12-31, in 100-ns ticks. */
#define SBX_MIN_DATETIME_TICKS INT64CONST(-621355968000000000)
#define SBX_MAX_DATETIME_TICKS INT64CONST(2534023007999999999)
/* How many input rows a cursor fetch brings at a time. */
#define SBX_FETCH_ROWS 1000

void _PG_init(void) {  // NOLINT(bugprone-reserved-identifier)
  DefineCustomStringVariable(
      "sandboxd.socket", "The sandboxd daemon's Unix socket.",
      "Only a superuser may change it: the script's request goes wherever it points.",
      &sandboxd_socket, "/run/sandboxd/sandboxd.sock", PGC_SUSET, 0, NULL, NULL, NULL);
  DefineCustomIntVariable("sandboxd.memory_mb",
                          "Memory limit of a script's sandbox in MiB (0: the daemon's default).",
                          "Capped by sandboxd.max_memory_mb.", &sandboxd_memory_mb, 0, 0, INT_MAX,
                          PGC_USERSET, 0, NULL, NULL, NULL);
  DefineCustomIntVariable("sandboxd.timeout_ms",
                          "Wall-clock limit of a script in ms (0: the daemon's default).",
                          "Capped by sandboxd.max_timeout_ms.", &sandboxd_timeout_ms, 0, 0, INT_MAX,
                          PGC_USERSET, 0, NULL, NULL, NULL);
  DefineCustomIntVariable("sandboxd.max_memory_mb",
                          "Most memory in MiB a session may ask for (0: no cap here).",
                          "Set by a superuser; sandboxd.memory_mb above it, or 0, gets this.",
                          &sandboxd_max_memory_mb, 0, 0, INT_MAX, PGC_SUSET, 0, NULL, NULL, NULL);
  DefineCustomIntVariable("sandboxd.max_timeout_ms",
                          "Longest time limit in ms a session may ask for (0: no cap here).",
                          "Set by a superuser; sandboxd.timeout_ms above it, or 0, gets this.",
                          &sandboxd_max_timeout_ms, 0, 0, INT_MAX, PGC_SUSET, 0, NULL, NULL, NULL);
  MarkGUCPrefixReserved("sandboxd");
}

/* The limit a request asks for: the session's, never above the superuser's cap. */
static uint64 capped_limit(int asked, int cap) {
  if (cap > 0 && (asked == 0 || asked > cap)) return (uint64)cap;
  return (uint64)asked;
}

/* The Kusto type an input column of PostgreSQL type `type` becomes, or 0 when none does. */
static int input_type_of(Oid type) {
  switch (type) {
    case BOOLOID:
      return SBX_BOOL;
    case INT2OID:
    case INT4OID:
      return SBX_INT;
    case INT8OID:
      return SBX_LONG;
    case FLOAT4OID:
    case FLOAT8OID:
      return SBX_REAL;
    case NUMERICOID:
      return SBX_DECIMAL;
    case TEXTOID:
    case VARCHAROID:
    case BPCHAROID:
      return SBX_STRING;
    case TIMESTAMPOID:
    case TIMESTAMPTZOID:
      return SBX_DATETIME;
    case INTERVALOID:
      return SBX_TIMESPAN;
    case UUIDOID:
      return SBX_GUID;
    case JSONOID:
    case JSONBOID:
      return SBX_DYNAMIC;
    default:
      return 0;
  }
}

/* Whether a result column of Kusto type `kusto` may be returned as PostgreSQL type `type`. */
static bool output_type_fits(int kusto, Oid type) {
  switch (kusto) {
    case SBX_BOOL:
      return type == BOOLOID;
    case SBX_INT:
      return type == INT4OID || type == INT8OID;
    case SBX_LONG:
      return type == INT8OID;
    case SBX_REAL:
      return type == FLOAT8OID || type == FLOAT4OID;
    case SBX_DECIMAL:
      return type == NUMERICOID;
    case SBX_STRING:
      return type == TEXTOID || type == VARCHAROID || type == BPCHAROID;
    case SBX_DATETIME:
      return type == TIMESTAMPTZOID || type == TIMESTAMPOID;
    case SBX_TIMESPAN:
      return type == INTERVALOID;
    case SBX_GUID:
      return type == UUIDOID;
    case SBX_DYNAMIC:
      return type == JSONBOID || type == JSONOID;
    default:
      return false;
  }
}

static int sqlstate_of(int code) {
  switch (code) {
    case SBX_BAD_REQUEST:
    case SBX_SCHEMA_MISMATCH:
      return ERRCODE_INVALID_PARAMETER_VALUE;
    case SBX_SCRIPT_ERROR:
    case SBX_ARTIFACT_FAILED:
      return ERRCODE_EXTERNAL_ROUTINE_EXCEPTION;
    case SBX_TIMEOUT:
      return ERRCODE_QUERY_CANCELED;
    case SBX_MEMORY_LIMIT:
      return ERRCODE_OUT_OF_MEMORY;
    case SBX_OUTPUT_LIMIT:
      return ERRCODE_PROGRAM_LIMIT_EXCEEDED;
    case SBX_POLICY_VIOLATION:
    case SBX_ARTIFACT_DENIED:
      return ERRCODE_INSUFFICIENT_PRIVILEGE;
    case SBX_IMAGE_NOT_FOUND:
      return ERRCODE_UNDEFINED_OBJECT;
    case SBX_OVERLOADED:
      return ERRCODE_INSUFFICIENT_RESOURCES;
    case SBX_UNAVAILABLE:
      return ERRCODE_SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION;
    default:
      return ERRCODE_INTERNAL_ERROR;
  }
}

/* Reports a failed call as a PostgreSQL error (the call itself is freed with the statement's
 * memory, by free_call_callback): "sandboxd CODE: message" with the message's last
 * line (a traceback's exception) in the message and the whole of a multi-line message (the
 * traceback) and what the script wrote to stderr in DETAIL. */
static void report_call_error(SbxCall* call) {
  const int code = sbx_call_status(call);
  const char* message = sbx_call_message(call);
  const char* script_stderr = sbx_call_stderr(call);
  const uint64 retry_after_ms = sbx_call_retry_after_ms(call);
  char* text = pstrdup(message);
  char* headline = text;
  StringInfoData detail;
  int length = (int)strlen(text);

  while (length > 0 && text[length - 1] == '\n') text[--length] = '\0';
  initStringInfo(&detail);
  if (strchr(text, '\n') != NULL) {
    /* The daemon's SCRIPT_ERROR is the exception's line, then the traceback ending in it. */
    char* first_end = strchr(text, '\n');
    char* last = strrchr(text, '\n');
    headline = last + 1;
    if ((size_t)(first_end - text) == strlen(headline) &&
        strncmp(text, headline, strlen(headline)) == 0)
      appendStringInfoString(&detail, first_end + 1);
    else
      appendStringInfoString(&detail, text);
  }
  if (script_stderr[0] != '\0') {
    if (detail.len > 0) appendStringInfoString(&detail, "\n");
    appendStringInfo(&detail, "stderr:\n%s", script_stderr);
  }
  ereport(ERROR,
          (errcode(sqlstate_of(code)), errmsg("sandboxd %s: %s", sbx_code_name(code), headline),
           detail.len > 0 ? errdetail_internal("%s", detail.data) : 0,
           retry_after_ms > 0 ? errhint("Retry after %llu ms.", (unsigned long long)retry_after_ms)
                              : 0));
}

/* Frees the call when its memory context goes (the statement ends, or is aborted by an error or
 * a cancel): a call still in flight is cancelled, which ends its sandbox. */
static void free_call_callback(void* arg) { sbx_call_free(*(SbxCall**)arg); }

/* Text in the server's encoding as UTF-8 (palloc'd or the same pointer). */
static const char* to_utf8(const char* text, int length) {
  if (GetDatabaseEncoding() == PG_UTF8) return text;
  return pg_server_to_any(text, length, PG_UTF8);
}

static void append_text_cell(SbxCall* call, int column, const char* text) {
  const char* utf8 = to_utf8(text, (int)strlen(text));
  sbx_call_append_text(call, column, utf8, strlen(utf8));
}

static int64 timestamp_to_ticks(Timestamp value, const char* column) {
  int64 unix_us, ticks;
  if (TIMESTAMP_NOT_FINITE(value) || pg_add_s64_overflow(value, SBX_PG_EPOCH_OFFSET_US, &unix_us) ||
      pg_mul_s64_overflow(unix_us, SBX_TICKS_PER_US, &ticks) || ticks < SBX_MIN_DATETIME_TICKS ||
      ticks > SBX_MAX_DATETIME_TICKS)
    ereport(ERROR, (errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
                    errmsg("sandboxd: column \"%s\" holds a timestamp outside Kusto's datetime "
                           "range (0001-01-01 .. 9999-12-31)",
                           column)));
  return ticks;
}

/* A month counts 30 days (DAYS_PER_MONTH, as justify_days does): Kusto's timespan has no
 * months. */
static int64 interval_to_ticks(const Interval* value, const char* column) {
  int64 us, days_us, months_us, ticks;
  if (pg_mul_s64_overflow((int64)value->day, USECS_PER_DAY, &days_us) ||
      pg_mul_s64_overflow((int64)value->month, DAYS_PER_MONTH * USECS_PER_DAY, &months_us) ||
      pg_add_s64_overflow(value->time, days_us, &us) || pg_add_s64_overflow(us, months_us, &us) ||
      pg_mul_s64_overflow(us, SBX_TICKS_PER_US, &ticks))
    ereport(ERROR, (errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
                    errmsg("sandboxd: column \"%s\" holds an interval too long for Kusto's "
                           "timespan",
                           column)));
  return ticks;
}

static void append_cell(SbxCall* call, int column, Oid type, Datum value, const char* name) {
  switch (type) {
    case BOOLOID:
      sbx_call_append_bool(call, column, DatumGetBool(value));
      break;
    case INT2OID:
      sbx_call_append_int(call, column, DatumGetInt16(value));
      break;
    case INT4OID:
      sbx_call_append_int(call, column, DatumGetInt32(value));
      break;
    case INT8OID:
      sbx_call_append_long(call, column, DatumGetInt64(value));
      break;
    case FLOAT4OID:
      sbx_call_append_real(call, column, DatumGetFloat4(value));
      break;
    case FLOAT8OID:
      sbx_call_append_real(call, column, DatumGetFloat8(value));
      break;
    case TIMESTAMPOID:
    case TIMESTAMPTZOID:
      sbx_call_append_ticks(call, column, timestamp_to_ticks(DatumGetTimestamp(value), name));
      break;
    case INTERVALOID:
      sbx_call_append_ticks(call, column, interval_to_ticks(DatumGetIntervalP(value), name));
      break;
    case TEXTOID:
    case VARCHAROID:
    case BPCHAROID: {
      text* t = DatumGetTextPP(value);
      const char* utf8 = to_utf8(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
      sbx_call_append_text(call, column, utf8,
                           utf8 == VARDATA_ANY(t) ? VARSIZE_ANY_EXHDR(t) : strlen(utf8));
      break;
    }
    default: {
      /* numeric, uuid, json, jsonb: their text forms are Kusto's decimal, guid and dynamic. */
      Oid output;
      bool varlena;
      getTypeOutputInfo(type, &output, &varlena);
      append_text_cell(call, column, OidOutputFunctionCall(output, value));
      break;
    }
  }
}

/* Runs `input_query` read-only through SPI and appends its rows to the call's input table. */
static void read_input(SbxCall* call, const char* input_query) {
  SPIPlanPtr plan;
  Portal portal;
  TupleDesc desc;
  int columns = 0, c;
  Oid* types = NULL;
  bool first = true;

  SPI_connect();
  plan = SPI_prepare(input_query, 0, NULL);
  if (plan == NULL)
    ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                    errmsg("sandboxd: cannot prepare the input query: %s",
                           SPI_result_code_string(SPI_result))));
  if (!SPI_is_cursor_plan(plan))
    ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                    errmsg("sandboxd: the input query must return rows (a SELECT)")));
  portal = SPI_cursor_open(NULL, plan, NULL, NULL, true);
  for (;;) {
    uint64 row;
    SPI_cursor_fetch(portal, true, SBX_FETCH_ROWS);
    desc = SPI_tuptable->tupdesc;
    if (first) {
      first = false;
      columns = desc->natts;
      types = palloc(sizeof(Oid) * (columns > 0 ? columns : 1));
      for (c = 0; c < columns; ++c) {
        Form_pg_attribute attribute = TupleDescAttr(desc, c);
        const int kusto = input_type_of(attribute->atttypid);
        if (kusto == 0)
          ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
                          errmsg("sandboxd: input column \"%s\" has type %s, which has no Kusto "
                                 "type",
                                 NameStr(attribute->attname), format_type_be(attribute->atttypid)),
                          errhint("Cast it in the input query, e.g. to text.")));
        types[c] = attribute->atttypid;
        if (sbx_call_add_input_column(call, NameStr(attribute->attname), kusto) != SBX_OK)
          report_call_error(call);
      }
      if (sbx_call_begin_rows(call) != SBX_OK) report_call_error(call);
    }
    if (SPI_processed == 0) break;
    for (row = 0; row < SPI_processed; ++row) {
      HeapTuple tuple = SPI_tuptable->vals[row];
      for (c = 0; c < columns; ++c) {
        bool isnull;
        Datum value = SPI_getbinval(tuple, desc, c + 1, &isnull);
        if (isnull)
          sbx_call_append_null(call, c);
        else
          append_cell(call, c, types[c], value, NameStr(TupleDescAttr(desc, c)->attname));
      }
      CHECK_FOR_INTERRUPTS();
    }
    SPI_freetuptable(SPI_tuptable);
  }
  SPI_cursor_close(portal);
  SPI_finish();
}

/* The declared `AS t(...)` must be the typeof's columns: same count, names and fitting types. */
static void check_declared_columns(SbxCall* call, TupleDesc declared) {
  const int count = sbx_call_output_count(call);
  int c;
  if (declared->natts != count) {
    StringInfoData expected;
    initStringInfo(&expected);
    for (c = 0; c < count; ++c)
      appendStringInfo(&expected, "%s%s:%s", c > 0 ? ", " : "", sbx_call_output_name(call, c),
                       sbx_type_name(sbx_call_output_type(call, c)));
    ereport(ERROR, (errcode(ERRCODE_DATATYPE_MISMATCH),
                    errmsg("sandboxd: AS t(...) declares %d columns, the output schema has %d",
                           declared->natts, count),
                    errdetail("The output schema's columns: %s.", expected.data)));
  }
  for (c = 0; c < count; ++c) {
    Form_pg_attribute attribute = TupleDescAttr(declared, c);
    const char* name = sbx_call_output_name(call, c);
    const int kusto = sbx_call_output_type(call, c);
    if (strcmp(NameStr(attribute->attname), name) != 0)
      ereport(ERROR, (errcode(ERRCODE_DATATYPE_MISMATCH),
                      errmsg("sandboxd: column %d of AS t(...) is \"%s\", the output schema's is "
                             "\"%s\"",
                             c + 1, NameStr(attribute->attname), name),
                      errhint("Quote the name in AS t(...) to keep its case.")));
    if (!output_type_fits(kusto, attribute->atttypid))
      ereport(ERROR, (errcode(ERRCODE_DATATYPE_MISMATCH),
                      errmsg("sandboxd: column \"%s\" is declared %s, but the output schema "
                             "makes it %s",
                             name, format_type_be(attribute->atttypid), sbx_type_name(kusto)),
                      errhint("See the extension's type table for the types %s may be.",
                              sbx_type_name(kusto))));
  }
}

static Datum text_input(const char* text, size_t length, Form_pg_attribute attribute) {
  Oid input, ioparam;
  char* cstring;
  if (memchr(text, '\0', length) != NULL)
    ereport(ERROR, (errcode(ERRCODE_UNTRANSLATABLE_CHARACTER),
                    errmsg("sandboxd: column \"%s\" holds a NUL character, which PostgreSQL text "
                           "cannot hold",
                           NameStr(attribute->attname))));
  cstring = pg_any_to_server(pnstrdup(text, length), (int)length, PG_UTF8);
  getTypeInputInfo(attribute->atttypid, &input, &ioparam);
  return OidInputFunctionCall(input, cstring, ioparam, attribute->atttypmod);
}

static Datum result_cell(SbxCall* call, int column, uint64 row, Form_pg_attribute attribute) {
  const Oid type = attribute->atttypid;
  switch (sbx_call_output_type(call, column)) {
    case SBX_BOOL:
      return BoolGetDatum(sbx_call_result_bool(call, column, row) != 0);
    case SBX_INT:
      /* The two are the same Datum where int8 is passed by value (64-bit), not elsewhere. */
      if (type == INT8OID) return Int64GetDatum(sbx_call_result_int(call, column, row));
      return Int32GetDatum(sbx_call_result_int(call, column, row));
    case SBX_LONG:
      return Int64GetDatum(sbx_call_result_long(call, column, row));
    case SBX_REAL:
      return type == FLOAT4OID ? Float4GetDatum((float4)sbx_call_result_real(call, column, row))
                               : Float8GetDatum(sbx_call_result_real(call, column, row));
    case SBX_DATETIME: {
      const int64 ticks = sbx_call_result_ticks(call, column, row);
      /* Floor division: 100-ns ticks to microseconds, toward the past. */
      const int64 us = ticks / SBX_TICKS_PER_US - (ticks % SBX_TICKS_PER_US < 0 ? 1 : 0);
      return TimestampGetDatum(us - SBX_PG_EPOCH_OFFSET_US);
    }
    case SBX_TIMESPAN: {
      Interval* interval = palloc0(sizeof(Interval));
      const int64 us = sbx_call_result_ticks(call, column, row) / SBX_TICKS_PER_US;
      interval->day = (int32)(us / USECS_PER_DAY);
      interval->time = us % USECS_PER_DAY;
      return IntervalPGetDatum(interval);
    }
    default: {
      size_t length;
      const char* text = sbx_call_result_text(call, column, row, &length);
      return text_input(text, length, attribute);
    }
  }
}

Datum sandboxd_python(PG_FUNCTION_ARGS) {
  ReturnSetInfo* rsinfo = (ReturnSetInfo*)fcinfo->resultinfo;
  MemoryContext per_query, previous;
  MemoryContextCallback* callback;
  SbxCall** holder;
  SbxCall* call;
  TupleDesc declared;
  Tuplestorestate* store;
  struct SbxLimits limits;
  char* output_schema;
  char* script;
  char* input_query;
  char* params;
  char* artifacts;
  char* image;
  int wake_fd = -1;
  uint64 rows, row;
  int columns, c;

  if (rsinfo == NULL || !IsA(rsinfo, ReturnSetInfo) ||
      (rsinfo->allowedModes & SFRM_Materialize) == 0 || rsinfo->expectedDesc == NULL)
    ereport(ERROR,
            (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
             errmsg("sandboxd.python() must be called in FROM with AS t(column type, ...)")));
  if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
    ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
                    errmsg("sandboxd.python(): output_schema, script and input_query may not be "
                           "NULL")));
  output_schema = text_to_cstring(PG_GETARG_TEXT_PP(0));
  script = text_to_cstring(PG_GETARG_TEXT_PP(1));
  input_query = text_to_cstring(PG_GETARG_TEXT_PP(2));
  params = PG_ARGISNULL(3) ? pstrdup("{}")
                           : DatumGetCString(DirectFunctionCall1(jsonb_out, PG_GETARG_DATUM(3)));
  artifacts = PG_ARGISNULL(4) ? pstrdup("{}")
                              : DatumGetCString(DirectFunctionCall1(jsonb_out, PG_GETARG_DATUM(4)));
  image = PG_ARGISNULL(5) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(5));

  /* The call lives as long as the statement's per-query context, and goes with it however the
   * statement ends. */
  per_query = rsinfo->econtext->ecxt_per_query_memory;
  holder = MemoryContextAllocZero(per_query, sizeof(SbxCall*));
  callback = MemoryContextAllocZero(per_query, sizeof(MemoryContextCallback));
  call = sbx_call_new();
  if (call == NULL) ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
  *holder = call;
  callback->func = free_call_callback;
  callback->arg = holder;
  MemoryContextRegisterResetCallback(per_query, callback);

  read_input(call, input_query);
  if (sbx_call_resolve_schema(call, output_schema) != SBX_OK) report_call_error(call);
  declared = rsinfo->expectedDesc;
  check_declared_columns(call, declared);

  limits.memory_mb = capped_limit(sandboxd_memory_mb, sandboxd_max_memory_mb);
  limits.timeout_ms = capped_limit(sandboxd_timeout_ms, sandboxd_max_timeout_ms);
  if (sbx_call_start(call, sandboxd_socket, script, params, artifacts, image, limits, &wake_fd) !=
      SBX_OK)
    report_call_error(call);
  /* Wait for the answer on the latch. A cancel or statement_timeout interrupts the wait: the
   * call is cancelled right there (the connection closed, so the daemon ends the sandbox) before
   * the error goes on, rather than whenever the aborted statement's memory goes. */
  PG_TRY();
  {
    while (!sbx_call_done(call)) {
      (void)WaitLatchOrSocket(MyLatch, WL_LATCH_SET | WL_SOCKET_READABLE | WL_EXIT_ON_PM_DEATH,
                              wake_fd, -1L, PG_WAIT_EXTENSION);
      ResetLatch(MyLatch);
      CHECK_FOR_INTERRUPTS();
    }
  }
  PG_CATCH();
  {
    sbx_call_cancel(call);
    PG_RE_THROW();
  }
  PG_END_TRY();
  sbx_call_cancel(call); /* joins the finished thread */
  if (sbx_call_status(call) != SBX_OK) report_call_error(call);

  previous = MemoryContextSwitchTo(per_query);
  store = tuplestore_begin_heap(true, false, work_mem);
  declared = CreateTupleDescCopy(declared);
  MemoryContextSwitchTo(previous);
  rows = sbx_call_result_rows(call);
  columns = declared->natts;
  {
    Datum* values = palloc(sizeof(Datum) * (columns > 0 ? columns : 1));
    bool* nulls = palloc(sizeof(bool) * (columns > 0 ? columns : 1));
    MemoryContext row_context =
        AllocSetContextCreate(CurrentMemoryContext, "sandboxd result row", ALLOCSET_DEFAULT_SIZES);
    for (row = 0; row < rows; ++row) {
      MemoryContext outer = MemoryContextSwitchTo(row_context);
      for (c = 0; c < columns; ++c) {
        nulls[c] = sbx_call_result_isnull(call, c, row) != 0;
        values[c] = nulls[c] ? (Datum)0 : result_cell(call, c, row, TupleDescAttr(declared, c));
      }
      MemoryContextSwitchTo(outer);
      tuplestore_putvalues(store, declared, values, nulls); /* copies into the store's context */
      MemoryContextReset(row_context);
      CHECK_FOR_INTERRUPTS();
    }
    MemoryContextDelete(row_context);
  }
  *holder = NULL;
  sbx_call_free(call);

  rsinfo->returnMode = SFRM_Materialize;
  rsinfo->setResult = store;
  rsinfo->setDesc = declared;
  return (Datum)0;
}
