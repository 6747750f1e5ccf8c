//! The downstream side of seawall: listeners, the request handler, header
//! hygiene, the upstream client, upgrade tunnels and the error → response
//! mapping ([`rescue`]).

pub mod activity;
pub mod client;
pub mod counted;
pub mod headers;
pub mod hygiene;
pub mod listener;
pub mod pool;
pub mod prebuffer;
pub mod preface;
#[cfg(test)]
mod props;
pub mod rescue;
pub mod route;
mod secure;
mod servers;
pub mod service;
pub mod tunnel;
