//! Where a gRPC response's status is: in a trailers-only response's
//! headers, or still to come in the trailers.

use http::StatusCode;

use crate::wire::grpc;

/// The status of a trailers-only gRPC response (HTTP 200, a gRPC content
/// type, `grpc-status` in the headers).
pub fn trailers_only<B>(response: &http::Response<B>) -> Option<u32> {
    if response.status() != StatusCode::OK || !grpc::is_grpc(response.headers()) {
        return None;
    }
    grpc::status(response.headers())
}

/// Whether a gRPC response's status is still to come, in its trailers.
pub fn streamed<B>(response: &http::Response<B>) -> bool {
    response.status() == StatusCode::OK
        && grpc::is_grpc(response.headers())
        && grpc::status(response.headers()).is_none()
}
