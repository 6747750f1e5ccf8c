//! Hot reload against real sockets: valid reloads under load lose nothing,
//! invalid files change nothing, editors' and Kubernetes' ways of replacing
//! a file are all picked up, state survives, listeners come and go, and old
//! snapshots, memory and file descriptors are released.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use common::{Seawall, SeawallProcess, Upstream, basic_config, eventually, fetch, get, send_with};
use seawall::reload::Outcome;

/// `basic_config` plus extra routes under the listener and an admission
/// limit, so each variant really changes routes and limits.
fn variant(upstream: std::net::SocketAddr, i: usize) -> String {
    let mut yaml = basic_config(&[upstream]);
    let routes = (0..i % 5)
        .map(|r| {
            format!("      - {{ name: r{r}, match: {{ path_prefix: /r{r} }}, cluster: app }}\n")
        })
        .collect::<String>();
    yaml = yaml.replace(
        "        cluster: app\n",
        &format!("        cluster: app\n{routes}"),
    );
    yaml.push_str(&format!(
        "    admission: {{ max_concurrent: {} }}\n",
        64 + i % 3
    ));
    yaml
}

fn generation(sw: &Seawall) -> u64 {
    sw.running.shared.load().generation
}

/// Steady load from a few clients until stopped; counts good and bad answers.
struct Load {
    stop: Arc<AtomicBool>,
    ok: Arc<AtomicU64>,
    bad: Arc<AtomicU64>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    fn start(url: String, clients: usize) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let (ok, bad) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let tasks = (0..clients)
            .map(|_| {
                let (stop, ok, bad, url) = (stop.clone(), ok.clone(), bad.clone(), url.clone());
                tokio::spawn(async move {
                    let client = common::h1_client();
                    while !stop.load(Ordering::Relaxed) {
                        match send_with(&client, get(&url)).await {
                            Ok(r) if r.status.is_success() => ok.fetch_add(1, Ordering::Relaxed),
                            Ok(r) => {
                                eprintln!(
                                    "non-2xx under reload: {} {:?}",
                                    r.status,
                                    r.header("x-seawall-error")
                                );
                                bad.fetch_add(1, Ordering::Relaxed)
                            }
                            Err(e) => {
                                eprintln!("lost request under reload: {e}");
                                bad.fetch_add(1, Ordering::Relaxed)
                            }
                        };
                    }
                })
            })
            .collect();
        Self {
            stop,
            ok,
            bad,
            tasks,
        }
    }

    /// Stops the clients; returns (good, bad) answers.
    async fn stop(self) -> (u64, u64) {
        self.stop.store(true, Ordering::Relaxed);
        for task in self.tasks {
            task.await.unwrap();
        }
        (
            self.ok.load(Ordering::Relaxed),
            self.bad.load(Ordering::Relaxed),
        )
    }
}

#[tokio::test]
async fn hundred_valid_reloads_under_load_fail_no_request() {
    let up = Upstream::spawn("a").await;
    let sw = Seawall::start_from_file(&variant(up.addr, 0)).await;
    let path = sw.config_path.clone().unwrap();
    let load = Load::start(sw.url("/r0/x"), 4);
    for i in 1..=100 {
        std::fs::write(&path, variant(up.addr, i)).unwrap();
        let outcome = sw.running.reload.reload().await;
        assert!(
            matches!(outcome, Outcome::Applied { .. } | Outcome::Unchanged),
            "reload {i}: {outcome:?}"
        );
    }
    let (ok, bad) = load.stop().await;
    assert!(
        generation(&sw) >= 90,
        "most reloads applied: generation {}",
        generation(&sw)
    );
    assert!(ok >= 100, "load ran: {ok} ok");
    assert_eq!(bad, 0, "requests failed or were lost during reloads");
}

