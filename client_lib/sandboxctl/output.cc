#include "output.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace sandboxctl {
namespace {

using sandboxd::ColumnType;
using sandboxd::TableView;

std::string JsonString(std::string_view text) { return nlohmann::json(std::string(text)).dump(); }

std::string JsonCell(const TableView& table, std::size_t c, std::uint64_t r) {
  if (table.IsNull(c, r)) return "null";
  switch (table.column(c).type) {
    case ColumnType::kBool:
    case ColumnType::kInt:
    case ColumnType::kLong:
      return table.FormatCell(c, r);
    case ColumnType::kReal: {
      const double value = table.GetReal(c, r);
      // JSON has no NaN or infinity; Kusto's JSON writes them as strings too.
      if (!std::isfinite(value)) return JsonString(table.FormatCell(c, r));
      return table.FormatCell(c, r);
    }
    case ColumnType::kDynamic:
      // Already valid JSON (the table was validated); verbatim keeps big numbers exact.
      return std::string(table.GetText(c, r));
    case ColumnType::kDecimal:
    case ColumnType::kString:
    case ColumnType::kDateTime:
    case ColumnType::kTimeSpan:
    case ColumnType::kGuid:
      return JsonString(table.FormatCell(c, r));
  }
  return "null";
}

bool IsNumeric(ColumnType type) {
  return type == ColumnType::kInt || type == ColumnType::kLong || type == ColumnType::kReal ||
         type == ColumnType::kDecimal;
}

// Printable on one line: control characters become escapes.
std::string Printable(std::string_view text) {
  std::string out;
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (u < 0x20 || u == 0x7F) {
      char buffer[8];
      std::snprintf(buffer, sizeof(buffer), "\\x%02x", u);
      out += buffer;
    } else {
      out += c;
    }
  }
  return out;
}

// Code points, which is what a terminal column count approximates for most text.
std::size_t DisplayWidth(std::string_view text) {
  return static_cast<std::size_t>(std::count_if(text.begin(), text.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  }));
}

void Pad(std::ostream& out, std::string_view cell, std::size_t width, bool right) {
  const std::size_t fill = width - std::min(width, DisplayWidth(cell));
  if (right)
    out << std::string(fill, ' ') << cell;
  else
    out << cell << std::string(fill, ' ');
}

}  // namespace

void WriteJsonTable(const TableView& table, std::ostream& out) {
  if (table.row_count() == 0) {
    out << "[]\n";
    return;
  }
  std::vector<std::string> keys;
  for (std::size_t c = 0; c < table.column_count(); ++c)
    keys.push_back(JsonString(table.column(c).name));
  out << "[\n";
  for (std::uint64_t r = 0; r < table.row_count(); ++r) {
    out << "  {";
    for (std::size_t c = 0; c < table.column_count(); ++c) {
      if (c != 0) out << ", ";
      out << keys[c] << ": " << JsonCell(table, c, r);
    }
    out << (r + 1 < table.row_count() ? "},\n" : "}\n");
  }
  out << "]\n";
}

void WriteTextTable(const TableView& table, std::ostream& out) {
  const std::size_t columns = table.column_count();
  if (columns == 0) return;  // nothing to show, not even a header
  std::vector<std::string> header(columns);
  std::vector<std::size_t> width(columns);
  for (std::size_t c = 0; c < columns; ++c) {
    header[c] = Printable(table.column(c).name);
    width[c] = DisplayWidth(header[c]);
  }
  std::vector<std::vector<std::string>> cells(table.row_count(), std::vector<std::string>(columns));
  for (std::uint64_t r = 0; r < table.row_count(); ++r) {
    for (std::size_t c = 0; c < columns; ++c) {
      cells[r][c] = Printable(table.FormatCell(c, r));
      width[c] = std::max(width[c], DisplayWidth(cells[r][c]));
    }
  }
  auto line = [&](const std::vector<std::string>& row, bool is_header) {
    for (std::size_t c = 0; c < columns; ++c) {
      if (c != 0) out << "  ";
      const bool last = c + 1 == columns;
      const bool right = !is_header && IsNumeric(table.column(c).type);
      // No trailing padding on the last column.
      Pad(out, row[c], last && !right ? 0 : width[c], right);
    }
    out << '\n';
  };
  line(header, true);
  for (std::size_t c = 0; c < columns; ++c) {
    if (c != 0) out << "  ";
    out << std::string(width[c], '-');
  }
  out << '\n';
  for (const auto& row : cells) line(row, false);
}

}  // namespace sandboxctl
