// cow_bench: is breaking copy-on-write in one call (MADV_POPULATE_WRITE, Linux 5.14+) cheaper
// than taking the faults one at a time, for the pages a forked child writes? Issue 24's "hot head
// of the pool" asks this before choosing how ready children take their faults.
//
//   build/bench/cow_bench [--pages 1200] [--run 4] [--children 50]
//
// A parent maps and fills 45 MiB (about a zygote's anonymous memory), then forks children that
// each write one byte to `--pages` pages, in runs of `--run` neighbouring pages at random places
// (the ~1200 faults a tiny pandas request takes): once by faulting each page, once by
// MADV_POPULATE_WRITE of each run first. Prints the mean time per child of each way, measured
// inside the child, alternating the two to share the machine's noise.
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

namespace {

constexpr std::size_t kPage = 4096;
constexpr std::size_t kMapped = std::size_t{45} << 20;

// The child's time to write its pages (populating them first or not), in ms; negative on error.
double ChildWrites(char* memory, const std::vector<std::size_t>& run_starts, std::size_t run,
                   bool populate) {
  int pipe_fds[2];
  if (::pipe(pipe_fds) != 0) return -1;
  const pid_t pid = ::fork();
  if (pid == 0) {
    const auto t0 = std::chrono::steady_clock::now();
    bool ok = true;
    for (std::size_t start : run_starts) {
      if (populate && ::madvise(memory + start * kPage, run * kPage, MADV_POPULATE_WRITE) != 0)
        ok = false;
      for (std::size_t k = 0; k < run; ++k) memory[(start + k) * kPage] = 2;
    }
    const double ms =
        ok ? std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                 .count()
           : -1;
    (void)!::write(pipe_fds[1], &ms, sizeof ms);
    ::_exit(0);
  }
  double ms = -1;
  if (pid > 0 && ::read(pipe_fds[0], &ms, sizeof ms) != sizeof ms) ms = -1;
  if (pid > 0) ::waitpid(pid, nullptr, 0);
  ::close(pipe_fds[0]);
  ::close(pipe_fds[1]);
  return ms;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"copy-on-write faults against MADV_POPULATE_WRITE in a forked child"};
  std::size_t pages = 1200;
  std::size_t run = 4;
  int children = 50;
  app.add_option("--pages", pages)->check(CLI::Range(1, 10000));
  app.add_option("--run", run, "neighbouring pages written together")->check(CLI::Range(1, 10000));
  app.add_option("--children", children)->check(CLI::Range(1, 10000));
  CLI11_PARSE(app, argc, argv);

  auto* memory = static_cast<char*>(
      ::mmap(nullptr, kMapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  if (memory == MAP_FAILED) return std::perror("mmap"), 1;
  std::memset(memory, 1, kMapped);
  std::mt19937 random(1);
  std::uniform_int_distribution<std::size_t> place(0, kMapped / kPage - run - 1);
  std::vector<std::size_t> run_starts;
  for (std::size_t written = 0; written < pages; written += run)
    run_starts.push_back(place(random));

  double faults_ms = 0, populate_ms = 0;
  for (int i = 0; i < children; ++i) {
    const double f = ChildWrites(memory, run_starts, run, false);
    const double p = ChildWrites(memory, run_starts, run, true);
    if (f < 0 || p < 0) return std::fprintf(stderr, "cow_bench: a child failed\n"), 1;
    faults_ms += f;
    populate_ms += p;
  }
  std::printf("%zu pages in runs of %zu, %d children each way\n", run_starts.size() * run, run,
              children);
  std::printf("  a fault per page (anchor):      %.2f ms per child\n", faults_ms / children);
  std::printf("  MADV_POPULATE_WRITE per run:    %.2f ms per child (%.2fx)\n",
              populate_ms / children, populate_ms / faults_ms);
  return 0;
}
