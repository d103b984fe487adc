#include "sandboxd/table.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "table_test_util.h"

namespace sandboxd {
namespace {

using test::AllTypesTable;
using test::AsBytes;
using test::GetU32;
using test::GetU64;

constexpr std::int64_t kLongMax = std::numeric_limits<std::int64_t>::max();
constexpr std::int64_t kLongMin = std::numeric_limits<std::int64_t>::min();

TEST(TableBuilderTest, EveryTypeRoundTripsWithNullsAndExtremes) {
  const std::string buffer = AllTypesTable();
  auto view = TableView::Open(AsBytes(buffer), TableLimits{});
  ASSERT_TRUE(view.ok()) << view.status().message();
  ASSERT_EQ(view->row_count(), 4U);
  ASSERT_EQ(view->column_count(), 10U);
  EXPECT_EQ(view->column(0), (ColumnSpec{"b", ColumnType::kBool}));
  EXPECT_EQ(view->column(9), (ColumnSpec{"dyn", ColumnType::kDynamic}));

  // bool
  EXPECT_TRUE(view->GetBool(0, 0));
  EXPECT_FALSE(view->GetBool(0, 1));
  EXPECT_TRUE(view->IsNull(0, 2));
  EXPECT_FALSE(view->IsNull(0, 3));
  // int
  EXPECT_EQ(view->GetInt(1, 0), std::numeric_limits<std::int32_t>::min());
  EXPECT_EQ(view->GetInt(1, 1), std::numeric_limits<std::int32_t>::max());
  EXPECT_TRUE(view->IsNull(1, 2));
  EXPECT_EQ(view->GetInt(1, 3), 0);
  // long: the value beside a null must not be disturbed by it
  EXPECT_EQ(view->GetLong(2, 0), 9223372036854775707LL);
  EXPECT_TRUE(view->IsNull(2, 1));
  EXPECT_EQ(view->GetLong(2, 1), 0);
  EXPECT_EQ(view->GetLong(2, 2), kLongMin);
  EXPECT_EQ(view->GetLong(2, 3), kLongMax);
  // real
  EXPECT_TRUE(std::isnan(view->GetReal(3, 0)));
  EXPECT_EQ(view->GetReal(3, 1), std::numeric_limits<double>::infinity());
  EXPECT_EQ(view->GetReal(3, 2), -std::numeric_limits<double>::infinity());
  EXPECT_TRUE(std::signbit(view->GetReal(3, 3)));
  // decimal
  EXPECT_EQ(view->GetText(4, 0), "-12345678901234567890.123456789");
  EXPECT_EQ(view->GetText(4, 1), "NaN");
  EXPECT_TRUE(view->IsNull(4, 2));
  EXPECT_EQ(view->GetText(4, 3), "1e-10");
  // string: empty is a value, not null
  EXPECT_EQ(view->GetText(5, 0), "h\xC3\xA9llo \xF0\x9F\x8C\x8D");
  EXPECT_EQ(view->GetText(5, 1), "");
  EXPECT_FALSE(view->IsNull(5, 1));
  EXPECT_TRUE(view->IsNull(5, 2));
  EXPECT_EQ(view->GetText(5, 3), std::string("a,\"b\"\n\tc"));
  // datetime
  EXPECT_EQ(view->GetTicks(6, 0), kMinDateTimeTicks);
  EXPECT_EQ(view->GetTicks(6, 1), kMaxDateTimeTicks);
  EXPECT_TRUE(view->IsNull(6, 2));
  EXPECT_EQ(view->GetTicks(6, 3), 0);
  // timespan
  EXPECT_EQ(view->GetTicks(7, 0), -1);
  EXPECT_EQ(view->GetTicks(7, 1), kLongMin);
  EXPECT_EQ(view->GetTicks(7, 2), kLongMax);
  EXPECT_TRUE(view->IsNull(7, 3));
  // guid: canonicalized on the way in
  EXPECT_EQ(view->GetText(8, 0), "0f8fad5b-d9cb-469f-a165-70867728950e");
  EXPECT_TRUE(view->IsNull(8, 1));
  // dynamic
  EXPECT_EQ(view->GetText(9, 0), R"({"a":[1,2,{"b":null}]})");
  EXPECT_EQ(view->GetText(9, 1), "null");
  EXPECT_FALSE(view->IsNull(9, 1));
  EXPECT_TRUE(view->IsNull(9, 2));
  EXPECT_EQ(view->GetText(9, 3), "18446744073709551616");
}

TEST(TableBuilderTest, LaysOutTheExactSbxtBytes) {
  TableBuilder builder({{"x", ColumnType::kLong}, {"s", ColumnType::kString}});
  builder.AppendLong(0, 7);
  builder.AppendNull(0);
  builder.AppendText(1, "ab");
  builder.AppendText(1, "c");
  auto buffer = builder.Finish();
  ASSERT_TRUE(buffer.ok()) << buffer.status().message();
  const std::string& b = *buffer;

  std::string expected(32 + 2 * 64, '\0');
  auto put64 = [&expected](std::size_t at, std::uint64_t v) {
    for (int i = 0; i < 8; ++i) expected[at + i] = static_cast<char>((v >> (8 * i)) & 0xFF);
  };
  auto put32 = [&expected](std::size_t at, std::uint32_t v) {
    for (int i = 0; i < 4; ++i) expected[at + i] = static_cast<char>((v >> (8 * i)) & 0xFF);
  };
  std::memcpy(expected.data(), "SBXTBL01", 8);
  put64(8, 2);
  put32(16, 2);
  // Column x: name at 160, validity at 168 (1 byte), values at 176 (16 bytes).
  put64(32, 160);
  put32(40, 1);
  expected[44] = 3;
  put64(48, 168);
  put64(56, 1);
  put64(64, 176);
  put64(72, 16);
  // Column s: name at 192, no validity, offsets at 200 (24 bytes), data at 224 (3 bytes).
  put64(96, 192);
  put32(104, 1);
  expected[108] = 6;
  put64(128, 200);
  put64(136, 24);
  put64(144, 224);
  put64(152, 3);
  expected.resize(232, '\0');
  expected[160] = 'x';
  expected[168] = 0x01;
  expected[176] = 7;
  expected[192] = 's';
  expected[208] = 2;
  expected[216] = 3;
  expected[224] = 'a';
  expected[225] = 'b';
  expected[226] = 'c';
  put64(24, 232);
  EXPECT_EQ(b.size(), expected.size());
  EXPECT_EQ(b, expected);
}

TEST(TableBuilderTest, RegionsAreAlignedNullSlotsZeroAndValidityOnlyWithNulls) {
  const std::string buffer = AllTypesTable();
  EXPECT_EQ(buffer.size() % 8, 0U);
  EXPECT_EQ(GetU64(buffer, 24), buffer.size());
  const std::uint32_t columns = GetU32(buffer, 16);
  for (std::uint32_t c = 0; c < columns; ++c) {
    const std::size_t entry = 32 + 64 * c;
    for (std::size_t field : {0, 16, 32, 48}) {
      EXPECT_EQ(GetU64(buffer, entry + field) % 8, 0U) << "column " << c << " field " << field;
    }
  }
  // Column 0 (bool) has a null: validity present, slot of row 2 zero.
  EXPECT_EQ(GetU64(buffer, 32 + 24), 1U);
  const std::uint64_t bool_values = GetU64(buffer, 32 + 32);
  EXPECT_EQ(buffer[bool_values + 2], '\0');
  EXPECT_EQ(static_cast<unsigned char>(buffer[GetU64(buffer, 32 + 16)]), 0b1011U);

  TableBuilder no_nulls({{"x", ColumnType::kLong}});
  no_nulls.AppendLong(0, 1);
  auto plain = no_nulls.Finish();
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(GetU64(*plain, 32 + 16), 0U);  // validity_offset
  EXPECT_EQ(GetU64(*plain, 32 + 24), 0U);  // validity_length
  EXPECT_EQ(GetU64(*plain, 32 + 48), 0U);  // data_offset of a fixed column
  EXPECT_EQ(GetU64(*plain, 32 + 56), 0U);
}

TEST(TableBuilderTest, ZeroColumnsAndZeroRows) {
  auto empty = TableBuilder({}).Finish();
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->size(), 32U);
  auto view = TableView::Open(AsBytes(*empty), TableLimits{});
  ASSERT_TRUE(view.ok());
  EXPECT_EQ(view->row_count(), 0U);
  EXPECT_EQ(view->column_count(), 0U);

