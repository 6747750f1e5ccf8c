//! `seawall health [URL]` (and `seawall-upstream --probe URL`): one HTTP GET,
//! exit 0 on a 2xx answer within 2 s and 1 otherwise. A `FROM scratch`
//! image has no shell or curl, so this is what its HEALTHCHECK runs.

use std::process::ExitCode;
use std::time::Duration;

use http_body_util::Empty;
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;

/// How long the probe may take in all.
const LIMIT: Duration = Duration::from_secs(2);

/// Probes `url`; prints why it failed on stderr.
pub fn probe(url: &str) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("health: cannot start a runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(async { tokio::time::timeout(LIMIT, get(url)).await }) {
        Ok(Ok(status)) if status.is_success() => ExitCode::SUCCESS,
        Ok(Ok(status)) => {
            eprintln!("health: {url} answered {status}");
            ExitCode::FAILURE
        }
        Ok(Err(e)) => {
            eprintln!("health: {url}: {e}");
            ExitCode::FAILURE
        }
        Err(_) => {
            eprintln!("health: {url}: no answer within {LIMIT:?}");
            ExitCode::FAILURE
        }
    }
}

async fn get(url: &str) -> Result<http::StatusCode, Box<dyn std::error::Error + Send + Sync>> {
    let uri: http::Uri = url.parse()?;
    let authority = uri.authority().ok_or("the URL has no host:port")?.clone();
    let port = authority.port_u16().unwrap_or(80);
    let stream = tokio::net::TcpStream::connect((authority.host(), port)).await?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let request = http::Request::get(path)
        .header(http::header::HOST, authority.as_str())
        .body(Empty::<Bytes>::new())?;
    Ok(sender.send_request(request).await?.status())
}
