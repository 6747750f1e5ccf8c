//! The table of cases, by h2spec's sections, and the frames they send.

use super::common::h2_frame;
use super::*;

#[path = "headers.rs"]
mod headers;

/// A header block: `:method GET`, `:scheme`, `:path /`, `:authority a`
/// (indexed and literal fields, no Huffman), then `extra` literal fields.
pub(super) fn block(scheme_https: bool, extra: &[(&str, &str)]) -> Vec<u8> {
    let mut out = vec![0x82, if scheme_https { 0x87 } else { 0x86 }, 0x84];
    out.extend([0x01, 1, b'a']); // :authority, literal without indexing
    for (name, value) in extra {
        literal(&mut out, name, value);
    }
    out
}

/// A literal field without indexing, with a new name.
fn literal(out: &mut Vec<u8>, name: &str, value: &str) {
    out.push(0x00);
    out.push(u8::try_from(name.len()).unwrap());
    out.extend(name.as_bytes());
    out.push(u8::try_from(value.len()).unwrap());
    out.extend(value.as_bytes());
}

/// A GET on `stream` that ends the stream.
fn get(https: bool, stream: u32) -> Vec<u8> {
    h2_frame(
        HEADERS,
        END_STREAM | END_HEADERS,
        stream,
        &block(https, &[]),
    )
}

/// One SETTINGS parameter.
fn setting(id: u16, value: u32) -> Vec<u8> {
    let mut out = id.to_be_bytes().to_vec();
    out.extend(value.to_be_bytes());
    out
}

