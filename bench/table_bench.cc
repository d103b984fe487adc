// What every request pays before and after its sandbox: building and validating SBXT tables.
#include <benchmark/benchmark.h>

#include "sandboxd/table.h"

namespace {

sandboxd::Table MakeTable(std::int64_t rows) {
  sandboxd::TableBuilder builder({{"x", sandboxd::ColumnType::kLong},
                                  {"fx", sandboxd::ColumnType::kReal},
                                  {"name", sandboxd::ColumnType::kString}});
  for (std::int64_t i = 0; i < rows; ++i) {
    builder.AppendLong(0, i);
    builder.AppendReal(1, static_cast<double>(i) * 0.5);
    builder.AppendText(2, "row-" + std::to_string(i));
  }
  return std::move(builder.FinishTable().value());
}

void BM_BuildTable(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(MakeTable(state.range(0)));
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_BuildTable)->Arg(1000)->Arg(100000);

// The validator guards every result that comes back from a sandbox.
void BM_ValidateTable(benchmark::State& state) {
  const sandboxd::Table table = MakeTable(state.range(0));
  const auto bytes = std::as_bytes(std::span(table.buffer()));
  for (auto _ : state) {
    auto view = sandboxd::TableView::Open(bytes, {});
    benchmark::DoNotOptimize(view.ok());
  }
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(bytes.size()));
}
BENCHMARK(BM_ValidateTable)->Arg(1000)->Arg(100000)->Arg(1000000);

}  // namespace
