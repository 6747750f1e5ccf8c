//! The "service in the middle" mode (`--call URL`): every normal request is
//! answered by calling `URL` + the request's path and query and passing the
//! status on. It makes the middle hops of a call chain (seawall → service →
//! seawall → service → seawall → leaf), where retry amplification shows.
//!
//! The caller's remaining budget (`x-seawall-timeout-ms`) travels on, as a
//! real service propagating its deadline would, and so does seawall's
//! `x-seawall-no-retry` mark on the answer (a seawall that gave up on a
//! request says so, and the seawall in front of this service must not retry
//! it); a failed call is a 502 named `x-upstream-error: call-failed`.

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::header::HeaderValue;
use hyper::http::request::Parts;
use hyper::{Request, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// A pooled HTTP/1.1 client to the next hop.
#[derive(Debug, Clone)]
pub struct Caller {
    base: String,
    client: Client<HttpConnector, Empty<Bytes>>,
}

/// Header carrying the caller's remaining budget.
const BUDGET: &str = "x-seawall-timeout-ms";
/// seawall's "do not retry this answer" mark.
pub const NO_RETRY: &str = "x-seawall-no-retry";

impl Caller {
    /// Calls `base` (e.g. `http://seawall-b:8080`) for every request.
    pub fn new(base: String) -> Self {
        let client = Client::builder(TokioExecutor::new()).build_http();
        Self {
            base: base.trim_end_matches('/').to_owned(),
            client,
        }
    }

    /// Calls the next hop for `parts` and returns its status and no-retry
    /// mark (the body is read and dropped so the connection can be reused).
    pub async fn call(&self, parts: &Parts) -> Result<(StatusCode, Option<HeaderValue>), String> {
        let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        let mut req = Request::get(format!("{}{path}", self.base))
            .body(Empty::new())
            .map_err(|e| e.to_string())?;
        if let Some(budget) = parts.headers.get(BUDGET) {
            req.headers_mut().insert(BUDGET, budget.clone());
        }
        let response = self.client.request(req).await.map_err(|e| e.to_string())?;
        let status = response.status();
        let no_retry = response.headers().get(NO_RETRY).cloned();
        response
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?;
        Ok((status, no_retry))
    }
}

/// The header value naming a failed call.
pub fn failed() -> HeaderValue {
    HeaderValue::from_static("call-failed")
}