#[tokio::test]
async fn invalid_files_are_rejected_with_location_and_the_old_config_serves() {
    let up = Upstream::spawn("a").await;
    let good = basic_config(&[up.addr]);
    let sw = Seawall::start_from_file(&good).await;
    let path = sw.config_path.clone().unwrap();
    let cases = [
        ("listeners: [oops", "invalid YAML"),
        (
            &*good.replace("cluster: app\n", "cluster: nope\n"),
            "unknown cluster",
        ),
        (
            &*good.replace("connect_timeout: 500ms", "connect_timeout: 0s"),
            "zero timeout",
        ),
    ];
    for (text, what) in cases {
        std::fs::write(&path, text).unwrap();
        let outcome = sw.running.reload.reload().await;
        let Outcome::Rejected(reason) = outcome else {
            panic!("{what}: {outcome:?}")
        };
        assert!(
            reason.contains("seawall.yaml:"),
            "{what}: reason names the file: {reason}"
        );
        assert!(
            reason
                .split(':')
                .nth(1)
                .is_some_and(|l| l.parse::<u32>().is_ok()),
            "{what}: line: {reason}"
        );
        assert_eq!(generation(&sw), 1, "{what}: nothing applied");
        assert_eq!(
            fetch(&sw.url("/")).await.status,
            200,
            "{what}: old config serves"
        );
    }
    // Two mistakes at once: the rejection names both, nothing applies.
    let both = good
        .replace("cluster: app\n", "cluster: nope\n")
        .replace("connect_timeout: 500ms", "connect_timeout: 0s");
    std::fs::write(&path, both).unwrap();
    let outcome = sw.running.reload.reload().await;
    let Outcome::Rejected(reason) = outcome else {
        panic!("two errors: {outcome:?}")
    };
    assert!(
        reason.contains("unknown cluster") && reason.contains("connect_timeout"),
        "both errors: {reason}"
    );
    assert_eq!(generation(&sw), 1, "two errors: nothing applied");
    assert_eq!(fetch(&sw.url("/")).await.status, 200, "old config serves");
    let config = fetch(&format!("http://{}/config", sw.admin)).await.json();
    assert_eq!(config["reload"]["counts"]["rejected"], 4);
    assert!(
        config["reload"]["last_rejection"]
            .as_str()
            .unwrap()
            .contains("connect_timeout")
    );
}

async fn wait_generation(sw: &Seawall, at_least: u64) {
    eventually(
        &format!("generation {at_least} applied by the file watcher"),
        || async { generation(sw) >= at_least },
    )
    .await;
}

#[tokio::test]
async fn file_watch_applies_truncate_then_write_and_rename_over() {
    use std::io::Write;
    let (a, b) = (Upstream::spawn("a").await, Upstream::spawn("b").await);
    let sw = Seawall::start_from_file(&basic_config(&[a.addr])).await;
    let path = sw.config_path.clone().unwrap();

    // Truncate, then write in two pieces: the half-written file must never apply.
    let text = basic_config(&[b.addr]);
    let (head, tail) = text.split_at(text.len() / 2);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(&path)
        .unwrap();
    file.write_all(head.as_bytes()).unwrap();
    file.flush().unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await;
    file.write_all(tail.as_bytes()).unwrap();
    drop(file);
    wait_generation(&sw, 2).await;
    assert_eq!(fetch(&sw.url("/")).await.json()["upstream"], "b");

    // Write elsewhere and rename over, as editors do.
    let tmp = path.with_extension("yaml.tmp");
    std::fs::write(&tmp, basic_config(&[a.addr])).unwrap();
    std::fs::rename(&tmp, &path).unwrap();
    wait_generation(&sw, 3).await;
    assert_eq!(fetch(&sw.url("/")).await.json()["upstream"], "a");
}

/// Lays out a directory the way the kubelet mounts a ConfigMap.
fn configmap_publish(dir: &Path, version: u32, yaml: &str) {
    let data = dir.join(format!("..2026_11_24_{version:02}"));
    std::fs::create_dir(&data).unwrap();
    std::fs::write(data.join("seawall.yaml"), yaml).unwrap();
    let tmp = dir.join("..data_tmp");
    std::os::unix::fs::symlink(data.file_name().unwrap(), &tmp).unwrap();
    std::fs::rename(&tmp, dir.join("..data")).unwrap();
    let link = dir.join("seawall.yaml");
    if !link.exists() {
        std::os::unix::fs::symlink("..data/seawall.yaml", &link).unwrap();
    }
}