  TableBuilder no_rows({{"s", ColumnType::kString}, {"x", ColumnType::kLong}});
  auto table = no_rows.FinishTable();
  ASSERT_TRUE(table.ok()) << table.status().message();
  EXPECT_EQ(table->row_count(), 0U);
  EXPECT_EQ(table->column_count(), 2U);
}

TEST(TableBuilderTest, ManyRowsAcrossBitmapBytes) {
  TableBuilder builder({{"x", ColumnType::kInt}, {"s", ColumnType::kString}});
  for (int i = 0; i < 1001; ++i) {
    if (i % 7 == 3) {
      builder.AppendNull(0);
      builder.AppendNull(1);
    } else {
      builder.AppendInt(0, i);
      builder.AppendText(1, std::to_string(i));
    }
  }
  auto table = builder.FinishTable();
  ASSERT_TRUE(table.ok()) << table.status().message();
  const TableView& view = table->view();
  ASSERT_EQ(view.row_count(), 1001U);
  for (int i = 0; i < 1001; ++i) {
    const bool null = i % 7 == 3;
    ASSERT_EQ(view.IsNull(0, i), null) << i;
    ASSERT_EQ(view.IsNull(1, i), null) << i;
    if (!null) {
      ASSERT_EQ(view.GetInt(0, i), i);
      ASSERT_EQ(view.GetText(1, i), std::to_string(i));
    }
  }
}

TEST(TableBuilderTest, MisuseIsReportedByFinishNamingTheColumn) {
  {
    TableBuilder builder({{"x", ColumnType::kLong}});
    builder.AppendInt(0, 1);
    auto result = builder.Finish();
    ASSERT_FALSE(result.ok());
    EXPECT_EQ(result.status().code(), ErrorCode::kBadRequest);
    EXPECT_NE(result.status().message().find("'x'"), std::string::npos);
  }
  {
    TableBuilder builder({{"a", ColumnType::kLong}, {"b", ColumnType::kLong}});
    builder.AppendLong(0, 1);
    auto result = builder.Finish();
    ASSERT_FALSE(result.ok());
    EXPECT_NE(result.status().message().find("'b' has 0 cells"), std::string::npos)
        << result.status().message();
  }
  {
    TableBuilder builder({{"a", ColumnType::kLong}});
    builder.AppendLong(3, 1);
    EXPECT_FALSE(builder.Finish().ok());
  }
  {
    TableBuilder builder({{"g", ColumnType::kGuid}});
    builder.AppendText(0, "not-a-guid");
    EXPECT_FALSE(builder.Finish().ok());
  }
  {
    TableBuilder builder({{"s", ColumnType::kString}});
    builder.AppendText(0, "\xC0\xAF");
    EXPECT_FALSE(builder.Finish().ok());
  }
  {
    TableBuilder builder({{"d", ColumnType::kDynamic}});
    builder.AppendText(0, "{nope}");
    EXPECT_FALSE(builder.Finish().ok());
  }
  {
    TableBuilder builder({{"m", ColumnType::kDecimal}});
    builder.AppendText(0, "1.");
    EXPECT_FALSE(builder.Finish().ok());
  }
  {
    TableBuilder builder({{"t", ColumnType::kDateTime}});
    builder.AppendTicks(0, kMaxDateTimeTicks + 1);
    EXPECT_FALSE(builder.Finish().ok());
  }
  {
    TableBuilder builder({{"a", ColumnType::kLong}, {"a", ColumnType::kInt}});
    EXPECT_FALSE(builder.Finish().ok());
  }
  {
    TableBuilder builder({{"", ColumnType::kLong}});
    EXPECT_FALSE(builder.Finish().ok());
  }
}

TEST(AppendParsedTest, ReadsKustoTextForms) {
  TableBuilder builder({{"b", ColumnType::kBool},
                        {"i", ColumnType::kInt},
                        {"l", ColumnType::kLong},
                        {"r", ColumnType::kReal},
                        {"m", ColumnType::kDecimal},
                        {"s", ColumnType::kString},
                        {"t", ColumnType::kDateTime},
                        {"ts", ColumnType::kTimeSpan},
                        {"g", ColumnType::kGuid},
                        {"d", ColumnType::kDynamic}});
  const std::vector<std::vector<std::string>> rows = {
      {"true", "-2147483648", "9223372036854775807", "NaN", "+1.5", "", "2024-01-31T12:00:00Z",
       "-1.02:03:04", "0F8FAD5B-D9CB-469F-A165-70867728950E", "[1, 2]"},
      {"FALSE", "2147483647", "-9223372036854775808", "-Infinity", ".5", " padded ", "0001-01-01",
       "00:00:00.0000001", "{0f8fad5b-d9cb-469f-a165-70867728950e}", "\"str\""},
      {"1", " 42 ", "+7", "1e308", "5.", "x", " 9999-12-31T23:59:59.9999999Z ", "1.5h",
       "0f8fad5bd9cb469fa16570867728950e", " {\"a\": 1} "},
      {"", "", "", "", "", "", "", "", "", ""},
      {"0", "0", "0", "Infinity", "nan", "null", "1970-01-01", "-00:00:01", "", "null"},
  };
  for (const auto& row : rows) {
    for (std::size_t c = 0; c < row.size(); ++c) {
      Status st = builder.AppendParsed(c, row[c]);
      ASSERT_TRUE(st.ok()) << "column " << c << " '" << row[c] << "': " << st.message();
    }
  }
  auto table = builder.FinishTable();
  ASSERT_TRUE(table.ok()) << table.status().message();
  const TableView& v = table->view();
  EXPECT_TRUE(v.GetBool(0, 0));
  EXPECT_FALSE(v.GetBool(0, 1));
  EXPECT_TRUE(v.GetBool(0, 2));
  EXPECT_FALSE(v.GetBool(0, 4));
  EXPECT_EQ(v.GetInt(1, 0), std::numeric_limits<std::int32_t>::min());
  EXPECT_EQ(v.GetInt(1, 2), 42);
  EXPECT_EQ(v.GetLong(2, 1), kLongMin);
  EXPECT_EQ(v.GetLong(2, 2), 7);
  EXPECT_TRUE(std::isnan(v.GetReal(3, 0)));
  EXPECT_EQ(v.GetReal(3, 1), -std::numeric_limits<double>::infinity());
  EXPECT_EQ(v.GetReal(3, 2), 1e308);
  EXPECT_EQ(v.GetText(4, 0), "1.5");
  EXPECT_EQ(v.GetText(4, 1), "0.5");
  EXPECT_EQ(v.GetText(4, 2), "5");
  EXPECT_EQ(v.GetText(4, 4), "NaN");
  EXPECT_EQ(v.GetText(5, 0), "");
  EXPECT_EQ(v.GetText(5, 1), " padded ");  // strings are taken as they are
  EXPECT_EQ(v.GetTicks(6, 1), kMinDateTimeTicks);
  EXPECT_EQ(v.GetTicks(6, 2), kMaxDateTimeTicks);
  EXPECT_EQ(v.GetTicks(7, 1), 1);
  EXPECT_EQ(v.GetTicks(7, 2), 54'000'000'000LL);
  EXPECT_EQ(v.GetText(8, 0), "0f8fad5b-d9cb-469f-a165-70867728950e");
  EXPECT_EQ(v.GetText(8, 1), "0f8fad5b-d9cb-469f-a165-70867728950e");
  EXPECT_EQ(v.GetText(8, 2), "0f8fad5b-d9cb-469f-a165-70867728950e");
  EXPECT_EQ(v.GetText(9, 2), "{\"a\": 1}");
  EXPECT_EQ(v.GetText(9, 4), "null");
  // Row 3: empty is null everywhere but in the string column.
  for (std::size_t c = 0; c < 10; ++c) EXPECT_EQ(v.IsNull(c, 3), c != 5) << c;
  EXPECT_TRUE(v.IsNull(8, 4));
}

TEST(AppendParsedTest, RejectsBadCellsNamingColumnAndText) {
  struct Case {
    ColumnType type;
    const char* text;
  };
  const Case cases[] = {
      {ColumnType::kBool, "yes"},
      {ColumnType::kBool, "2"},
      {ColumnType::kInt, "2147483648"},
      {ColumnType::kInt, "-2147483649"},
      {ColumnType::kInt, "1.0"},
      {ColumnType::kLong, "9223372036854775808"},
      {ColumnType::kLong, "12a"},
      {ColumnType::kLong, "0x10"},
      {ColumnType::kReal, "1e400"},
      {ColumnType::kReal, "abc"},
      {ColumnType::kReal, "nan(123)"},
      {ColumnType::kReal, "--1"},
      {ColumnType::kDecimal, "1.2.3"},
      {ColumnType::kDecimal, "e5"},
      {ColumnType::kDateTime, "2024-02-30"},
      {ColumnType::kDateTime, "10000-01-01"},
      {ColumnType::kTimeSpan, "25:00:00"},
      {ColumnType::kGuid, "1234"},
      {ColumnType::kDynamic, "{'a': 1}"},
      {ColumnType::kDynamic, "[1,"},
      {ColumnType::kDynamic, "abc"},
      {ColumnType::kString, "\xED\xA0\x80"},
  };
  for (const Case& c : cases) {
    TableBuilder builder({{"col", c.type}});
    Status st = builder.AppendParsed(0, c.text);
    ASSERT_FALSE(st.ok()) << ColumnTypeName(c.type) << " '" << c.text << "'";
    EXPECT_EQ(st.code(), ErrorCode::kBadRequest);
    EXPECT_NE(st.message().find("'col'"), std::string::npos) << st.message();
    EXPECT_EQ(builder.cell_count(0), 0U) << "a rejected cell must not be appended";
  }
  TableBuilder builder({{"x", ColumnType::kLong}});
  EXPECT_FALSE(builder.AppendParsed(1, "1").ok());
}

// Every cell, written in its text form and read back, gives back the same bytes.
TEST(FormatCellTest, TextFormsRoundTripExactly) {
  const std::string original = AllTypesTable();
  auto view = TableView::Open(AsBytes(original), TableLimits{});
  ASSERT_TRUE(view.ok());
  TableBuilder builder(view->columns());
  for (std::uint64_t r = 0; r < view->row_count(); ++r) {
    for (std::size_t c = 0; c < view->column_count(); ++c) {
      const std::string text = view->FormatCell(c, r);
      if (view->IsNull(c, r) && view->column(c).type == ColumnType::kString) {
        builder.AppendNull(c);  // the one null that has no text form
        continue;
      }
      Status st = builder.AppendParsed(c, text);
      ASSERT_TRUE(st.ok()) << st.message();
    }
  }
  auto again = builder.Finish();
  ASSERT_TRUE(again.ok()) << again.status().message();
  EXPECT_EQ(*again, original);
}

TEST(FormatCellTest, KustoTextForms) {
  const std::string buffer = AllTypesTable();
  auto view = TableView::Open(AsBytes(buffer), TableLimits{});
  ASSERT_TRUE(view.ok());
  EXPECT_EQ(view->FormatCell(0, 0), "true");
  EXPECT_EQ(view->FormatCell(0, 1), "false");
  EXPECT_EQ(view->FormatCell(0, 2), "");
  EXPECT_EQ(view->FormatCell(2, 0), "9223372036854775707");
  EXPECT_EQ(view->FormatCell(2, 1), "");
  EXPECT_EQ(view->FormatCell(3, 0), "NaN");
  EXPECT_EQ(view->FormatCell(3, 1), "Infinity");
  EXPECT_EQ(view->FormatCell(3, 2), "-Infinity");
  EXPECT_EQ(view->FormatCell(3, 3), "-0");
  EXPECT_EQ(view->FormatCell(6, 0), "0001-01-01T00:00:00Z");
  EXPECT_EQ(view->FormatCell(6, 1), "9999-12-31T23:59:59.9999999Z");
  EXPECT_EQ(view->FormatCell(7, 0), "-00:00:00.0000001");
  EXPECT_EQ(view->FormatCell(9, 0), R"({"a":[1,2,{"b":null}]})");
}

TEST(FormatCellTest, RealsUseTheShortestTextThatRoundTrips) {
  const std::vector<double> values = {0.1,
                                      1.0 / 3,
                                      1e21,
                                      123456789.125,
                                      std::numeric_limits<double>::denorm_min(),
                                      std::numeric_limits<double>::min(),
                                      std::numeric_limits<double>::max(),
                                      -2.5e-300,
                                      100};
  TableBuilder builder({{"r", ColumnType::kReal}});
  for (double v : values) builder.AppendReal(0, v);
  auto table = builder.FinishTable();
  ASSERT_TRUE(table.ok());
  EXPECT_EQ(table->view().FormatCell(0, 0), "0.1");
  EXPECT_EQ(table->view().FormatCell(0, 8), "100");
  for (std::size_t i = 0; i < values.size(); ++i) {
    TableBuilder back({{"r", ColumnType::kReal}});
    ASSERT_TRUE(back.AppendParsed(0, table->view().FormatCell(0, i)).ok());
    auto one = back.FinishTable();
    ASSERT_TRUE(one.ok());
    EXPECT_EQ(one->view().GetReal(0, 0), values[i]) << table->view().FormatCell(0, i);
  }
}

TEST(TableTest, DefaultIsTheEmptyTable) {
  Table table;
  EXPECT_EQ(table.row_count(), 0U);
  EXPECT_EQ(table.column_count(), 0U);
  EXPECT_EQ(table.buffer().size(), 32U);
  EXPECT_TRUE(ValidateTable(AsBytes(table.buffer()), TableLimits{}).ok());
}

TEST(TableTest, MovesRebindTheView) {
  auto made = Table::FromBuffer(AllTypesTable());
  ASSERT_TRUE(made.ok()) << made.status().message();
  Table first = std::move(made.value());
  EXPECT_EQ(first.view().buffer().data(),
            reinterpret_cast<const std::byte*>(first.buffer().data()));
  EXPECT_EQ(first.view().GetLong(2, 0), 9223372036854775707LL);

  Table second(std::move(first));
  EXPECT_EQ(second.view().buffer().data(),
            reinterpret_cast<const std::byte*>(second.buffer().data()));
  EXPECT_EQ(second.view().GetText(5, 0), "h\xC3\xA9llo \xF0\x9F\x8C\x8D");
  EXPECT_TRUE(first.buffer().empty());  // NOLINT(bugprone-use-after-move)
  EXPECT_EQ(first.column_count(), 0U);  // NOLINT(bugprone-use-after-move)

  Table third;
  third = std::move(second);
  EXPECT_EQ(third.view().buffer().data(),
            reinterpret_cast<const std::byte*>(third.buffer().data()));
  EXPECT_EQ(third.view().GetTicks(6, 1), kMaxDateTimeTicks);
  EXPECT_EQ(third.columns().size(), 10U);

  std::vector<Table> many;
  for (int i = 0; i < 20; ++i) many.push_back(*Table::FromBuffer(AllTypesTable()));
  for (const Table& t : many) {
    EXPECT_EQ(t.view().buffer().data(), reinterpret_cast<const std::byte*>(t.buffer().data()));
    EXPECT_EQ(t.view().GetLong(2, 3), kLongMax);
  }
}

TEST(TableTest, FromBufferValidatesAgainstLimits) {
  auto bad = Table::FromBuffer("not a table");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), ErrorCode::kBadRequest);
  TableLimits tight;
  tight.max_rows = 3;
  EXPECT_FALSE(Table::FromBuffer(AllTypesTable(), tight).ok());
}

TEST(ConcatTablesTest, JoinsRowsOfTablesWithTheSameColumns) {
  std::vector<Table> parts;
  parts.push_back(*Table::FromBuffer(AllTypesTable()));
  parts.push_back(*Table::FromBuffer(AllTypesTable()));
  auto joined = ConcatTables(parts);
  ASSERT_TRUE(joined.ok()) << joined.status().message();
  EXPECT_EQ(joined->row_count(), 8U);
  for (std::uint64_t r = 0; r < 4; ++r) {
    for (std::size_t c = 0; c < 10; ++c) {
      EXPECT_EQ(joined->view().FormatCell(c, r + 4), parts[0].view().FormatCell(c, r));
      EXPECT_EQ(joined->view().IsNull(c, r + 4), parts[0].view().IsNull(c, r));
    }
  }
  auto none = ConcatTables({});
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->column_count(), 0U);

  TableBuilder other({{"x", ColumnType::kLong}});
  parts.push_back(*other.FinishTable());
  auto mismatch = ConcatTables(parts);
  ASSERT_FALSE(mismatch.ok());
  EXPECT_EQ(mismatch.status().code(), ErrorCode::kBadRequest);
}

}  // namespace
}  // namespace sandboxd
