//! The cases about header blocks (HPACK, CONTINUATION) and malformed
//! HTTP messages.

use super::super::common::h2_frame;
use super::super::*;
use super::{Case, block};

/// Sections 4.3 and 6.10 (and h2spec's HPACK section): header blocks and
/// CONTINUATION.
pub(super) fn header_blocks(https: bool) -> Vec<Case> {
    let conn = Expect::Connection;
    let headers = |flags, block: &[u8]| h2_frame(HEADERS, flags, 1, block);
    vec![
        (
            "4.3 a header block that does not decode",
            headers(END_STREAM | END_HEADERS, &[0x82, 0xbf, 0xff, 0xff]),
            conn(COMPRESSION_ERROR),
        ),
        (
            "hpack an indexed field of index 0",
            headers(END_STREAM | END_HEADERS, &[0x80]),
            conn(COMPRESSION_ERROR),
        ),
        (
            "hpack an index past the tables",
            headers(END_STREAM | END_HEADERS, &[0xfe]),
            conn(COMPRESSION_ERROR),
        ),
        (
            "hpack a table size update past SETTINGS_HEADER_TABLE_SIZE",
            headers(
                END_STREAM | END_HEADERS,
                &[[0x3f, 0xe2, 0x1f].as_slice(), &block(https, &[])].concat(),
            ),
            conn(COMPRESSION_ERROR),
        ),
        (
            "hpack a table size update after a field",
            headers(
                END_STREAM | END_HEADERS,
                &[block(https, &[]).as_slice(), &[0x20]].concat(),
            ),
            conn(COMPRESSION_ERROR),
        ),
        (
            "6.10 CONTINUATION without HEADERS before it",
            h2_frame(CONTINUATION, END_HEADERS, 1, &block(https, &[])),
            conn(PROTOCOL_ERROR),
        ),
        (
            "6.10 a frame other than CONTINUATION inside a header block",
            [
                headers(END_STREAM, &block(https, &[])),
                h2_frame(DATA, 0, 1, b"x"),
            ]
            .concat(),
            conn(PROTOCOL_ERROR),
        ),
        (
            "6.10 CONTINUATION on another stream",
            [
                headers(END_STREAM, &block(https, &[])[..2]),
                h2_frame(CONTINUATION, END_HEADERS, 3, &[0x84]),
            ]
            .concat(),
            conn(PROTOCOL_ERROR),
        ),
        (
            "6.10 CONTINUATION split over two frames is served",
            [
                headers(END_STREAM, &block(https, &[])[..2]),
                h2_frame(CONTINUATION, END_HEADERS, 1, &block(https, &[])[2..]),
            ]
            .concat(),
            Expect::Answer(1),
        ),
    ]
}

/// Section 8.1: requests that are malformed as HTTP messages.
pub(super) fn messages(https: bool) -> Vec<Case> {
    let bad = |extra: &[(&str, &str)]| {
        h2_frame(HEADERS, END_STREAM | END_HEADERS, 1, &block(https, extra))
    };
    let stream = Expect::Stream(1, PROTOCOL_ERROR);
    // :method GET, then :path and :scheme missing in turn.
    let without = |fields: &[u8]| h2_frame(HEADERS, END_STREAM | END_HEADERS, 1, fields);
    vec![
        (
            "8.1.2 an upper-case field name",
            bad(&[("X-Upper", "1")]),
            stream,
        ),
        (
            "8.1.2.1 an unknown pseudo-header",
            bad(&[(":bogus", "1")]),
            stream,
        ),
        (
            "8.1.2.1 a pseudo-header after a regular field",
            bad(&[("x-a", "1"), (":path", "/")]),
            stream,
        ),
        (
            "8.1.2.2 a connection-specific field",
            bad(&[("connection", "keep-alive")]),
            stream,
        ),
        (
            "8.1.2.2 TE other than trailers",
            bad(&[("te", "gzip")]),
            stream,
        ),
        (
            "8.1.2.3 a duplicated :method",
            bad(&[(":method", "GET")]),
            stream,
        ),
        (
            "8.1.2.3 no :path",
            without(&[0x82, 0x86, 0x01, 1, b'a']),
            stream,
        ),
        (
            "8.1.2.3 no :method",
            without(&[0x86, 0x84, 0x01, 1, b'a']),
            stream,
        ),
        (
            "8.1.2.3 no :scheme",
            without(&[0x82, 0x84, 0x01, 1, b'a']),
            stream,
        ),
        (
            "8.1.2.6 DATA longer than content-length",
            [
                h2_frame(
                    HEADERS,
                    END_HEADERS,
                    1,
                    &block(https, &[("content-length", "1")]),
                ),
                h2_frame(DATA, END_STREAM, 1, b"xyz"),
            ]
            .concat(),
            stream,
        ),
    ]
}