#[tokio::test]
async fn configmap_symlink_swaps_under_load_are_applied_with_no_failed_request() {
    let (a, b) = (Upstream::spawn("a").await, Upstream::spawn("b").await);
    let dir = common::TempDir::new("configmap");
    configmap_publish(&dir.0, 1, &basic_config(&[a.addr]));
    let sw = Seawall::start_from_path(&dir.0.join("seawall.yaml")).await;
    assert_eq!(fetch(&sw.url("/")).await.json()["upstream"], "a");
    let load = Load::start(sw.url("/"), 4);
    for version in 2..=6 {
        let to = if version % 2 == 0 { &b } else { &a };
        configmap_publish(&dir.0, version, &basic_config(&[to.addr]));
        wait_generation(&sw, u64::from(version)).await;
        assert_eq!(
            fetch(&sw.url("/")).await.json()["upstream"],
            to.name.as_str()
        );
    }
    let (ok, bad) = load.stop().await;
    assert!(ok > 0);
    assert_eq!(bad, 0, "requests failed while the ConfigMap was swapped");
}

#[tokio::test]
async fn state_survives_reloads_and_a_resize_keeps_held_permits() {
    let up = Upstream::spawn("a").await;
    let one = basic_config(&[up.addr]) + "    admission: { max_concurrent: 1, max_queue: 0 }\n";
    let sw = Seawall::start_from_file(&one).await;
    let path = sw.config_path.clone().unwrap();
    let before = sw.running.shared.load_full();
    let cluster = before.clusters["app"].clone();
    let slow_url = sw.url("/?delay=1500ms");
    let slow = tokio::spawn(async move { fetch(&slow_url).await.status });
    up.wait_for_stats("the slow request in flight", |s| s.in_flight == 1)
        .await;
    assert_eq!(
        fetch(&sw.url("/")).await.header("x-seawall-error"),
        Some("shed-queue-full"),
        "limit 1 is full"
    );

    // A reload touching only routes keeps the cluster object itself.
    let extra_route = "        cluster: app\n      - { name: extra, match: { path_prefix: /extra }, cluster: app }\n";
    std::fs::write(
        &path,
        one.replacen("        cluster: app\n", extra_route, 1),
    )
    .unwrap();
    assert!(matches!(
        sw.running.reload.reload().await,
        Outcome::Applied { .. }
    ));
    assert!(
        Arc::ptr_eq(&sw.running.shared.load().clusters["app"], &cluster),
        "unchanged cluster reused whole"
    );

    // Resizing the limit keeps the compartment, its held permit and the endpoints.
    std::fs::write(
        &path,
        one.replace("max_concurrent: 1,", "max_concurrent: 2,"),
    )
    .unwrap();
    assert!(matches!(
        sw.running.reload.reload().await,
        Outcome::Applied { .. }
    ));
    let after = sw.running.shared.load_full();
    let resized = &after.clusters["app"];
    assert!(
        Arc::ptr_eq(&resized.admission, &cluster.admission),
        "same compartment"
    );
    assert!(
        Arc::ptr_eq(&resized.endpoints, &cluster.endpoints),
        "same endpoint set"
    );
    assert_eq!(
        resized
            .admission
            .metrics()
            .in_flight
            .load(Ordering::Relaxed),
        1,
        "held permit kept"
    );
    assert_eq!(
        fetch(&sw.url("/")).await.status,
        200,
        "second slot usable at once"
    );
    assert_eq!(
        slow.await.unwrap(),
        200,
        "in-flight request finished across reloads"
    );
}

#[tokio::test]
async fn listeners_are_bound_and_drained_by_reload() {
    let up = Upstream::spawn("a").await;
    let base = basic_config(&[up.addr]);
    let sw = Seawall::start_from_file(&base).await;
    let path = sw.config_path.clone().unwrap();
    let extra = base.replace(
        "clusters:\n",
        "  - name: extra\n    address: 127.0.0.1:0\n    routes:\n      - { name: all, match: { path_prefix: / }, cluster: app }\nclusters:\n",
    );
    std::fs::write(&path, &extra).unwrap();
    assert!(matches!(
        sw.running.reload.reload().await,
        Outcome::Applied { .. }
    ));
    let addr = sw.running.listener("extra").expect("extra listener bound");
    assert_eq!(fetch(&format!("http://{addr}/")).await.status, 200);

    std::fs::write(&path, &base).unwrap();
    assert!(matches!(
        sw.running.reload.reload().await,
        Outcome::Applied { .. }
    ));
    assert!(sw.running.listener("extra").is_none());
    eventually("the removed listener refuses connections", || async {
        tokio::net::TcpStream::connect(addr).await.is_err()
    })
    .await;
    assert_eq!(
        fetch(&sw.url("/")).await.status,
        200,
        "the kept listener still serves"
    );
}

