#include "csv.h"

#include <string>
#include <utility>

#include "sandboxd/schema.h"

namespace sandboxctl {

using sandboxd::ErrorCode;
using sandboxd::Status;
using sandboxd::StatusOr;

StatusOr<std::vector<std::vector<std::string>>> ParseCsv(std::string_view text) {
  if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);
  std::vector<std::vector<std::string>> records;
  std::vector<std::string> record;
  std::string field;
  std::size_t line = 1;
  std::size_t pos = 0;
  bool field_started = false;  // anything at all seen for the current record
  auto fail = [&line](const std::string& why) {
    return Status(ErrorCode::kBadRequest, "CSV line " + std::to_string(line) + ": " + why);
  };
  auto end_record = [&]() {
    record.push_back(std::move(field));
    field.clear();
    records.push_back(std::move(record));
    record.clear();
    field_started = false;
  };

  while (pos < text.size()) {
    const char c = text[pos];
    if (c == '"') {
      if (!field.empty()) return fail("a quote inside an unquoted field (quote the whole field)");
      const std::size_t quote_line = line;
      ++pos;
      while (true) {
        if (pos >= text.size()) {
          line = quote_line;
          return fail("a quoted field is not closed");
        }
        const char q = text[pos++];
        if (q == '"') {
          if (pos < text.size() && text[pos] == '"') {
            field += '"';
            ++pos;
            continue;
          }
          break;
        }
        if (q == '\n') ++line;
        field += q;
      }
      field_started = true;
      // After the closing quote only a separator or a line end may follow.
      if (pos < text.size() && text[pos] != ',' && text[pos] != '\n' &&
          !(text[pos] == '\r' && pos + 1 < text.size() && text[pos + 1] == '\n') &&
          !(text[pos] == '\r' && pos + 1 == text.size())) {
        return fail("text after the closing quote of a field");
      }
      continue;
    }
    if (c == ',') {
      record.push_back(std::move(field));
      field.clear();
      field_started = true;
      ++pos;
      continue;
    }
    if (c == '\n' || (c == '\r' && (pos + 1 == text.size() || text[pos + 1] == '\n'))) {
      end_record();
      pos += (c == '\r' && pos + 1 < text.size()) ? 2 : 1;
      ++line;
      continue;
    }
    field += c;
    field_started = true;
    ++pos;
  }
  // A last line without a line end still counts; a final line end does not start a record.
  if (field_started || !record.empty()) end_record();
  return records;
}

std::string CsvField(std::string_view value) {
  const bool quote = value.find_first_of(",\"\r\n") != std::string_view::npos ||
                     (!value.empty() && (value.front() == ' ' || value.back() == ' ' ||
                                         value.front() == '\t' || value.back() == '\t'));
  if (!quote) return std::string(value);
  std::string out = "\"";
  for (char c : value) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
  return out;
}

StatusOr<sandboxd::Table> ReadCsvTable(std::string_view text, const sandboxd::TableLimits& limits) {
  auto records = ParseCsv(text);
  if (!records.ok()) return records.status();
  if (records->empty()) {
    return Status(ErrorCode::kBadRequest,
                  "the CSV input is empty; it needs a header row of name:type cells");
  }
  std::vector<sandboxd::ColumnSpec> columns;
  for (const std::string& cell : records->front()) {
    auto spec = sandboxd::ParseColumnSpec(cell);
    if (!spec.ok()) {
      return Status(ErrorCode::kBadRequest,
                    "CSV header cell '" + cell +
                        "' is not name:type (e.g. x:long): " + spec.status().message());
    }
    columns.push_back(std::move(spec.value()));
  }
  // A header of one empty cell is an empty line: no columns.
  if (records->front().size() == 1 && records->front().front().empty()) columns.clear();

  sandboxd::TableBuilder builder(columns);
  // Records are numbered by position; with quoted line breaks that may differ from the line.
  for (std::size_t r = 1; r < records->size(); ++r) {
    const std::vector<std::string>& record = (*records)[r];
    const bool blank = record.size() == 1 && record.front().empty();
    if (blank && columns.size() != 1) continue;
    if (record.size() != columns.size()) {
      return Status(ErrorCode::kBadRequest, "CSV record " + std::to_string(r + 1) + " has " +
                                                std::to_string(record.size()) +
                                                " fields but the header has " +
                                                std::to_string(columns.size()));
    }
    for (std::size_t c = 0; c < record.size(); ++c) {
      if (Status st = builder.AppendParsed(c, record[c]); !st.ok()) {
        return Status(ErrorCode::kBadRequest,
                      "CSV record " + std::to_string(r + 1) + ": " + st.message());
      }
    }
  }
  return builder.FinishTable(limits);
}

void WriteCsvTable(const sandboxd::TableView& table, std::ostream& out) {
  for (std::size_t c = 0; c < table.column_count(); ++c) {
    if (c != 0) out << ',';
    const sandboxd::ColumnSpec& spec = table.column(c);
    out << CsvField(sandboxd::FormatColumnName(spec.name) + ":" +
                    std::string(sandboxd::ColumnTypeName(spec.type)));
  }
  out << '\n';
  for (std::uint64_t r = 0; r < table.row_count(); ++r) {
    for (std::size_t c = 0; c < table.column_count(); ++c) {
      if (c != 0) out << ',';
      out << CsvField(table.FormatCell(c, r));
    }
    out << '\n';
  }
}

}  // namespace sandboxctl