/// One case: h2spec's section and what it checks, what is sent after the
/// preface and an empty SETTINGS, and what must come back.
pub(super) type Case = (&'static str, Vec<u8>, Expect);

/// The table, by section.
pub(super) fn cases(https: bool) -> Vec<Case> {
    [
        frames(https),
        streams(https),
        settings_and_ping(),
        windows(https),
        headers::header_blocks(https),
        headers::messages(https),
    ]
    .concat()
}

/// Stream 1 opened by HEADERS without END_STREAM (a request whose body
/// has not come yet).
fn open(https: bool) -> Vec<u8> {
    h2_frame(HEADERS, END_HEADERS, 1, &block(https, &[]))
}

/// Sections 3.5, 4, 5.5, 6.1 to 6.4 and 6.8: frame format, size and the
/// stream each frame type may be on.
fn frames(https: bool) -> Vec<Case> {
    let conn = Expect::Connection;
    vec![
        (
            "3.5 a valid request is served",
            get(https, 1),
            Expect::Answer(1),
        ),
        (
            "4.2 DATA over SETTINGS_MAX_FRAME_SIZE",
            [open(https), h2_frame(DATA, 0, 1, &[0; 16_385])].concat(),
            conn(FRAME_SIZE_ERROR),
        ),
        (
            "5.5 a frame of an unknown type is ignored",
            [
                h2_frame(0x20, 0, 0, b"x"),
                h2_frame(PING, 0, 0, b"unknown!"),
            ]
            .concat(),
            Expect::PingAck(*b"unknown!"),
        ),
        (
            "6.1 DATA on stream 0",
            h2_frame(DATA, 0, 0, b"x"),
            conn(PROTOCOL_ERROR),
        ),
        (
            "6.1 DATA whose padding is longer than it",
            [open(https), h2_frame(DATA, PADDED, 1, &[4, b'x'])].concat(),
            conn(PROTOCOL_ERROR),
        ),
        (
            "6.2 HEADERS on stream 0",
            get(https, 0),
            conn(PROTOCOL_ERROR),
        ),
        (
            "6.2 HEADERS whose padding is longer than it",
            h2_frame(HEADERS, END_STREAM | END_HEADERS | PADDED, 1, &[200, 0x82]),
            conn(PROTOCOL_ERROR),
        ),
        (
            "6.3 PRIORITY on stream 0",
            h2_frame(PRIORITY, 0, 0, &[0, 0, 0, 1, 16]),
            conn(PROTOCOL_ERROR),
        ),
        (
            "6.3 PRIORITY of the wrong length",
            h2_frame(PRIORITY, 0, 1, &[0, 0, 0, 0, 16, 0]),
            Expect::Stream(1, FRAME_SIZE_ERROR),
        ),
        (
            "6.4 RST_STREAM on stream 0",
            h2_frame(RST_STREAM, 0, 0, &8u32.to_be_bytes()),
            conn(PROTOCOL_ERROR),
        ),
        (
            "6.4 RST_STREAM on an idle stream",
            h2_frame(RST_STREAM, 0, 1, &8u32.to_be_bytes()),
            conn(PROTOCOL_ERROR),
        ),
        (
            "6.4 RST_STREAM of the wrong length",
            [open(https), h2_frame(RST_STREAM, 0, 1, &[0, 0, 0])].concat(),
            conn(FRAME_SIZE_ERROR),
        ),
        (
            "6.8 GOAWAY on a stream",
            h2_frame(GOAWAY, 0, 1, &[0; 8]),
            conn(PROTOCOL_ERROR),
        ),
        (
            "8.4 PUSH_PROMISE from a client",
            [
                open(https),
                h2_frame(PUSH_PROMISE, END_HEADERS, 1, &[0, 0, 0, 2, 0x82]),
            ]
            .concat(),
            conn(PROTOCOL_ERROR),
        ),
    ]
}

/// Sections 5.1, 5.1.1 and 5.3.1: stream states, identifiers and
/// dependencies.
fn streams(https: bool) -> Vec<Case> {
    let conn = Expect::Connection;
    vec![
        (
            "5.1 DATA on an idle stream",
            h2_frame(DATA, 0, 1, b"x"),
            conn(PROTOCOL_ERROR),
        ),
        (
            "5.1 DATA on a half-closed (remote) stream",
            [get(https, 1), h2_frame(DATA, 0, 1, b"x")].concat(),
            Expect::Stream(1, STREAM_CLOSED),
        ),
        (
            "5.1 HEADERS on a half-closed (remote) stream",
            [get(https, 1), get(https, 1)].concat(),
            Expect::Stream(1, STREAM_CLOSED),
        ),
        (
            "5.1 DATA on a stream the client reset",
            [
                open(https),
                h2_frame(RST_STREAM, 0, 1, &8u32.to_be_bytes()),
                h2_frame(DATA, 0, 1, b"x"),
            ]
            .concat(),
            Expect::Stream(1, STREAM_CLOSED),
        ),
        (
            "5.1.1 an even stream identifier from the client",
            get(https, 2),
            conn(PROTOCOL_ERROR),
        ),
        (
            "5.1.1 a stream identifier lower than one already used",
            [get(https, 5), get(https, 3)].concat(),
            conn(PROTOCOL_ERROR),
        ),
        (
            "5.3.1 HEADERS depending on their own stream",
            h2_frame(
                HEADERS,
                END_STREAM | END_HEADERS | PRIORITY_FLAG,
                1,
                &[[0, 0, 0, 1, 16].as_slice(), &block(https, &[])].concat(),
            ),
            Expect::Stream(1, PROTOCOL_ERROR),
        ),
        (
            "5.3.1 PRIORITY depending on its own stream",
            h2_frame(PRIORITY, 0, 1, &[0, 0, 0, 1, 16]),
            Expect::Stream(1, PROTOCOL_ERROR),
        ),
    ]
}

/// Sections 6.5 and 6.7: SETTINGS and PING.
fn settings_and_ping() -> Vec<Case> {
    let conn = Expect::Connection;
    vec![
        (
            "6.5 SETTINGS with ACK and a payload",
            h2_frame(SETTINGS, ACK, 0, &setting(3, 100)),
            conn(FRAME_SIZE_ERROR),
        ),
        (
            "6.5 SETTINGS on a stream",
            h2_frame(SETTINGS, 0, 1, &setting(3, 100)),
            conn(PROTOCOL_ERROR),
        ),
        (
            "6.5 SETTINGS whose length is not a multiple of 6",
            h2_frame(SETTINGS, 0, 0, &[0, 3, 0, 0]),
            conn(FRAME_SIZE_ERROR),
        ),
        (
            "6.5.2 SETTINGS_ENABLE_PUSH other than 0 or 1",
            h2_frame(SETTINGS, 0, 0, &setting(2, 2)),
            conn(PROTOCOL_ERROR),
        ),
        (
            "6.5.2 SETTINGS_INITIAL_WINDOW_SIZE over 2^31-1",
            h2_frame(SETTINGS, 0, 0, &setting(4, 1 << 31)),
            conn(FLOW_CONTROL_ERROR),
        ),
        (
            "6.5.2 SETTINGS_MAX_FRAME_SIZE under 16384",
            h2_frame(SETTINGS, 0, 0, &setting(5, 16_383)),
            conn(PROTOCOL_ERROR),
        ),
        (
            "6.5.2 SETTINGS_MAX_FRAME_SIZE over 2^24-1",
            h2_frame(SETTINGS, 0, 0, &setting(5, 1 << 24)),
            conn(PROTOCOL_ERROR),
        ),
        (
            "6.5.2 an unknown setting is ignored",
            [
                h2_frame(SETTINGS, 0, 0, &setting(0xff, 1)),
                h2_frame(PING, 0, 0, b"setting!"),
            ]
            .concat(),
            Expect::PingAck(*b"setting!"),
        ),
        (
            "6.7 PING is answered with its payload",
            h2_frame(PING, 0, 0, b"h2spec!!"),
            Expect::PingAck(*b"h2spec!!"),
        ),
        (
            "6.7 PING on a stream",
            h2_frame(PING, 0, 1, b"h2spec!!"),
            conn(PROTOCOL_ERROR),
        ),
        (
            "6.7 PING of the wrong length",
            h2_frame(PING, 0, 0, b"h2spec"),
            conn(FRAME_SIZE_ERROR),
        ),
    ]
}

/// Section 6.9: WINDOW_UPDATE and flow-control windows.
fn windows(https: bool) -> Vec<Case> {
    let conn = Expect::Connection;
    let most = 0x7fff_ffffu32.to_be_bytes();
    vec![
        (
            "6.9 WINDOW_UPDATE of 0 on the connection",
            h2_frame(WINDOW_UPDATE, 0, 0, &0u32.to_be_bytes()),
            conn(PROTOCOL_ERROR),
        ),
        (
            "6.9 WINDOW_UPDATE of 0 on a stream",
            [
                open(https),
                h2_frame(WINDOW_UPDATE, 0, 1, &0u32.to_be_bytes()),
            ]
            .concat(),
            Expect::Stream(1, PROTOCOL_ERROR),
        ),
        (
            "6.9 WINDOW_UPDATE of the wrong length",
            h2_frame(WINDOW_UPDATE, 0, 0, &[0, 0, 1]),
            conn(FRAME_SIZE_ERROR),
        ),
        (
            "6.9.1 a connection window past 2^31-1",
            [
                h2_frame(WINDOW_UPDATE, 0, 0, &most),
                h2_frame(WINDOW_UPDATE, 0, 0, &most),
            ]
            .concat(),
            conn(FLOW_CONTROL_ERROR),
        ),
        (
            "6.9.1 a stream window past 2^31-1",
            [
                open(https),
                h2_frame(WINDOW_UPDATE, 0, 1, &most),
                h2_frame(WINDOW_UPDATE, 0, 1, &most),
            ]
            .concat(),
            Expect::Stream(1, FLOW_CONTROL_ERROR),
        ),
        (
            "6.9.2 SETTINGS_INITIAL_WINDOW_SIZE that takes an open stream's window past 2^31-1",
            [
                open(https),
                h2_frame(
                    WINDOW_UPDATE,
                    0,
                    1,
                    &(0x7fff_ffffu32 - 65_535).to_be_bytes(),
                ),
                h2_frame(SETTINGS, 0, 0, &setting(4, 65_536)),
            ]
            .concat(),
            conn(FLOW_CONTROL_ERROR),
        ),
    ]
}
