// TableView::Open against hostile buffers: each rule of proto/TABLE_FORMAT.md broken on its own.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <limits>
#include <random>
#include <string>

#include "sandboxd/json_limits.h"
#include "sandboxd/table.h"
#include "table_test_util.h"

namespace sandboxd {
namespace {

using namespace test;  // NOLINT(google-build-using-namespace): helpers for crafting buffers

constexpr std::uint64_t kU64Max = std::numeric_limits<std::uint64_t>::max();

// Column indices of AllTypesTable().
constexpr std::size_t kBool = 0, kInt = 1, kLong = 2, kDec = 4, kString = 5, kDate = 6, kGuid = 8,
                      kDyn = 9;

Status Check(const std::string& buffer, const TableLimits& limits = {}) {
  return TableView::Open(AsBytes(buffer), limits).status();
}

// Expects rejection with a message containing every one of `needles`.
void ExpectRejected(const std::string& buffer, std::initializer_list<const char*> needles,
                    const TableLimits& limits = {}) {
  const Status status = Check(buffer, limits);
  ASSERT_FALSE(status.ok()) << "accepted a buffer breaking: " << *needles.begin();
  EXPECT_EQ(status.code(), ErrorCode::kBadRequest);
  for (const char* needle : needles) {
    EXPECT_NE(status.message().find(needle), std::string::npos)
        << "message '" << status.message() << "' lacks '" << needle << "'";
  }
}

// Start of row `row`'s bytes in variable column `c`.
std::uint64_t Offset(const std::string& b, std::size_t c, std::uint64_t row) {
  return GetU64(b, Get(b, c, kValuesOffset) + 8 * row);
}
void SetOffset(std::string& b, std::size_t c, std::uint64_t row, std::uint64_t value) {
  PutU64(b, Get(b, c, kValuesOffset) + 8 * row, value);
}
char& CellByte(std::string& b, std::size_t c, std::uint64_t row, std::uint64_t i) {
  return b.at(Get(b, c, kDataOffset) + Offset(b, c, row) + i);
}

// A table of one column of `type` holding the bytes of `text` (built as a string column of as
// many placeholder bytes, then overwritten and retyped), for values the builder would refuse.
std::string RetypedText(ColumnType type, const std::string& text) {
  TableBuilder builder({{"v", ColumnType::kString}});
  builder.AppendText(0, std::string(text.size(), 'x'));
  std::string b = *builder.Finish();
  b.replace(Get(b, 0, kDataOffset), text.size(), text);
  b.at(Entry(0) + kType) = static_cast<char>(type);
  return b;
}

TEST(ValidatorTest, AcceptsWhatTheBuilderMakes) {
  const std::string b = AllTypesTable();
  ASSERT_FALSE(b.empty());
  EXPECT_TRUE(Check(b).ok()) << Check(b).message();
  EXPECT_TRUE(ValidateTable(AsBytes(b), TableLimits{}).ok());
}

TEST(ValidatorTest, RejectsEveryTruncation) {
  const std::string b = AllTypesTable();
  for (std::size_t n = 0; n < b.size(); ++n) {
    ASSERT_FALSE(Check(b.substr(0, n)).ok()) << n;
  }
  ExpectRejected(b.substr(0, 31), {"shorter than the 32-byte header"});
  ExpectRejected(b.substr(0, b.size() - 8), {"total size"});
}

TEST(ValidatorTest, Header) {
  const std::string good = AllTypesTable();
  std::string b = good;
  b[7] = '2';
  ExpectRejected(b, {"magic"});

  b = good;
  b[20] = 1;
  ExpectRejected(b, {"reserved"});

  b = good;
  PutU64(b, 24, b.size() + 8);
  ExpectRejected(b, {"total size field says"});

  b = good + std::string(8, '\0');  // trailing bytes the size field does not cover
  ExpectRejected(b, {"total size field says"});

  b = good;
  PutU64(b, 24, b.size() - 8);
  ExpectRejected(b, {"total size"});
}

TEST(ValidatorTest, Limits) {
  const std::string b = AllTypesTable();
  TableLimits limits;
  limits.max_bytes = b.size() - 1;
  ExpectRejected(b, {"over the limit"}, limits);
  limits = {};
  limits.max_rows = 3;
  ExpectRejected(b, {"row count 4"}, limits);
  limits = {};
  limits.max_columns = 9;
  ExpectRejected(b, {"column count 10"}, limits);
  limits = {};
  limits.max_cell_bytes = 4;
  ExpectRejected(b, {"column 4 ('dec')", "cell limit"}, limits);
}

TEST(ValidatorTest, HugeCountsDoNotOverflow) {
  std::string b = AllTypesTable();
  TableLimits unlimited;
  unlimited.max_rows = kU64Max;
  unlimited.max_columns = std::numeric_limits<std::uint32_t>::max();
  unlimited.max_bytes = kU64Max;
  unlimited.max_cell_bytes = kU64Max;

  PutU32(b, 16, 0xFFFFFFFFU);
  ExpectRejected(b, {"column directory"}, unlimited);

  // A long column without nulls: rows * 8 wraps around 2^64 to 8, which must not pass as 8.
  TableBuilder one({{"x", ColumnType::kLong}});
  one.AppendLong(0, 1);
  b = *one.Finish();
  PutU64(b, 8, (std::uint64_t{1} << 61) + 1);
  ExpectRejected(b, {"values length", "overflows"}, unlimited);

  // A string column: (rows + 1) * 8 with rows = 2^64 - 1.
  TableBuilder text({{"s", ColumnType::kString}});
  text.AppendText(0, "x");
  b = *text.Finish();
  PutU64(b, 8, kU64Max);
  ExpectRejected(b, {"values length", "overflows"}, unlimited);
  PutU64(b, 8, (std::uint64_t{1} << 61) - 1);  // (rows + 1) * 8 == 2^64 wraps to 0
  ExpectRejected(b, {"values length", "overflows"}, unlimited);

  // Offset + length past 2^64 must not wrap into the buffer.
  b = AllTypesTable();
  Set(b, kLong, kValuesOffset, kU64Max - 7);
  ExpectRejected(b, {"column 2 ('l')", "values region", "runs past the end"});
  b = AllTypesTable();
  Set(b, kString, kDataLength, kU64Max);
  ExpectRejected(b, {"column 5 ('s')", "data region", "runs past the end"});
}

TEST(ValidatorTest, RegionsInBoundsAlignedAndClearOfHeaderAndDirectory) {
  const std::string good = AllTypesTable();
  std::string b = good;
  Set(b, kLong, kValuesOffset, Get(b, kLong, kValuesOffset) + 4);
  ExpectRejected(b, {"column 2 ('l')", "values region", "multiple of 8"});

  b = good;
  Set(b, kBool, kValidityOffset, Get(b, kBool, kValidityOffset) + 1);
  ExpectRejected(b, {"column 0 ('b')", "validity region", "multiple of 8"});

  b = good;
  Set(b, kString, kNameOffset, Get(b, kString, kNameOffset) + 2);
  ExpectRejected(b, {"column 5", "name region", "multiple of 8"});

  b = good;
  Set(b, kLong, kValuesOffset, b.size() - 8);
  ExpectRejected(b, {"values region", "runs past the end"});

  b = good;
  Set(b, kLong, kValuesOffset, b.size() + 8);
  ExpectRejected(b, {"runs past the end"});

  b = good;
  Set(b, kLong, kValuesOffset, 0);
  ExpectRejected(b, {"values region", "overlaps the header"});

  b = good;
  Set(b, kString, kDataOffset, Entry(3));
  ExpectRejected(b, {"data region", "overlaps the header or column directory"});

  b = good;
  Set(b, kInt, kNameOffset, 8);
  ExpectRejected(b, {"column 1", "name region", "overlaps"});
}

TEST(ValidatorTest, DirectoryEntries) {
  const std::string good = AllTypesTable();
  std::string b = good;
  PutU32(b, Entry(kInt) + kNameLength, 0);
  ExpectRejected(b, {"column 1", "name length 0"});

  b = good;
  PutU32(b, Entry(kInt) + kNameLength, 1025);
  ExpectRejected(b, {"column 1", "name length 1025"});

  b = good;
  b.at(Get(b, kInt, kNameOffset)) = '\0';
  ExpectRejected(b, {"column 1", "NUL"});

  b = good;
  b.at(Get(b, kInt, kNameOffset)) = '\xC0';
  ExpectRejected(b, {"column 1", "UTF-8"});

  b = good;
  b.at(Get(b, kInt, kNameOffset)) = 'b';  // now the same as column 0
  ExpectRejected(b, {"column 1 ('b')", "duplicate column name"});

  b = good;
  b.at(Entry(kInt) + kType) = 0;
  ExpectRejected(b, {"column 1 ('i')", "unknown type code 0"});
  b.at(Entry(kInt) + kType) = 11;
  ExpectRejected(b, {"unknown type code 11"});

  b = good;
  b.at(Entry(kInt) + 14) = 1;
  ExpectRejected(b, {"column 1 ('i')", "reserved"});
}

TEST(ValidatorTest, Validity) {
  const std::string good = AllTypesTable();
  std::string b = good;
  Set(b, kBool, kValidityLength, 2);
  ExpectRejected(b, {"column 0 ('b')", "validity length 2"});

  b = good;
  b.at(Get(b, kBool, kValidityOffset)) |= 0x20;  // row 5 of a 4-row table
  ExpectRejected(b, {"column 0 ('b')", "bits past row_count"});
}

TEST(ValidatorTest, ValuesLengths) {
  const std::string good = AllTypesTable();
  std::string b = good;
  Set(b, kLong, kValuesLength, 24);
  ExpectRejected(b, {"column 2 ('l')", "values length 24", "row_count * 8"});

  b = good;
  Set(b, kString, kValuesLength, 32);
  ExpectRejected(b, {"column 5 ('s')", "(row_count + 1) * 8"});

  b = good;
  Set(b, kInt, kDataLength, 8);
  Set(b, kInt, kDataOffset, Get(b, kInt, kValuesOffset));
  ExpectRejected(b, {"column 1 ('i')", "data offset 0 and length 0"});
}

TEST(ValidatorTest, Offsets) {
  const std::string good = AllTypesTable();
  std::string b = good;
  SetOffset(b, kString, 0, 1);
  ExpectRejected(b, {"column 5 ('s')", "offsets[0]"});

  b = good;
  SetOffset(b, kString, 1, Offset(b, kString, 2) + 1);  // row 0 ends after row 1 ends
  ExpectRejected(b, {"column 5 ('s')", "offsets decrease at row 1"});

  b = good;
  SetOffset(b, kString, 1, Get(b, kString, kDataLength) + 1);
  ExpectRejected(b, {"column 5 ('s')", "past the data length"});

  b = good;
  Set(b, kString, kDataLength, Get(b, kString, kDataLength) + 1);
  ExpectRejected(b, {"column 5 ('s')", "offsets[row_count]"});

  b = good;
  SetOffset(b, kString, 4, Offset(b, kString, 4) - 1);
  ExpectRejected(b, {"column 5 ('s')", "offsets[row_count]"});
}

TEST(ValidatorTest, NullSlots) {
  const std::string good = AllTypesTable();
  std::string b = good;
  b.at(Get(b, kLong, kValuesOffset) + 8 + 3) = 1;  // row 1 is null
  ExpectRejected(b, {"column 2 ('l')", "row 1 is null but its value slot is not zero"});

  b = good;
  b.at(Get(b, kBool, kValuesOffset) + 2) = 1;
  ExpectRejected(b, {"column 0 ('b')", "row 2 is null"});

  b = good;
  SetOffset(b, kString, 3, Offset(b, kString, 3) + 1);  // null row 2 takes a byte of row 3
  ExpectRejected(b, {"column 5 ('s')", "row 2 is null but its value is not empty"});
}

TEST(ValidatorTest, FixedWidthValues) {
  const std::string good = AllTypesTable();
  std::string b = good;
  b.at(Get(b, kBool, kValuesOffset)) = 2;
  ExpectRejected(b, {"column 0 ('b')", "neither 0 nor 1"});

  b = good;
  PutU64(b, Get(b, kDate, kValuesOffset), static_cast<std::uint64_t>(kMinDateTimeTicks - 1));
  ExpectRejected(b, {"column 6 ('t')", "row 0", "outside"});

  b = good;
  PutU64(b, Get(b, kDate, kValuesOffset) + 8, static_cast<std::uint64_t>(kMaxDateTimeTicks + 1));
  ExpectRejected(b, {"column 6 ('t')", "row 1", "outside"});
}

TEST(ValidatorTest, StringsMustBeUtf8) {
  const std::string good = AllTypesTable();
  std::string b = good;
  CellByte(b, kString, 0, 0) = '\xFF';
  ExpectRejected(b, {"column 5 ('s')", "row 0", "UTF-8"});

  b = good;
  CellByte(b, kString, 0, 1) = '\xC0';  // "é" (C3 A9) becomes the overlong C0 A9
  ExpectRejected(b, {"column 5 ('s')", "UTF-8"});

  b = good;
  CellByte(b, kString, 0, 7) = '\xED';  // 🌍 (F0 9F 8C 8D) becomes a surrogate ED A0 ...
  CellByte(b, kString, 0, 8) = '\xA0';
  CellByte(b, kString, 0, 9) = '\x80';
  ExpectRejected(b, {"column 5 ('s')", "UTF-8"});

  b = good;
  CellByte(b, kString, 0, 10) = 'x';  // truncated 4-byte sequence
  ExpectRejected(b, {"UTF-8"});

  ExpectRejected(RetypedText(ColumnType::kString, "\xE0\x80\xAF"), {"UTF-8"});
  ExpectRejected(RetypedText(ColumnType::kString, "\xF4\x90\x80\x80"), {"UTF-8"});
}

TEST(ValidatorTest, GuidsMustBeCanonical) {
  const std::string good = AllTypesTable();
  std::string b = good;
  CellByte(b, kGuid, 3, 0) = 'F';
  ExpectRejected(b, {"column 8 ('g')", "row 3", "canonical"});

  b = good;
  CellByte(b, kGuid, 0, 8) = '0';
  ExpectRejected(b, {"column 8 ('g')", "canonical"});

  ExpectRejected(RetypedText(ColumnType::kGuid, "0f8fad5bd9cb469fa16570867728950e"), {"36 bytes"});
  ExpectRejected(RetypedText(ColumnType::kGuid, "{0f8fad5b-d9cb-469f-a165-70867728950e}"),
                 {"36 bytes"});
  EXPECT_TRUE(Check(RetypedText(ColumnType::kGuid, "0f8fad5b-d9cb-469f-a165-70867728950e")).ok());
}

TEST(ValidatorTest, DecimalsMustHaveTheTextForm) {
  const std::string good = AllTypesTable();
  std::string b = good;
  CellByte(b, kDec, 3, 1) = 'x';  // "1e-10" -> "1x-10"
  ExpectRejected(b, {"column 4 ('dec')", "row 3", "decimal"});
  ExpectRejected(RetypedText(ColumnType::kDecimal, std::string(65, '1')), {"longer than 64"});
  ExpectRejected(RetypedText(ColumnType::kDecimal, "+1"), {"decimal"});
  ExpectRejected(RetypedText(ColumnType::kDecimal, "inf"), {"decimal"});
  EXPECT_TRUE(Check(RetypedText(ColumnType::kDecimal, "-1.25E+7")).ok());
}

TEST(ValidatorTest, DynamicMustBeJson) {
  const std::string good = AllTypesTable();
  std::string b = good;
  CellByte(b, kDyn, 0, 0) = '[';
  ExpectRejected(b, {"column 9 ('dyn')", "row 0", "not valid JSON"});
  for (const char* bad : {"", "{", "{'a':1}", "[1,]", "NaN", "Infinity", "1e400", "\"\\ud800\"",
                          "{\"a\":1} x", "tru"}) {
    ExpectRejected(RetypedText(ColumnType::kDynamic, bad), {"dynamic value"});
  }
  ExpectRejected(RetypedText(ColumnType::kDynamic, "\"\xC0\xAF\""), {"UTF-8"});
  for (const char* ok :
       {"null", "true", "1", "-1.5e3", "\"s\"", "[]", "{}", " [1, {\"a\": []}] "}) {
    EXPECT_TRUE(Check(RetypedText(ColumnType::kDynamic, ok)).ok()) << ok;
  }
  // Nesting deep enough to overflow a recursive parser's stack is refused, not parsed.
  const std::string deep = std::string(200000, '[') + std::string(200000, ']');
  ExpectRejected(RetypedText(ColumnType::kDynamic, deep),
                 {"column 0 ('v')", "row 0", "deeper than the limit of 64 levels"});
}

TEST(ValidatorTest, DynamicNestingIsBoundedAtTheSharedLimit) {
  ASSERT_EQ(kMaxJsonDepth, 64);
  auto nested = [](int depth, const char* open, const char* close) {
    std::string text;
    for (int i = 0; i < depth; ++i) text += open;
    text += "1";
    for (int i = 0; i < depth; ++i) text += close;
    return text;
  };
  EXPECT_TRUE(Check(RetypedText(ColumnType::kDynamic, nested(64, "[", "]"))).ok());
  EXPECT_TRUE(Check(RetypedText(ColumnType::kDynamic, nested(64, "{\"a\":", "}"))).ok());
  ExpectRejected(RetypedText(ColumnType::kDynamic, nested(65, "[", "]")),
                 {"row 0", "deeper than the limit of 64"});
  ExpectRejected(RetypedText(ColumnType::kDynamic, nested(65, "{\"a\":", "}")),
                 {"deeper than the limit of 64"});
  // Deep but broken: the depth is what stops the parser, and it says so.
  ExpectRejected(RetypedText(ColumnType::kDynamic, std::string(100000, '[')), {"deeper"});

  EXPECT_EQ(CheckJson("[[[1]]]", 3), JsonCheck::kValid);
  EXPECT_EQ(CheckJson("[[[1]]]", 2), JsonCheck::kTooDeep);
  EXPECT_EQ(CheckJson("[[[1]]", 3), JsonCheck::kInvalid);
  EXPECT_EQ(CheckJson("{\"a\": [1, {\"b\": 2}]} x"), JsonCheck::kInvalid);
  EXPECT_EQ(CheckJson(std::string(1000000, '[') + std::string(1000000, ']')), JsonCheck::kTooDeep);

  // The builder refuses what the validator would.
  TableBuilder builder({{"d", ColumnType::kDynamic}});
  EXPECT_FALSE(builder.AppendParsed(0, nested(65, "[", "]")).ok());
  builder.AppendText(0, nested(65, "[", "]"));
  EXPECT_FALSE(builder.Finish().ok());
}

// `columns` string columns of one row each, all of whose data regions are the same
// `region_bytes` of 'a' (column 0's): what the daemon once spent a minute validating.
std::string SharedRegionTable(std::size_t columns, std::size_t region_bytes) {
  std::vector<ColumnSpec> specs;
  for (std::size_t c = 0; c < columns; ++c)
    specs.push_back({"c" + std::to_string(c), ColumnType::kString});
  TableBuilder builder(specs);
  builder.AppendText(0, std::string(region_bytes, 'a'));
  for (std::size_t c = 1; c < columns; ++c) builder.AppendText(c, "");
  std::string b = *builder.Finish();
  for (std::size_t c = 1; c < columns; ++c) {
    Set(b, c, kDataOffset, Get(b, 0, kDataOffset));
    Set(b, c, kDataLength, region_bytes);
    SetOffset(b, c, 1, region_bytes);
  }
  return b;
}

TEST(ValidatorTest, RegionsMustNotShareBytes) {
  const std::string good = AllTypesTable();
  std::string b = good;
  // Two string columns over one data region.
  Set(b, kDyn, kDataOffset, Get(b, kString, kDataOffset));
  ExpectRejected(b, {"overlaps", "data region", "regions must not share bytes"});

  // A values region inside another column's values.
  b = good;
  Set(b, kLong, kValuesOffset, Get(b, kDate, kValuesOffset));
  ExpectRejected(b, {"column 2 ('l')", "column 6 ('t')", "values region", "overlaps"});

  // A name inside a data region.
  b = good;
  Set(b, kInt, kNameOffset, Get(b, kString, kDataOffset));
  PutU32(b, Entry(kInt) + kNameLength, 1);
  ExpectRejected(b, {"name region", "overlaps"});

  // Partial overlap: a validity bitmap that runs into the next region.
  b = good;
  Set(b, kBool, kValidityOffset, Get(b, kBool, kValuesOffset));
  ExpectRejected(b, {"validity region", "overlaps"});

  // Empty regions own no bytes, wherever they point.
  EXPECT_TRUE(Check(good).ok());
}

TEST(ValidatorTest, ThousandColumnsOverOneThirtyMegabyteRegionAreRefusedAtOnce) {
  const std::string b = SharedRegionTable(1000, 30 << 20);
  const auto start = std::chrono::steady_clock::now();
  const Status status = Check(b);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.code(), ErrorCode::kBadRequest);
  EXPECT_NE(status.message().find("regions must not share bytes"), std::string::npos)
      << status.message();
  // A figure, not an assertion (machines differ); bench/table_bench measures it properly.
  std::printf("validating %zu bytes (1000 columns over one 30 MiB region) took %.4f s\n", b.size(),
              seconds);

