// What every request pays before and after its sandbox: building and validating SBXT tables.
#include <benchmark/benchmark.h>

#include <cstring>
#include <string>
#include <vector>

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

// The hostile result of issue 8: `columns` string columns of one row whose data regions are all
// the same 30 MiB. It once took 59 s to validate (1000 columns); now it is refused once the
// directory shows two regions sharing bytes, before a value is read.
std::string SharedRegionBuffer(std::size_t columns) {
  constexpr std::uint64_t kRegion = 30ULL << 20;
  std::vector<sandboxd::ColumnSpec> specs;
  for (std::size_t c = 0; c < columns; ++c)
    specs.push_back({"c" + std::to_string(c), sandboxd::ColumnType::kString});
  sandboxd::TableBuilder builder(specs);
  builder.AppendText(0, std::string(kRegion, 'a'));
  for (std::size_t c = 1; c < columns; ++c) builder.AppendText(c, "");
  std::string b = std::move(builder.Finish().value());
  auto u64 = [&b](std::size_t at) {
    std::uint64_t v;
    std::memcpy(&v, b.data() + at, 8);
    return v;
  };
  auto put = [&b](std::size_t at, std::uint64_t v) { std::memcpy(b.data() + at, &v, 8); };
  const std::uint64_t shared = u64(32 + 48);  // column 0's data offset
  for (std::size_t c = 1; c < columns; ++c) {
    const std::size_t entry = 32 + 64 * c;
    put(entry + 48, shared);
    put(entry + 56, kRegion);
    put(u64(entry + 32) + 8, kRegion);  // offsets[1]
  }
  return b;
}

void BM_ValidateSharedRegionTable(benchmark::State& state) {
  const std::string buffer = SharedRegionBuffer(static_cast<std::size_t>(state.range(0)));
  const auto bytes = std::as_bytes(std::span(buffer));
  for (auto _ : state) {
    auto view = sandboxd::TableView::Open(bytes, {});
    if (view.ok()) state.SkipWithError("an overlapping table was accepted");
    benchmark::DoNotOptimize(view.ok());
  }
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(bytes.size()));
}
BENCHMARK(BM_ValidateSharedRegionTable)->Arg(300)->Arg(1000)->Unit(benchmark::kMillisecond);

// For scale: a valid result of the same size, one 30 MiB string cell, which must be scanned.
void BM_ValidateOneThirtyMegabyteCell(benchmark::State& state) {
  const std::string buffer = SharedRegionBuffer(1);
  const auto bytes = std::as_bytes(std::span(buffer));
  for (auto _ : state) {
    auto view = sandboxd::TableView::Open(bytes, {});
    benchmark::DoNotOptimize(view.ok());
  }
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(bytes.size()));
}
BENCHMARK(BM_ValidateOneThirtyMegabyteCell)->Unit(benchmark::kMillisecond);

}  // namespace