#[tokio::test]
async fn a_change_that_cannot_apply_live_is_rejected_by_name() {
    let up = Upstream::spawn("a").await;
    let base = basic_config(&[up.addr]);
    let sw = Seawall::start_from_file(&base).await;
    std::fs::write(
        sw.config_path.as_ref().unwrap(),
        base.replace("address: 127.0.0.1:0\nlog", "address: 127.0.0.1:1\nlog"),
    )
    .unwrap();
    let outcome = sw.running.reload.reload().await;
    let Outcome::Rejected(reason) = outcome else {
        panic!("{outcome:?}")
    };
    assert!(reason.contains("admin.address"), "{reason}");
    assert_eq!(generation(&sw), 1);
}

#[tokio::test]
async fn old_snapshots_are_released_after_reload() {
    let up = Upstream::spawn("a").await;
    let sw = Seawall::start_from_file(&variant(up.addr, 0)).await;
    let path = sw.config_path.clone().unwrap();
    assert_eq!(fetch(&sw.url("/")).await.status, 200);
    let old = Arc::downgrade(&sw.running.shared.load_full());
    std::fs::write(&path, variant(up.addr, 1)).unwrap();
    assert!(matches!(
        sw.running.reload.reload().await,
        Outcome::Applied { .. }
    ));
    assert_eq!(fetch(&sw.url("/")).await.status, 200);
    eventually("the replaced snapshot is dropped", || async {
        old.upgrade().is_none()
    })
    .await;
}

fn fd_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count()
}

#[tokio::test]
async fn memory_and_fds_return_to_baseline_after_many_reloads() {
    let up = Upstream::spawn("a").await;
    let yaml = |i| variant(up.addr, i).replace("level: warn", "level: info");
    let sw = SeawallProcess::spawn(&yaml(0));
    let reload = format!("http://{}/reload", sw.admin);
    let post = || common::send(http::Request::post(&reload).body(common::empty()).unwrap());
    // Warm up: one request and one reload, so pools and buffers exist.
    assert_eq!(fetch(&format!("http://{}/", sw.addr)).await.status, 200);
    std::fs::write(sw.config_path(), yaml(1)).unwrap();
    assert_eq!(post().await.unwrap().status, 200);
    let (fds, rss) = (fd_count(sw.pid()), sw.status_kib("VmRSS"));
    for i in 2..=101 {
        std::fs::write(sw.config_path(), yaml(i)).unwrap();
        let reply = post().await.unwrap();
        assert_eq!(reply.status, 200, "reload {i}: {}", reply.text());
        assert_eq!(fetch(&format!("http://{}/", sw.addr)).await.status, 200);
    }
    eventually("file descriptors back to baseline", || async {
        fd_count(sw.pid()) <= fds + 2
    })
    .await;
    let grown_kib = sw.status_kib("VmRSS").saturating_sub(rss);
    assert!(
        grown_kib < 8 * 1024,
        "RSS grew by {grown_kib} KiB over 100 reloads"
    );
}

#[tokio::test]
async fn an_open_breaker_stays_open_across_a_reload_that_does_not_touch_it() {
    let up = Upstream::spawn("a").await;
    up.set_config(serde_json::json!({"status": 503, "error_rate": 1.0}))
        .await;
    let yaml = basic_config(&[up.addr])
        + "    outlier: { consecutive_failures: 0 }\n    breaker: { consecutive_failures: 3, open_duration: 60s }\n";
    let sw = Seawall::start_from_file(&yaml).await;
    for _ in 0..3 {
        assert_eq!(fetch(&sw.url("/")).await.status, 503);
    }
    assert_eq!(
        fetch(&sw.url("/")).await.header("x-seawall-error"),
        Some("breaker-open")
    );

    let extra_route = "        cluster: app\n      - { name: extra, match: { path_prefix: /extra }, cluster: app }\n";
    std::fs::write(
        sw.config_path.as_ref().unwrap(),
        yaml.replacen("        cluster: app\n", extra_route, 1),
    )
    .unwrap();
    assert!(matches!(
        sw.running.reload.reload().await,
        Outcome::Applied { .. }
    ));
    up.reset_config().await;
    let rsp = fetch(&sw.url("/extra")).await;
    assert_eq!(
        rsp.header("x-seawall-error"),
        Some("breaker-open"),
        "still open after the reload"
    );
}

