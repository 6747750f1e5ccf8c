//! Tests of config loading, one file per feature (as in `file`, `validate`
//! and `settings`), all starting from the fixture in `support`: every error
//! kind reports the exact line, column and key, and defaults are the
//! documented ones.

mod admin;
mod admission;
mod cluster;
mod collect;
mod duration;
mod env;
mod fuzz;
mod listener;
mod locate;
mod log;
mod memory;
mod parse;
mod resilience;
mod retry;
mod route;
mod schema;
mod support;
mod timeouts;
mod tls;
mod tracing;
mod trap;