  // The same table with one column is valid: the refusal is about sharing, not the size.
  EXPECT_TRUE(Check(SharedRegionTable(1, 30 << 20)).ok());
}

TEST(ValidatorTest, ExpectedColumnsAreCheckedBeforeAnyValue) {
  // Every value of this table is broken (invalid UTF-8), yet the shape is what is reported.
  TableBuilder builder({{"a", ColumnType::kString}, {"b", ColumnType::kString}});
  builder.AppendText(0, "xx");
  builder.AppendText(1, "yy");
  std::string b = *builder.Finish();
  CellByte(b, 0, 0, 0) = '\xff';
  CellByte(b, 1, 0, 0) = '\xff';

  auto open = [&](const std::vector<ColumnSpec>& want) {
    TableView::OpenOptions options;
    options.expected_columns = &want;
    return TableView::Open(AsBytes(b), {}, options).status();
  };
  Status st = open({{"a", ColumnType::kString}});
  EXPECT_EQ(st.code(), ErrorCode::kSchemaMismatch) << st.ToString();
  EXPECT_NE(st.message().find("has 2 columns; the expected schema has 1"), std::string::npos)
      << st.message();
  st = open({{"a", ColumnType::kString}, {"b", ColumnType::kLong}});
  EXPECT_EQ(st.code(), ErrorCode::kSchemaMismatch) << st.ToString();
  EXPECT_NE(st.message().find("column 2 of 2 is 'b:string', expected 'b:long'"), std::string::npos)
      << st.message();
  // The right shape gets as far as the values.
  st = open({{"a", ColumnType::kString}, {"b", ColumnType::kString}});
  EXPECT_EQ(st.code(), ErrorCode::kBadRequest) << st.ToString();
  EXPECT_NE(st.message().find("UTF-8"), std::string::npos) << st.message();
}

// A sandbox names its result's columns: a name with terminal escapes is reported spelled out.
TEST(ValidatorTest, ColumnNamesInSchemaMismatchesAreEscaped) {
  const std::string hostile = "\x1b]0;owned\x07\x1b[2J\u202Ex";
  TableBuilder builder({{hostile, ColumnType::kLong}});
  builder.AppendLong(0, 1);
  const std::string b = *builder.Finish();
  const std::vector<ColumnSpec> want = {{"x", ColumnType::kLong}};
  TableView::OpenOptions options;
  options.expected_columns = &want;
  const Status st = TableView::Open(AsBytes(b), {}, options).status();
  EXPECT_EQ(st.code(), ErrorCode::kSchemaMismatch) << st.ToString();
  EXPECT_NE(st.message().find("is '\\x1b]0;owned\\x07\\x1b[2J\\u{202e}x:long', expected 'x:long'"),
            std::string::npos)
      << st.message();
  EXPECT_EQ(st.message().find('\x1b'), std::string::npos);
  EXPECT_EQ(st.message().find('\x07'), std::string::npos);
}

TEST(ValidatorTest, ACancelledValidationStopsWithTimeout) {
  TableBuilder builder({{"x", ColumnType::kLong}});
  for (int i = 0; i < 100000; ++i) builder.AppendLong(0, i);
  const std::string b = *builder.Finish();
  std::atomic<bool> cancel{false};
  TableView::OpenOptions options;
  options.cancel = &cancel;
  EXPECT_TRUE(TableView::Open(AsBytes(b), {}, options).ok());
  cancel = true;
  const Status st = TableView::Open(AsBytes(b), {}, options).status();
  EXPECT_EQ(st.code(), ErrorCode::kTimeout) << st.ToString();
}

// Random corruption of a valid buffer: Open may accept or reject, but must never read out of
// bounds (run under ASan to see it), and whatever it accepts must be readable.
TEST(ValidatorTest, SurvivesRandomCorruption) {
  const std::string good = AllTypesTable();
  std::mt19937_64 random(1234);
  int accepted = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string b = good;
    const int edits = 1 + static_cast<int>(random() % 4);
    for (int e = 0; e < edits; ++e) {
      const std::size_t at = random() % b.size();
      switch (random() % 3) {
        case 0:
          b[at] = static_cast<char>(random());
          break;
        case 1:
          if (at + 8 <= b.size()) PutU64(b, at & ~std::size_t{7}, random() % (b.size() * 2));
          break;
        default:
          b[at] = static_cast<char>(b[at] ^ (1 << (random() % 8)));
      }
    }
    auto view = TableView::Open(AsBytes(b), TableLimits{});
    if (!view.ok()) continue;
    ++accepted;
    for (std::size_t c = 0; c < view->column_count(); ++c) {
      for (std::uint64_t r = 0; r < view->row_count(); ++r) (void)view->FormatCell(c, r);
    }
  }
  EXPECT_LT(accepted, 20000);
}

}  // namespace
}  // namespace sandboxd
