#include "sandboxd/schema.h"

#include <set>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "sandboxd/quote.h"
#include "sandboxd/table.h"

namespace sandboxd {

static_assert(kMaxSchemaColumns == TableLimits{}.max_columns,
              "an output schema may have as many columns as a result table may hold");

namespace {

constexpr std::size_t kMaxColumnNameBytes = 1024;

bool IsIdentifierStart(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
bool IsIdentifierChar(char c) { return IsIdentifierStart(c) || (c >= '0' && c <= '9'); }
bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

bool IsIdentifier(std::string_view name) {
  if (name.empty() || !IsIdentifierStart(name.front())) return false;
  for (char c : name) {
    if (!IsIdentifierChar(c)) return false;
  }
  return true;
}

// A small recursive-descent reader; every error names the 1-based position and what was expected,
// because schemas are typed by hand and the mistake is usually one character.
class Parser {
 public:
  explicit Parser(std::string_view text) : text_(text) {}

  StatusOr<OutputSchema> ParseTypeof() {
    SkipSpace();
    if (text_.substr(pos_, 6) != "typeof") return Fail("'typeof('");
    pos_ += 6;
    SkipSpace();
    if (!Consume('(')) return Fail("'(' after 'typeof'");
    SkipSpace();
    if (Peek() == ')') return Fail("'*' or a column 'name:type' (typeof() may not be empty)");

    OutputSchema schema;
    std::unordered_set<std::string> names;
    std::size_t named = 0;
    while (true) {
      SkipSpace();
      const std::size_t item_pos = pos_;
      if (Peek() == '*') {
        if (schema.star) return FailAt(item_pos, "'*' appears twice; it may appear only once");
        if (!schema.columns.empty()) {
          return FailAt(item_pos, "'*' must be the first item of typeof(...)");
        }
        schema.star = true;
        ++pos_;
      } else {
        auto spec = ParseSpec();
        if (!spec.ok()) return spec.status();
        // Past the limit the columns are only counted, for the message: a huge schema then costs
        // one scan and no memory.
        if (++named <= kMaxSchemaColumns) {
          if (!names.insert(spec->name).second) {
            return FailAt(item_pos, "a new column name, but " + QuoteForMessage(spec->name) +
                                        " appears twice");
          }
          schema.columns.push_back(std::move(spec.value()));
        }
      }
      SkipSpace();
      if (Consume(',')) {
        SkipSpace();
        if (AtEnd() || Peek() == ')') return Fail("a column 'name:type' after ','");
        continue;
      }
      if (Consume(')')) break;
      return Fail("',' or ')'");
    }
    SkipSpace();
    if (!AtEnd()) return Fail("the end of the schema after ')'");
    if (named > kMaxSchemaColumns) {
      return Status(ErrorCode::kBadRequest, "the output schema names " + std::to_string(named) +
                                                " columns; the limit is " +
                                                std::to_string(kMaxSchemaColumns));
    }
    return schema;
  }

  StatusOr<ColumnSpec> ParseStandaloneSpec() {
    SkipSpace();
    auto spec = ParseSpec();
    if (!spec.ok()) return spec;
    SkipSpace();
    if (!AtEnd()) return Fail("the end of the column after its type");
    return spec;
  }

 private:
  bool AtEnd() const { return pos_ >= text_.size(); }
  char Peek() const { return AtEnd() ? '\0' : text_[pos_]; }
  bool Consume(char c) {
    if (AtEnd() || text_[pos_] != c) return false;
    ++pos_;
    return true;
  }
  void SkipSpace() {
    while (!AtEnd() && IsSpace(text_[pos_])) ++pos_;
  }

  std::string Found(std::size_t at) const {
    if (at >= text_.size()) return "the end of the text";
    const char c = text_[at];
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7F) {
      return "byte " + std::to_string(static_cast<unsigned>(static_cast<unsigned char>(c)));
    }
    return std::string("'") + c + "'";
  }

  Status FailAt(std::size_t at, const std::string& expected) const {
    return Status(ErrorCode::kBadRequest, "invalid output schema at position " +
                                              std::to_string(at + 1) + ": expected " + expected +
                                              ", found " + Found(at));
  }
  Status Fail(const std::string& expected) const { return FailAt(pos_, expected); }

  StatusOr<ColumnSpec> ParseSpec() {
    ColumnSpec spec;
    const std::size_t name_pos = pos_;
    if (Peek() == '[') {
      auto name = ParseBracketedName();
      if (!name.ok()) return name.status();
      spec.name = std::move(name.value());
    } else if (IsIdentifierStart(Peek())) {
      while (!AtEnd() && IsIdentifierChar(text_[pos_])) ++pos_;
      spec.name = std::string(text_.substr(name_pos, pos_ - name_pos));
    } else {
      return Fail("a column name (an identifier or ['quoted name'])");
    }
    if (Status st = CheckColumnName(spec.name); !st.ok()) {
      return Status(ErrorCode::kBadRequest, "invalid output schema at position " +
                                                std::to_string(name_pos + 1) + ": " + st.message());
    }
    SkipSpace();
    if (!Consume(':')) return Fail("':' after column name " + QuoteForMessage(spec.name));
    SkipSpace();
    const std::size_t type_pos = pos_;
    while (!AtEnd() && IsIdentifierChar(text_[pos_])) ++pos_;
    const std::string_view type_name = text_.substr(type_pos, pos_ - type_pos);
    if (type_name.empty()) return Fail("a type name for column " + QuoteForMessage(spec.name));
    const auto type = ParseColumnTypeName(type_name);
    if (!type) {
      return FailAt(type_pos,
                    "a type (bool, int, long, real, decimal, string, datetime, timespan, guid, "
                    "dynamic) for column " +
                        QuoteForMessage(spec.name) + ", but " + QuoteForMessage(type_name) +
                        " is not one");
    }
    spec.type = *type;
    return spec;
  }

  // Kusto's bracketed name: ['name'] or ["name"], with backslash escapes.
  StatusOr<std::string> ParseBracketedName() {
    ++pos_;  // '['
    SkipSpace();
    const char quote = Peek();
    if (quote != '\'' && quote != '"') return Fail("a quote after '['");
    ++pos_;
    std::string name;
    while (true) {
      if (AtEnd()) return Fail("the closing quote of the column name");
      const char c = text_[pos_++];
      if (c == quote) break;
      if (c != '\\') {
        name += c;
        continue;
      }
      if (AtEnd()) return Fail("an escaped character after '\\'");
      const char e = text_[pos_++];
      switch (e) {
        case '\\':
        case '\'':
        case '"':
          name += e;
          break;
        case 'n':
          name += '\n';
          break;
        case 't':
          name += '\t';
          break;
        case 'r':
          name += '\r';
          break;
        default:
          return FailAt(pos_ - 1, "one of the escapes \\\\ \\' \\\" \\n \\t \\r");
      }
    }
    SkipSpace();
    if (!Consume(']')) return Fail("']' after the quoted column name");
    return name;
  }

  std::string_view text_;
  std::size_t pos_ = 0;
};

}  // namespace

Status CheckColumnName(std::string_view name) {
  if (name.empty()) return Status(ErrorCode::kBadRequest, "a column name may not be empty");
  if (name.size() > kMaxColumnNameBytes) {
    return Status(ErrorCode::kBadRequest, "column name of " + std::to_string(name.size()) +
                                              " bytes is longer than 1024 bytes");
  }
  if (name.find('\0') != std::string_view::npos) {
    return Status(ErrorCode::kBadRequest, "a column name may not contain NUL");
  }
  if (!IsValidUtf8(name)) {
    return Status(ErrorCode::kBadRequest, "a column name must be valid UTF-8");
  }
  return Status::Ok();
}

std::string FormatColumnName(std::string_view name) {
  if (IsIdentifier(name)) return std::string(name);
  std::string out = "['";
  for (char c : name) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '\'':
        out += "\\'";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        out += c;
    }
  }
  out += "']";
  return out;
}

