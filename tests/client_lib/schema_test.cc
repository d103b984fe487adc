#include "sandboxd/schema.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace sandboxd {
namespace {

OutputSchema MustParse(const std::string& text) {
  auto schema = ParseTypeof(text);
  EXPECT_TRUE(schema.ok()) << text << ": " << schema.status().message();
  return schema.ok() ? schema.value() : OutputSchema{};
}

std::string ErrorOf(const std::string& text) {
  auto schema = ParseTypeof(text);
  EXPECT_FALSE(schema.ok()) << text << " parsed as " << (schema.ok() ? schema->ToString() : "");
  if (schema.ok()) return {};
  EXPECT_EQ(schema.status().code(), ErrorCode::kBadRequest);
  return schema.status().message();
}

TEST(TypeofTest, ParsesPlainColumns) {
  const OutputSchema schema = MustParse("typeof(a:long, b:string)");
  EXPECT_FALSE(schema.star);
  ASSERT_EQ(schema.columns.size(), 2U);
  EXPECT_EQ(schema.columns[0], (ColumnSpec{"a", ColumnType::kLong}));
  EXPECT_EQ(schema.columns[1], (ColumnSpec{"b", ColumnType::kString}));
}

TEST(TypeofTest, ParsesStarAndAliases) {
  const OutputSchema schema = MustParse("typeof(*, fx:double)");
  EXPECT_TRUE(schema.star);
  ASSERT_EQ(schema.columns.size(), 1U);
  EXPECT_EQ(schema.columns[0], (ColumnSpec{"fx", ColumnType::kReal}));

  const OutputSchema aliases = MustParse(
      "typeof(a:boolean, b:date, c:time, d:uniqueid, e:Double, f:LONG, g:int, "
      "h:decimal, i:dynamic, j:guid, k:timespan, l:datetime, m:real, n:bool)");
  const std::vector<ColumnType> expected = {
      ColumnType::kBool,    ColumnType::kDateTime, ColumnType::kTimeSpan, ColumnType::kGuid,
      ColumnType::kReal,    ColumnType::kLong,     ColumnType::kInt,      ColumnType::kDecimal,
      ColumnType::kDynamic, ColumnType::kGuid,     ColumnType::kTimeSpan, ColumnType::kDateTime,
      ColumnType::kReal,    ColumnType::kBool};
  ASSERT_EQ(aliases.columns.size(), expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) EXPECT_EQ(aliases.columns[i].type, expected[i]);

  EXPECT_TRUE(MustParse("typeof(*)").star);
  EXPECT_TRUE(MustParse("typeof(*)").columns.empty());
}

TEST(TypeofTest, AllowsWhitespaceEverywhereBetweenTokens) {
  const OutputSchema schema = MustParse("  \n typeof ( * , a : long ,b\t:\tstring )  \n");
  EXPECT_TRUE(schema.star);
  ASSERT_EQ(schema.columns.size(), 2U);
  EXPECT_EQ(schema.columns[1].name, "b");
}

TEST(TypeofTest, ParsesBracketedNames) {
  const OutputSchema schema = MustParse(
      R"(typeof(*, a:long, b : string, ['odd name']:real, ["dq, name"]:int, [ 'it\'s' ]:guid, ['back\\slash']:bool, ['héllo']:dynamic))");
  ASSERT_EQ(schema.columns.size(), 7U);
  EXPECT_EQ(schema.columns[2], (ColumnSpec{"odd name", ColumnType::kReal}));
  EXPECT_EQ(schema.columns[3], (ColumnSpec{"dq, name", ColumnType::kInt}));
  EXPECT_EQ(schema.columns[4], (ColumnSpec{"it's", ColumnType::kGuid}));
  EXPECT_EQ(schema.columns[5], (ColumnSpec{"back\\slash", ColumnType::kBool}));
  EXPECT_EQ(schema.columns[6], (ColumnSpec{"h\xC3\xA9llo", ColumnType::kDynamic}));
}

TEST(TypeofTest, ToStringIsCanonicalAndReparses) {
  const OutputSchema schema =
      MustParse("typeof( * ,a:Double, ['odd name']:boolean, ['it\\'s']:uniqueid, _x1:date)");
  const std::string text = schema.ToString();
  EXPECT_EQ(text, "typeof(*, a:real, ['odd name']:bool, ['it\\'s']:guid, _x1:datetime)");
  const OutputSchema again = MustParse(text);
  EXPECT_EQ(again.star, schema.star);
  EXPECT_EQ(again.columns, schema.columns);
  EXPECT_EQ(MustParse("typeof(x:long)").ToString(), "typeof(x:long)");
}

TEST(TypeofTest, ErrorsNamePositionAndExpectation) {
  EXPECT_EQ(ErrorOf("typeof(a long)"),
            "invalid output schema at position 10: expected ':' after column name 'a', found 'l'");
  std::string message = ErrorOf("typeof(a:lung)");
  EXPECT_NE(message.find("position 10"), std::string::npos) << message;
  EXPECT_NE(message.find("'lung' is not one"), std::string::npos) << message;
}

TEST(TypeofTest, RejectsEveryBadSchemaClass) {
  struct Case {
    const char* text;
    const char* says;
  };
  const Case cases[] = {
      {"", "'typeof('"},
      {"a:long", "'typeof('"},
      {"Typeof(a:long)", "'typeof('"},
      {"typeof", "'(' after 'typeof'"},
      {"typeof a:long", "'(' after 'typeof'"},
      {"typeof()", "may not be empty"},
      {"typeof(  )", "may not be empty"},
      {"typeof(a:long", "',' or ')'"},
      {"typeof(a:long b:int)", "',' or ')'"},
      {"typeof(a:long,)", "after ','"},
      {"typeof(a:long,", "after ','"},
      {"typeof(a:long) x", "end of the schema"},
      {"typeof(a:long))", "end of the schema"},
      {"typeof(a)", "':' after column name 'a'"},
      {"typeof(a:)", "a type name for column 'a'"},
      {"typeof(a:float)", "'float' is not one"},
      {"typeof(a:long, a:int)", "'a' appears twice"},
      {"typeof(a:long, *)", "'*' must be the first"},
      {"typeof(*, *)", "'*' appears twice"},
      {"typeof(*, a:long, *)", "'*' appears twice"},
      {"typeof(1a:long)", "a column name"},
      {"typeof(:long)", "a column name"},
      {"typeof(['']:long)", "may not be empty"},
      {"typeof(['a:long)", "closing quote"},
      {"typeof(['a']:long", "',' or ')'"},
      {"typeof(['a':long)", "']' after the quoted column name"},
      {"typeof([a]:long)", "a quote after '['"},
      {"typeof(['a\\q']:long)", "escapes"},
      {"typeof(['a\xff']:long)", "UTF-8"},
  };
  for (const Case& c : cases) {
    const std::string message = ErrorOf(c.text);
    EXPECT_NE(message.find(c.says), std::string::npos) << c.text << " -> " << message;
    EXPECT_NE(message.find("position"), std::string::npos) << c.text << " -> " << message;
  }
  const std::string long_name = "typeof(['" + std::string(1025, 'n') + "']:long)";
  EXPECT_NE(ErrorOf(long_name).find("longer than 1024"), std::string::npos);
  EXPECT_TRUE(ParseTypeof("typeof(['" + std::string(1024, 'n') + "']:long)").ok());
}

TEST(ResolveSchemaTest, ExpandsStar) {
  const std::vector<ColumnSpec> input = {{"x", ColumnType::kLong}, {"s", ColumnType::kString}};
  auto columns = ResolveSchema(MustParse("typeof(*, fx:real)"), input);
  ASSERT_TRUE(columns.ok());
  EXPECT_EQ(*columns,
            (std::vector<ColumnSpec>{
                {"x", ColumnType::kLong}, {"s", ColumnType::kString}, {"fx", ColumnType::kReal}}));
  auto without_star = ResolveSchema(MustParse("typeof(fx:real)"), input);
  ASSERT_TRUE(without_star.ok());
  EXPECT_EQ(*without_star, (std::vector<ColumnSpec>{{"fx", ColumnType::kReal}}));
  auto only_star = ResolveSchema(MustParse("typeof(*)"), input);
  ASSERT_TRUE(only_star.ok());
  EXPECT_EQ(*only_star, input);
}

TEST(ResolveSchemaTest, RejectsRepeats) {
  const std::vector<ColumnSpec> input = {{"x", ColumnType::kLong}};
  auto repeat = ResolveSchema(MustParse("typeof(*, x:real)"), input);
  ASSERT_FALSE(repeat.ok());
  EXPECT_EQ(repeat.status().code(), ErrorCode::kBadRequest);
  EXPECT_NE(repeat.status().message().find("'x'"), std::string::npos);
  // Without `*` the input's names do not matter.
  EXPECT_TRUE(ResolveSchema(MustParse("typeof(x:real)"), input).ok());
  OutputSchema twice;
  twice.columns = {{"a", ColumnType::kLong}, {"a", ColumnType::kLong}};
  EXPECT_FALSE(ResolveSchema(twice, {}).ok());
}

TEST(ColumnSpecTest, ParsesAndFormatsNames) {
  auto spec = ParseColumnSpec("  x : long ");
  ASSERT_TRUE(spec.ok());
  EXPECT_EQ(*spec, (ColumnSpec{"x", ColumnType::kLong}));
  auto odd = ParseColumnSpec("['a:b, c']:string");
  ASSERT_TRUE(odd.ok());
  EXPECT_EQ(odd->name, "a:b, c");
  EXPECT_FALSE(ParseColumnSpec("x").ok());
  EXPECT_FALSE(ParseColumnSpec("x:long,").ok());
  EXPECT_FALSE(ParseColumnSpec("x:nope").ok());

  EXPECT_EQ(FormatColumnName("abc_1"), "abc_1");
  EXPECT_EQ(FormatColumnName("_"), "_");
  EXPECT_EQ(FormatColumnName("1abc"), "['1abc']");
  EXPECT_EQ(FormatColumnName("a b"), "['a b']");
  EXPECT_EQ(FormatColumnName("it's\\\n"), "['it\\'s\\\\\\n']");
  for (const std::string name :
       {"plain", "with space", "it's", "back\\slash", "new\nline", "tab\t"}) {
    auto back = ParseColumnSpec(FormatColumnName(name) + ":long");
    ASSERT_TRUE(back.ok()) << name;
    EXPECT_EQ(back->name, name);
  }
  EXPECT_TRUE(CheckColumnName("x").ok());
  EXPECT_FALSE(CheckColumnName("").ok());
  EXPECT_FALSE(CheckColumnName(std::string("a\0b", 3)).ok());
  EXPECT_FALSE(CheckColumnName("\xC0\xAF").ok());
  EXPECT_FALSE(CheckColumnName(std::string(1025, 'x')).ok());
}

}  // namespace
}  // namespace sandboxd
