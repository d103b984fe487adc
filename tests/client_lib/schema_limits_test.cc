// Issue 8, item 5: an output schema wider than a table may be is BAD_REQUEST up front, naming the
// limit and the count, instead of running the script and blaming it.
#include <gtest/gtest.h>

#include <string>

#include "sandboxd/schema.h"
#include "sandboxd/table.h"

namespace sandboxd {
namespace {

std::string Schema(std::size_t columns, bool star = false) {
  std::string out = star ? "typeof(*" : "typeof(";
  for (std::size_t i = 0; i < columns; ++i) {
    if (i != 0 || star) out += ", ";
    out += "c" + std::to_string(i) + ":long";
  }
  return out + ")";
}

TEST(SchemaLimitsTest, TheLimitIsWhatATableMayHold) {
  EXPECT_EQ(kMaxSchemaColumns, TableLimits{}.max_columns);
}

TEST(SchemaLimitsTest, AtTheLimitIsAccepted) {
  auto schema = ParseTypeof(Schema(kMaxSchemaColumns));
  ASSERT_TRUE(schema.ok()) << schema.status().ToString();
  EXPECT_EQ(schema->columns.size(), kMaxSchemaColumns);
  auto columns = ResolveSchema(*schema, {});
  ASSERT_TRUE(columns.ok()) << columns.status().ToString();
  EXPECT_EQ(columns->size(), kMaxSchemaColumns);
}

TEST(SchemaLimitsTest, OnePastTheLimitNamesTheLimitAndTheCount) {
  auto schema = ParseTypeof(Schema(kMaxSchemaColumns + 1));
  ASSERT_FALSE(schema.ok());
  EXPECT_EQ(schema.status().code(), ErrorCode::kBadRequest);
  EXPECT_EQ(schema.status().message(), "the output schema names 10001 columns; the limit is 10000");
}

TEST(SchemaLimitsTest, AHugeSchemaIsCountedNotKept) {
  auto schema = ParseTypeof(Schema(200000));
  ASSERT_FALSE(schema.ok());
  EXPECT_EQ(schema.status().message(),
            "the output schema names 200000 columns; the limit is 10000");
  // A syntax error past the limit is still reported as such.
  std::string broken = Schema(kMaxSchemaColumns + 5);
  broken.insert(broken.size() - 1, ", x:nosuchtype");
  auto bad = ParseTypeof(broken);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("'nosuchtype' is not one"), std::string::npos)
      << bad.status().message();
}

TEST(SchemaLimitsTest, StarColumnsCountTowardsTheLimit) {
  auto schema = ParseTypeof(Schema(kMaxSchemaColumns - 1, /*star=*/true));
  ASSERT_TRUE(schema.ok()) << schema.status().ToString();
  const std::vector<ColumnSpec> one = {{"a", ColumnType::kLong}};
  EXPECT_TRUE(ResolveSchema(*schema, one).ok());
  const std::vector<ColumnSpec> two = {{"a", ColumnType::kLong}, {"b", ColumnType::kLong}};
  auto columns = ResolveSchema(*schema, two);
  ASSERT_FALSE(columns.ok());
  EXPECT_EQ(columns.status().code(), ErrorCode::kBadRequest);
  EXPECT_EQ(columns.status().message(),
            "the output schema has 10001 columns (2 from '*' and 9999 named); the limit is 10000");
}

}  // namespace
}  // namespace sandboxd