/// Serves `content` to every reader of the FIFO at `path` from `after` on,
/// until `stop` is set: a file whose reads block until then.
#[allow(clippy::disallowed_methods)] // a plain thread: it must not need the runtime
fn serve_fifo(path: std::path::PathBuf, content: String, after: Duration, stop: Arc<AtomicBool>) {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    std::thread::spawn(move || {
        std::thread::sleep(after);
        while !stop.load(Ordering::Relaxed) {
            // Non-blocking open fails (ENXIO) until a reader has it open.
            match std::fs::OpenOptions::new()
                .write(true)
                .custom_flags(libc::O_NONBLOCK)
                .open(&path)
            {
                Ok(mut fifo) => {
                    let _ = fifo.write_all(content.as_bytes());
                }
                Err(_) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
    });
}

/// The test runtime has one thread, as `--worker-threads 1` gives: a parse
/// that blocked it (here on a CA file that is a FIFO nobody writes yet)
/// would hold every request until the file could be read.
#[tokio::test]
async fn a_reload_blocked_on_reading_a_file_does_not_stall_requests() {
    let up = Upstream::spawn("a").await;
    let base = basic_config(&[up.addr]);
    let sw = Seawall::start_from_file(&base).await;
    let path = sw.config_path.clone().unwrap();
    let fifo = path.with_file_name("ca.fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let stop = Arc::new(AtomicBool::new(false));
    let blocked_for = Duration::from_secs(3);
    let ca = rcgen::generate_simple_self_signed(vec!["inner.test".into()]).unwrap();
    serve_fifo(fifo.clone(), ca.cert.pem(), blocked_for, stop.clone());
    let with_tls_cluster = format!(
        "{base}  - name: secure\n    endpoints: [\"127.0.0.1:9\"]\n    tls: {{ server_name: inner.test, ca: {} }}\n",
        fifo.display()
    );
    std::fs::write(&path, with_tls_cluster).unwrap();
    let reload = sw.running.reload.clone();
    let asked = tokio::spawn(async move { reload.reload().await });
    // Timed from here: a blocked runtime would not even end the sleep.
    let started = tokio::time::Instant::now();
    // The reload is now waiting on the FIFO; requests must not wait with it.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let reply = fetch(&sw.url("/")).await;
    let took = started.elapsed();
    assert_eq!(reply.status, 200);
    assert!(
        took < Duration::from_millis(1300),
        "a request waited {took:?} for the reload"
    );
    let outcome = asked.await.unwrap();
    stop.store(true, Ordering::Relaxed);
    assert!(
        matches!(outcome, Outcome::Applied { .. } | Outcome::Unchanged),
        "{outcome:?}"
    );
    wait_generation(&sw, 2).await;
}

fn reloads_tried(sw: &Seawall) -> u64 {
    sw.running
        .reload
        .status()
        .counts()
        .iter()
        .map(|(_, n)| n)
        .sum()
}

/// A log (or anything else) written next to the config file is not a
/// config change: writing it must not reload, or a log that records each
/// reload would reload forever.
#[tokio::test]
async fn other_files_in_the_config_directory_do_not_trigger_reloads() {
    let up = Upstream::spawn("a").await;
    let base = basic_config(&[up.addr]);
    let sw = Seawall::start_from_file(&base).await;
    let path = sw.config_path.clone().unwrap();
    let log = path.with_file_name("seawall.log");
    for i in 0..20 {
        std::fs::write(&log, format!("line {i}\n")).unwrap();
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(reloads_tried(&sw), 0, "a write to another file reloaded");
    // The config file itself still does.
    std::fs::write(&path, variant(up.addr, 1)).unwrap();
    wait_generation(&sw, 2).await;
}
