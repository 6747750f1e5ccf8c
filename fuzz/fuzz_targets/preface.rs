//! The cleartext preface sniffer (`downstream::preface`): whatever a client
//! opens with, the sniffer tells HTTP/2 only for the whole preface, calls a
//! broken preface broken only after HTTP/2's request line, gives up only
//! when the bytes end inside the preface, and replays every byte it read.
#![no_main]

use std::sync::LazyLock;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use seawall::downstream::Protocol;
use seawall::downstream::preface::sniff;
use tokio::io::AsyncReadExt;

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a current-thread runtime")
});

fuzz_target!(|data: &[u8]| {
    RUNTIME.block_on(async {
        let sniffed = sniff(data, Duration::from_secs(1)).await;
        let ends_inside = data.len() < PREFACE.len() && PREFACE.starts_with(data);
        let Some(mut prefixed) = sniffed else {
            assert!(ends_inside, "gave up on {data:?}");
            return;
        };
        assert!(!ends_inside, "told a protocol from {data:?}");
        let h2 = data.starts_with(PREFACE);
        assert_eq!(prefixed.protocol() == Protocol::Http2, h2, "{data:?}");
        let broken = data.starts_with(b"PRI * HTTP/2.0") && !h2;
        assert_eq!(prefixed.broken_h2_preface(), broken, "{data:?}");
        let mut replayed = Vec::new();
        prefixed
            .read_to_end(&mut replayed)
            .await
            .expect("reading a slice cannot fail");
        assert_eq!(replayed, data, "replayed bytes differ");
    });
});
