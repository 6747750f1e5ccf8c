//! Small JSON-over-HTTP helpers for the control APIs the runner drives: the
//! replicas' `/_upstream/*`, the TCP proxies' `/_proxy/*` and seawall's
//! `/ready`. Each call is bounded, so a paused target cannot stall a run.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio::time::{Instant, sleep, timeout};

use crate::Error;

/// Sends `method url` with a JSON `body` and returns the answer's JSON.
pub async fn call(method: http::Method, url: &str, body: &str) -> Result<serde_json::Value, Error> {
    let bytes = exchange(method, url, body).await?;
    Ok(serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null))
}

/// `GET url`, the answer as text (e.g. Prometheus metrics).
pub async fn get_text(url: &str) -> Result<String, Error> {
    let bytes = exchange(http::Method::GET, url, "").await?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// Sends `method url` with `body`; the answer's body when it is a 2xx.
async fn exchange(method: http::Method, url: &str, body: &str) -> Result<Bytes, Error> {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let req = http::Request::builder()
        .method(method.clone())
        .uri(url)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_owned())))?;
    let exchange = async {
        let response = client.request(req).await?;
        let status = response.status();
        let bytes = response.into_body().collect().await?.to_bytes();
        Ok::<_, Error>((status, bytes))
    };
    let (status, bytes) = timeout(Duration::from_secs(5), exchange)
        .await
        .map_err(|_| format!("{method} {url}: no answer within 5s"))??;
    if !status.is_success() {
        return Err(format!(
            "{method} {url}: {status} {}",
            String::from_utf8_lossy(&bytes)
        )
        .into());
    }
    Ok(bytes)
}

/// `POST url` with `body`.
pub async fn post(url: &str, body: &str) -> Result<serde_json::Value, Error> {
    call(http::Method::POST, url, body).await
}

/// `GET url`.
pub async fn get(url: &str) -> Result<serde_json::Value, Error> {
    call(http::Method::GET, url, "").await
}

/// Polls `GET url` until it answers 2xx, for at most `patience`.
pub async fn wait_ready(url: &str, patience: Duration) -> Result<(), Error> {
    let deadline = Instant::now() + patience;
    loop {
        let attempt = timeout(Duration::from_millis(500), get(url)).await;
        if matches!(attempt, Ok(Ok(_))) {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("{url} not ready within {patience:?}").into());
        }
        sleep(Duration::from_millis(100)).await;
    }
}
