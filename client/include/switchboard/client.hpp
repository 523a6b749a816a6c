// Switchboard's C++ client library: tokens and addresses, relayed WebSocket senders, and Hybrid
// Connections listeners that accept WebSocket connections and serve HTTP requests. Works with
// Switchboard and, by protocol, with Azure Relay Hybrid Connections.
#pragma once

#include "switchboard/client/blocking.hpp"
#include "switchboard/client/error.hpp"
#include "switchboard/client/listener.hpp"
#include "switchboard/client/sender.hpp"
#include "switchboard/client/token.hpp"
#include "switchboard/client/websocket.hpp"