std::string OutputSchema::ToString() const {
  std::string out = "typeof(";
  bool first = true;
  if (star) {
    out += '*';
    first = false;
  }
  for (const ColumnSpec& column : columns) {
    if (!first) out += ", ";
    first = false;
    out += FormatColumnName(column.name);
    out += ':';
    out += ColumnTypeName(column.type);
  }
  out += ')';
  return out;
}

StatusOr<OutputSchema> ParseTypeof(std::string_view text) { return Parser(text).ParseTypeof(); }

StatusOr<ColumnSpec> ParseColumnSpec(std::string_view text) {
  return Parser(text).ParseStandaloneSpec();
}

StatusOr<std::vector<ColumnSpec>> ResolveSchema(const OutputSchema& schema,
                                                const std::vector<ColumnSpec>& input_columns) {
  std::vector<ColumnSpec> out;
  std::set<std::string, std::less<>> seen;
  if (schema.star) {
    for (const ColumnSpec& column : input_columns) {
      if (!seen.insert(column.name).second) {
        return Status(ErrorCode::kBadRequest,
                      "the input has two columns named " + QuoteForMessage(column.name));
      }
      out.push_back(column);
    }
  }
  for (const ColumnSpec& column : schema.columns) {
    if (!seen.insert(column.name).second) {
      return Status(ErrorCode::kBadRequest,
                    "output schema column " + QuoteForMessage(column.name) +
                        (schema.star ? " repeats an input column (typeof(*, ...) already has it)"
                                     : " appears twice"));
    }
    out.push_back(column);
  }
  if (out.size() > kMaxSchemaColumns) {
    return Status(ErrorCode::kBadRequest,
                  "the output schema has " + std::to_string(out.size()) + " columns (" +
                      std::to_string(out.size() - schema.columns.size()) + " from '*' and " +
                      std::to_string(schema.columns.size()) + " named); the limit is " +
                      std::to_string(kMaxSchemaColumns));
  }
  return out;
}

}  // namespace sandboxd
