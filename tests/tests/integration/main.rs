//! Cairn's integration tests, one binary: real servers on loopback ports,
//! real clients (HTTP, WebSocket, the MCP Python SDK, Chromium), real
//! databases. One module per surface or concern; each module's opening
//! comment says what it covers. One binary links once, where a binary per
//! file linked the whole server a dozen times.

mod briefing;
mod e2e;
mod full_disk;
mod graphql;
mod limits;
mod mcp;
mod ml;
mod multinode;
mod proxy;
mod router_corpus;
mod routes;
mod security;
mod sessions;
mod tidy;
