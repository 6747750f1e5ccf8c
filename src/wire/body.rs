//! The one body type that flows through the route stack.
//!
//! Every layer sees `http::Request<Body>` / `http::Response<Body>`; boxing once
//! at the edges keeps layer signatures simple and lets the stack be stored as
//! a `BoxCloneSyncService` per route.

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full, combinators::UnsyncBoxBody};

use crate::wire::BoxError;

/// A streaming body: downstream request bodies, upstream response bodies and
/// synthetic bodies all become this.
pub type Body = UnsyncBoxBody<Bytes, BoxError>;

/// A request on the route stack.
pub type Request = http::Request<Body>;
/// A response on the route stack.
pub type Response = http::Response<Body>;

/// Boxes any body whose error converts into [`BoxError`].
pub fn boxed<B>(body: B) -> Body
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    body.map_err(Into::into).boxed_unsync()
}

/// An empty body.
pub fn empty() -> Body {
    boxed(Empty::<Bytes>::new().map_err(|never| match never {}))
}

/// A body holding `bytes` in full.
pub fn full(bytes: impl Into<Bytes>) -> Body {
    boxed(Full::new(bytes.into()).map_err(|never| match never {}))
}
