//! Whether a gRPC response's status is still to come in the trailers (a
//! trailers-only answer's is read by `Classifier::read`).

use http::StatusCode;

use crate::wire::grpc;

/// Whether a gRPC response's status is still to come, in its trailers.
pub fn streamed<B>(response: &http::Response<B>) -> bool {
    response.status() == StatusCode::OK
        && grpc::is_grpc(response.headers())
        && grpc::status(response.headers()).is_none()
}
