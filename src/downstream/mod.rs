//! The downstream side: what faces seawall's callers. Listeners and the
//! bound-listener set, TLS accept and protocol sniffing, hyper's h1/h2
//! servers, connection life and drain, and the request handler (header
//! hygiene, routing, prebuffering, upgrades) that hands each request to its
//! route's stack and turns every error into one response ([`rescue`]).

pub mod activity;
mod calm;
pub mod cut;
mod heads;
pub mod hygiene;
pub mod listener;
mod listeners;
mod observe;
pub mod prebuffer;
pub mod preface;
#[cfg(test)]
mod props;
pub mod rescue;
mod resets;
mod secure;
mod servers;
pub mod service;
pub mod tunnel;

pub use listeners::{BindError, Listeners, Pending, bind};
pub use servers::Protocol;
