// Cost of a localfirst Join as the number of connected peers grows: with the documentId index it
// should depend on the peers sharing the joiner's documents (k), not on all peers (N).
#include "localfirst/directory.hpp"

#include <benchmark/benchmark.h>

#include <string>
#include <vector>

namespace switchboard::localfirst {
namespace {

constexpr int kOwnDocuments = 3;  // unique documents per background peer

// N peers with kOwnDocuments unique documents each, the first k of which also hold "shared".
SocketId populate(Directory& directory, int peers, int sharing) {
  SocketId socket = 0;
  for (int i = 0; i < peers; ++i) {
    const std::string peer = "peer" + std::to_string(i);
    std::vector<std::string> ids;
    ids.reserve(kOwnDocuments + 1);
    for (int d = 0; d < kOwnDocuments; ++d) {
      ids.push_back(peer + "/doc" + std::to_string(d));
    }
    if (i < sharing) ids.emplace_back("shared");
    directory.connect(peer, ++socket);
    directory.join(peer, socket, ids);
  }
  return socket;
}

// Args: N registered peers, k of them sharing one document with the joiner. Each iteration is a
// repeated Join, which re-sends the 2k Introductions.
void BM_Join(benchmark::State& state) {
  const int peers = static_cast<int>(state.range(0));
  const int sharing = static_cast<int>(state.range(1));
  Directory directory;
  const SocketId joiner_socket = populate(directory, peers, sharing) + 1;
  const std::vector<std::string> ids = {"joiner/doc0", "joiner/doc1", "shared"};
  directory.connect("joiner", joiner_socket);
  directory.join("joiner", joiner_socket, ids);

  const std::uint64_t examined_before = directory.peers_examined();
  for (auto _ : state) {
    benchmark::DoNotOptimize(directory.join("joiner", joiner_socket, ids));
  }
  state.counters["examined/join"] =
      static_cast<double>(directory.peers_examined() - examined_before) /
      static_cast<double>(state.iterations());
}
BENCHMARK(BM_Join)->ArgsProduct({{100, 1000, 10000}, {1, 10}});

// A peer arrives, joins two documents (one shared with k others) and leaves again.
void BM_ConnectJoinDisconnect(benchmark::State& state) {
  const int peers = static_cast<int>(state.range(0));
  const int sharing = static_cast<int>(state.range(1));
  Directory directory;
  SocketId socket = populate(directory, peers, sharing);
  const std::vector<std::string> ids = {"visitor/doc0", "shared"};

  for (auto _ : state) {
    directory.connect("visitor", ++socket);
    benchmark::DoNotOptimize(directory.join("visitor", socket, ids));
    directory.disconnect("visitor", socket);
  }
}
BENCHMARK(BM_ConnectJoinDisconnect)->ArgsProduct({{10000}, {1, 10}});

}  // namespace
}  // namespace switchboard::localfirst
