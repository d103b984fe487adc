// sandboxctl's CSV reading and writing, its JSON and text output, and `--range`.
#include "csv.h"

#include <gtest/gtest.h>

#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "output.h"
#include "range.h"
#include "table_test_util.h"

namespace sandboxctl {
namespace {

using sandboxd::ColumnSpec;
using sandboxd::ColumnType;
using sandboxd::ErrorCode;
using sandboxd::Table;
using sandboxd::TableBuilder;
using Records = std::vector<std::vector<std::string>>;

Records MustParse(std::string_view text) {
  auto records = ParseCsv(text);
  EXPECT_TRUE(records.ok()) << records.status().message();
  return records.ok() ? records.value() : Records{};
}

TEST(ParseCsvTest, SplitsRecordsAndFields) {
  EXPECT_EQ(MustParse("a,b\n1,2\n"), (Records{{"a", "b"}, {"1", "2"}}));
  EXPECT_EQ(MustParse("a,b\r\n1,2\r\n"), (Records{{"a", "b"}, {"1", "2"}}));
  EXPECT_EQ(MustParse("a,b\n1,2"), (Records{{"a", "b"}, {"1", "2"}}));
  EXPECT_EQ(MustParse("\xEF\xBB\xBF"
                      "a\n1\n"),
            (Records{{"a"}, {"1"}}));
  EXPECT_EQ(MustParse(",\n,x,\n"), (Records{{"", ""}, {"", "x", ""}}));
  EXPECT_EQ(MustParse(""), Records{});
  EXPECT_EQ(MustParse("\n"), (Records{{""}}));
  EXPECT_EQ(MustParse("a\r\n"), (Records{{"a"}}));
  EXPECT_EQ(MustParse("a\rb\n"), (Records{{"a\rb"}}));  // a lone CR is data
}

TEST(ParseCsvTest, QuotedFields) {
  EXPECT_EQ(MustParse("\"a,b\",\"say \"\"hi\"\"\"\n"), (Records{{"a,b", "say \"hi\""}}));
  EXPECT_EQ(MustParse("\"line1\nline2\",x\n"), (Records{{"line1\nline2", "x"}}));
  EXPECT_EQ(MustParse("\"\",\"\"\n"), (Records{{"", ""}}));
  EXPECT_EQ(MustParse("\"a\"\r\n\"b\""), (Records{{"a"}, {"b"}}));
  EXPECT_EQ(MustParse("\"crlf\r\ninside\"\n"), (Records{{"crlf\r\ninside"}}));
}

TEST(ParseCsvTest, ErrorsNameTheLine) {
  auto unclosed = ParseCsv("a\nb\n\"open,\nmore\n");
  ASSERT_FALSE(unclosed.ok());
  EXPECT_EQ(unclosed.status().code(), ErrorCode::kBadRequest);
  EXPECT_NE(unclosed.status().message().find("line 3"), std::string::npos)
      << unclosed.status().message();
  EXPECT_NE(unclosed.status().message().find("not closed"), std::string::npos);

  auto after = ParseCsv("a\n\"x\"y\n");
  ASSERT_FALSE(after.ok());
  EXPECT_NE(after.status().message().find("line 2"), std::string::npos);
  EXPECT_NE(after.status().message().find("after the closing quote"), std::string::npos);

  auto inside = ParseCsv("ab\"c\n");
  ASSERT_FALSE(inside.ok());
  EXPECT_NE(inside.status().message().find("inside an unquoted field"), std::string::npos);
}

TEST(CsvFieldTest, QuotesOnlyWhenNeeded) {
  EXPECT_EQ(CsvField("plain"), "plain");
  EXPECT_EQ(CsvField(""), "");
  EXPECT_EQ(CsvField("a,b"), "\"a,b\"");
  EXPECT_EQ(CsvField("say \"hi\""), "\"say \"\"hi\"\"\"");
  EXPECT_EQ(CsvField("two\nlines"), "\"two\nlines\"");
  EXPECT_EQ(CsvField("cr\r"), "\"cr\r\"");
  EXPECT_EQ(CsvField(" padded"), "\" padded\"");
  for (const std::string value : {"", "x", "a,b", "\"", "\"\"", "a\nb", " x ", "\r\n"}) {
    const Records records = MustParse(CsvField(value) + "," + CsvField(value) + "\n");
    ASSERT_EQ(records.size(), 1U);
    EXPECT_EQ(records[0], (std::vector<std::string>{value, value})) << value;
  }
}

TEST(ReadCsvTableTest, TypedHeaderAndKustoCells) {
  const std::string csv =
      "x:long,name:string,\"['odd, name']:real\",when:datetime,ok:boolean\n"
      "1,alpha,1.5,2024-01-31T12:00:00Z,true\n"
      ",,,,\n"
      "3,\"with, comma\",NaN,,false\n";
  auto table = ReadCsvTable(csv);
  ASSERT_TRUE(table.ok()) << table.status().message();
  const auto& view = table->view();
  ASSERT_EQ(view.column_count(), 5U);
  ASSERT_EQ(view.row_count(), 3U);
  EXPECT_EQ(view.column(2), (ColumnSpec{"odd, name", ColumnType::kReal}));
  EXPECT_EQ(view.column(4).type, ColumnType::kBool);
  EXPECT_EQ(view.GetLong(0, 0), 1);
  EXPECT_TRUE(view.IsNull(0, 1));
  EXPECT_FALSE(view.IsNull(1, 1));  // empty string, not null
  EXPECT_EQ(view.GetText(1, 1), "");
  EXPECT_TRUE(view.IsNull(2, 1));
  EXPECT_TRUE(view.IsNull(3, 1));
  EXPECT_EQ(view.GetText(1, 2), "with, comma");
  EXPECT_TRUE(view.IsNull(3, 2));
  EXPECT_FALSE(view.GetBool(4, 2));
}

TEST(ReadCsvTableTest, SkipsBlankLinesExceptInOneColumnTables) {
  auto several = ReadCsvTable("a:long,b:long\n1,2\n\n3,4\n");
  ASSERT_TRUE(several.ok()) << several.status().message();
  EXPECT_EQ(several->row_count(), 2U);
  auto single = ReadCsvTable("a:long\n1\n\n3\n");
  ASSERT_TRUE(single.ok()) << single.status().message();
  ASSERT_EQ(single->row_count(), 3U);
  EXPECT_TRUE(single->view().IsNull(0, 1));
  auto header_only = ReadCsvTable("a:long,b:string\n");
  ASSERT_TRUE(header_only.ok());
  EXPECT_EQ(header_only->row_count(), 0U);
  EXPECT_EQ(header_only->column_count(), 2U);
}

TEST(ReadCsvTableTest, Errors) {
  struct Case {
    const char* csv;
    const char* says;
  };
  const Case cases[] = {
      {"", "empty"},
      {"x\n1\n", "header cell 'x'"},
      {"x:lng\n1\n", "header cell 'x:lng'"},
      {"x:long,x:int\n1,2\n", "two columns are named 'x'"},
      {"x:long,y:long\n1\n", "record 2 has 1 fields but the header has 2"},
      {"x:long\n1\n12a\n", "record 3"},
      {"x:long\n1\n12a\n", "'x'"},
      {"x:int\n3000000000\n", "not a valid int"},
      {"d:dynamic\n{oops}\n", "not a valid dynamic"},
      {"x:long\n\"1\n", "not closed"},
  };
  for (const Case& c : cases) {
    auto table = ReadCsvTable(c.csv);
    ASSERT_FALSE(table.ok()) << c.csv;
    EXPECT_EQ(table.status().code(), ErrorCode::kBadRequest);
    EXPECT_NE(table.status().message().find(c.says), std::string::npos)
        << c.csv << " -> " << table.status().message();
  }
}

TEST(WriteCsvTableTest, RoundTripsEveryTypeExactly) {
  const std::string original = sandboxd::test::AllTypesTable();
  auto view = sandboxd::TableView::Open(sandboxd::test::AsBytes(original), {});
  ASSERT_TRUE(view.ok());
  std::ostringstream out;
  WriteCsvTable(*view, out);
  const std::string csv = out.str();
  EXPECT_EQ(csv.substr(0, csv.find('\n')),
            "b:bool,i:int,l:long,r:real,dec:decimal,s:string,t:datetime,ts:timespan,g:guid,dyn:"
            "dynamic");
  auto back = ReadCsvTable(csv);
  ASSERT_TRUE(back.ok()) << back.status().message() << "\n" << csv;
  // The string column's one null comes back as an empty string: CSV has no null string.
  const auto& v = back->view();
  for (std::uint64_t r = 0; r < view->row_count(); ++r) {
    for (std::size_t c = 0; c < view->column_count(); ++c) {
      EXPECT_EQ(v.FormatCell(c, r), view->FormatCell(c, r)) << c << "," << r;
      if (c != 5) {
        EXPECT_EQ(v.IsNull(c, r), view->IsNull(c, r)) << c << "," << r;
      }
    }
  }
}

TEST(WriteCsvTableTest, QuotesOddNamesAndCells) {
  TableBuilder builder({{"odd, name", ColumnType::kString}, {"x", ColumnType::kLong}});
  builder.AppendText(0, "a \"quoted\" value");
  builder.AppendNull(1);
  auto table = builder.FinishTable();
  ASSERT_TRUE(table.ok());
  std::ostringstream out;
  WriteCsvTable(table->view(), out);
  EXPECT_EQ(out.str(), "\"['odd, name']:string\",x:long\n\"a \"\"quoted\"\" value\",\n");
  auto back = ReadCsvTable(out.str());
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(back->buffer(), table->buffer());
}

TEST(OutputTest, JsonArrayOfObjects) {
  TableBuilder builder({{"x", ColumnType::kLong},
                        {"r", ColumnType::kReal},
                        {"s", ColumnType::kString},
                        {"d", ColumnType::kDynamic},
                        {"t", ColumnType::kDateTime},
                        {"m", ColumnType::kDecimal},
                        {"b", ColumnType::kBool}});
  builder.AppendLong(0, 9223372036854775807LL);
  builder.AppendReal(1, 0.5);
  builder.AppendText(2, "quote \" and \n newline");
  builder.AppendText(3, "{\"big\": 18446744073709551617}");
  builder.AppendTicks(4, 0);
  builder.AppendText(5, "1.10");
  builder.AppendBool(6, true);
  builder.AppendNull(0);
  builder.AppendReal(1, std::numeric_limits<double>::quiet_NaN());
  builder.AppendText(2, "");
  builder.AppendNull(3);
  builder.AppendNull(4);
  builder.AppendNull(5);
  builder.AppendNull(6);
  auto table = builder.FinishTable();
  ASSERT_TRUE(table.ok()) << table.status().message();
  std::ostringstream out;
  WriteJsonTable(table->view(), out);
  EXPECT_EQ(out.str(),
            "[\n"
            "  {\"x\": 9223372036854775807, \"r\": 0.5, \"s\": \"quote \\\" and \\n newline\", "
            "\"d\": {\"big\": 18446744073709551617}, \"t\": \"1970-01-01T00:00:00Z\", \"m\": "
            "\"1.10\", \"b\": true},\n"
            "  {\"x\": null, \"r\": \"NaN\", \"s\": \"\", \"d\": null, \"t\": null, \"m\": null, "
            "\"b\": null}\n"
            "]\n");
  const auto parsed = nlohmann::json::parse(out.str());
  ASSERT_TRUE(parsed.is_array());

  std::ostringstream empty;
  WriteJsonTable(Table().view(), empty);
  EXPECT_EQ(empty.str(), "[]\n");
}

TEST(OutputTest, AlignedText) {
  TableBuilder builder({{"x", ColumnType::kLong}, {"name", ColumnType::kString}});
  builder.AppendLong(0, 1);
  builder.AppendText(1, "h\xC3\xA9");
  builder.AppendLong(0, 100);
  builder.AppendText(1, "two\nlines");
  auto table = builder.FinishTable();
  ASSERT_TRUE(table.ok());
  std::ostringstream out;
  WriteTextTable(table->view(), out);
  EXPECT_EQ(out.str(),
            "x    name\n"
            "---  ----------\n"
            "  1  h\xC3\xA9\n"
            "100  two\\nlines\n");
}

TEST(RangeTest, LongRangeLikeKusto) {
  auto table = MakeRangeTable("x from 1 to 360 step 1");
  ASSERT_TRUE(table.ok()) << table.status().message();
  ASSERT_EQ(table->column_count(), 1U);
  EXPECT_EQ(table->view().column(0), (ColumnSpec{"x", ColumnType::kLong}));
  ASSERT_EQ(table->row_count(), 360U);
  EXPECT_EQ(table->view().GetLong(0, 0), 1);
  EXPECT_EQ(table->view().GetLong(0, 359), 360);

  auto stepped = MakeRangeTable("range ID from 1 to 10 step 3");
  ASSERT_TRUE(stepped.ok());
  ASSERT_EQ(stepped->row_count(), 4U);
  EXPECT_EQ(stepped->view().GetLong(0, 3), 10);

  auto down = MakeRangeTable("x from 5 to -5 step -5");
  ASSERT_TRUE(down.ok());
  ASSERT_EQ(down->row_count(), 3U);
  EXPECT_EQ(down->view().GetLong(0, 2), -5);

  auto away = MakeRangeTable("x from 5 to 1 step 1");
  ASSERT_TRUE(away.ok());
  EXPECT_EQ(away->row_count(), 0U);
  EXPECT_EQ(away->column_count(), 1U);

  auto extremes = MakeRangeTable("x from 9223372036854775800 to 9223372036854775807 step 7");
  ASSERT_TRUE(extremes.ok()) << extremes.status().message();
  ASSERT_EQ(extremes->row_count(), 2U);
  EXPECT_EQ(extremes->view().GetLong(0, 1), 9223372036854775807LL);
}

TEST(RangeTest, RealDateTimeAndTimeSpanRanges) {
  auto real = MakeRangeTable("x from 0 to 1 step 0.25");
  ASSERT_TRUE(real.ok()) << real.status().message();
  EXPECT_EQ(real->view().column(0).type, ColumnType::kReal);
  ASSERT_EQ(real->row_count(), 5U);
  EXPECT_EQ(real->view().GetReal(0, 4), 1.0);

  auto tenth = MakeRangeTable("x from 0 to 1 step 0.1");
  ASSERT_TRUE(tenth.ok());
  EXPECT_EQ(tenth->row_count(), 11U);

  auto mixed = MakeRangeTable("x from 1 to 2.0 step 1");
  ASSERT_TRUE(mixed.ok());
  EXPECT_EQ(mixed->view().column(0).type, ColumnType::kReal);

  auto dates = MakeRangeTable("t from datetime(2024-01-01) to datetime(2024-01-02) step 6h");
  ASSERT_TRUE(dates.ok()) << dates.status().message();
  EXPECT_EQ(dates->view().column(0).type, ColumnType::kDateTime);
  ASSERT_EQ(dates->row_count(), 5U);
  EXPECT_EQ(dates->view().FormatCell(0, 4), "2024-01-02T00:00:00Z");

  auto spans = MakeRangeTable("d from 0s to 1m step 15s");
  ASSERT_TRUE(spans.ok()) << spans.status().message();
  EXPECT_EQ(spans->view().column(0).type, ColumnType::kTimeSpan);
  EXPECT_EQ(spans->row_count(), 5U);

  auto bracketed = MakeRangeTable("['my x'] from 1 to 2 step 1");
  ASSERT_TRUE(bracketed.ok()) << bracketed.status().message();
  EXPECT_EQ(bracketed->view().column(0).name, "my x");
}

TEST(RangeTest, Errors) {
  for (const char* bad :
       {"", "x", "x from 1 to 10", "x from 1 to 10 step 0", "x from 1 to 10 step 0.0",
        "x from a to 10 step 1", "x from 1 to 10 step 1 extra", "x form 1 to 10 step 1",
        "1x from 1 to 2 step 1", "x from 99999999999999999999 to 1 step 1",
        "t from datetime(2024-01-01) to 5 step 1h", "x from 1 to 10 step 1h"}) {
    auto table = MakeRangeTable(bad);
    EXPECT_FALSE(table.ok()) << bad;
    if (!table.ok()) {
      EXPECT_EQ(table.status().code(), ErrorCode::kBadRequest);
    }
  }
  auto huge = MakeRangeTable("x from 1 to 1000 step 1", 999);
  ASSERT_FALSE(huge.ok());
  EXPECT_NE(huge.status().message().find("more than 999 rows"), std::string::npos);
  EXPECT_TRUE(MakeRangeTable("x from 1 to 1000 step 1", 1000).ok());
  EXPECT_FALSE(MakeRangeTable("x from 0 to 1e300 step 1e-300").ok());
}

}  // namespace
}  // namespace sandboxctl
