//! `cargo xtask bench <name>`: benchmarks measured side by side in one run
//! on the local cluster, printing medians and ratios. Each bench is
//! bounded in count and time and talks only to loopback.
//!
//! Environment (set by xtask): CORRAL_TEST_KUBECONFIG, CORRAL_TEST_KUBECTL,
//! CORRAL_TEST_ROOTFS_DIR, CORRAL_BENCH_CORRAL (the corral binary).

#![allow(clippy::unwrap_used, missing_docs)]

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use corral_core::service::{CtService, WaitFor};
use corral_core::{CreateCtInput, CreateCtRequest, CtSpec};
use corral_k8s::KubeCt;
use futures::{SinkExt, StreamExt, stream};
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod, Service};
use kube::api::PostParams;

fn env(name: &str) -> PathBuf {
    std::env::var_os(name)
        .map(PathBuf::from)
        .unwrap_or_else(|| panic!("{name} is not set; run through `cargo xtask bench`"))
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

/// Runs a command under /usr/bin/time; returns (seconds, peak RSS KiB, stdout bytes).
fn timed(cmd: &mut Command) -> (f64, u64, usize) {
    let started = Instant::now();
    let out = cmd.stdin(Stdio::null()).output().unwrap();
    let secs = started.elapsed().as_secs_f64();
    assert!(
        out.status.success(),
        "{:?}: {}",
        cmd,
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    let rss = err
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("corral-bench-rss="))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    (secs, rss, out.stdout.len())
}

fn with_time(program: &PathBuf) -> Command {
    let mut c = Command::new("/usr/bin/time");
    c.args(["-f", "corral-bench-rss=%M"]).arg(program);
    c
}

/// A kube client that counts the requests it sends.
async fn counting_client(counter: Arc<AtomicU64>) -> kube::Client {
    let config = corral_k8s::client::load_config(&corral_k8s::ClusterTarget {
        kubeconfig: Some(env("CORRAL_TEST_KUBECONFIG")),
        context: None,
    })
    .await
    .unwrap();
    let layer = tower::util::MapRequestLayer::new(move |r: http::Request<kube::client::Body>| {
        counter.fetch_add(1, Ordering::Relaxed);
        r
    });
    kube::client::ClientBuilder::try_from(config)
        .unwrap()
        .with_layer(&layer)
        .build()
}

fn kubectl(args: &[&str]) -> String {
    let out = Command::new(env("CORRAL_TEST_KUBECTL"))
        .arg("--kubeconfig")
        .arg(env("CORRAL_TEST_KUBECONFIG"))
        .args(args)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn spec(ns: &str, name: &str) -> CtSpec {
    CreateCtRequest::validate(&CreateCtInput {
        namespace: ns.into(),
        name: name.into(),
        image: "alpine".into(),
        memory: Some("64Mi".into()),
        disk: Some("1Gi".into()),
        cpu: Some("10m".into()),
        ..Default::default()
    })
    .unwrap()
    .spec
}

/// Makes `n` CTs quickly with raw creates (setup, not measured).
async fn populate(client: &kube::Client, ns: &str, n: usize) {
    kubectl(&["create", "namespace", ns]);
    let started = Instant::now();
    stream::iter(0..n)
        .for_each_concurrent(32, |i| {
            let client = client.clone();
            async move {
                raw_create(&client, &spec(ns, &format!("ct{i:05}")), true).await;
            }
        })
        .await;
    eprintln!(
        "  populated {n} CTs in {ns} in {:.1}s",
        started.elapsed().as_secs_f64()
    );
}

/// A namespace with `n` CTs, and whether to keep it afterwards.
/// CORRAL_BENCH_KEEP=1 keeps it and reuses it next time (populating 10,000
/// CTs takes about 20 minutes here); `api-list` and `ui` share it.
async fn populated(client: &kube::Client, n: usize) -> (String, bool) {
    let keep = std::env::var_os("CORRAL_BENCH_KEEP").is_some();
    let ns = if keep {
        format!("bench-api-{n}")
    } else {
        format!("bench-api-{n}-{}", std::process::id())
    };
    let have = kube::Api::<PersistentVolumeClaim>::namespaced(client.clone(), &ns)
        .list_metadata(&kube::api::ListParams::default())
        .await
        .map(|l| l.items.len())
        .unwrap_or(0);
    if keep && have == n {
        eprintln!("  reusing {ns} with {n} CTs");
    } else {
        populate(client, &ns, n).await;
    }
    (ns, keep)
}

/// The same objects corral makes, created directly (the baseline).
async fn raw_create(client: &kube::Client, s: &CtSpec, complete: bool) {
    let ns = s.id.namespace.as_str();
    let mut pvc = corral_k8s::render::claim(s);
    if complete {
        pvc.metadata
            .annotations
            .as_mut()
            .unwrap()
            .insert("corral.dev/create".into(), "complete".into());
    }
    let pp = PostParams::default();
    kube::Api::<PersistentVolumeClaim>::namespaced(client.clone(), ns)
        .create(&pp, &pvc)
        .await
        .unwrap();
    kube::Api::<Service>::namespaced(client.clone(), ns)
        .create(&pp, &corral_k8s::render::service(s))
        .await
        .unwrap();
    kube::Api::<Pod>::namespaced(client.clone(), ns)
        .create(&pp, &corral_k8s::render::pod(s))
        .await
        .unwrap();
}

fn drop_ns(ns: &str) {
    kubectl(&["delete", "namespace", ns, "--wait=false"]);
}

async fn bench_list(sizes: &[usize]) {
    let client = counting_client(Arc::new(AtomicU64::new(0))).await;
    let corral = env("CORRAL_BENCH_CORRAL");
    let kubectl_bin = env("CORRAL_TEST_KUBECTL");
    let kc = env("CORRAL_TEST_KUBECONFIG");
    println!(
        "\n## list: `corral ct list -o json` vs `kubectl get pods,pvc,svc -l <corral labels> -o json` (5 runs each, median)\n"
    );
    println!(
        "| CTs | corral s | kubectl s | ratio (corral/kubectl) | corral peak RSS MiB | kubectl peak RSS MiB |"
    );
    println!("|---|---|---|---|---|---|");
    for &n in sizes {
        let ns = format!("bench-list-{n}-{}", std::process::id());
        populate(&client, &ns, n).await;
        let (mut ct, mut kt, mut cr, mut kr) = (vec![], vec![], vec![], vec![]);
        for _ in 0..5 {
            let (s, rss, bytes) = timed(
                with_time(&corral)
                    .arg("--kubeconfig")
                    .arg(&kc)
                    .args(["-n", &ns, "ct", "list", "-o", "json"]),
            );
            assert!(bytes > n * 100, "corral listed too little");
            ct.push(s);
            cr.push(rss as f64 / 1024.0);
            let (s, rss, _) = timed(with_time(&kubectl_bin).arg("--kubeconfig").arg(&kc).args([
                "get",
                "pods,pvc,svc",
                "-n",
                &ns,
                "-l",
                "app.kubernetes.io/managed-by=corral,corral.dev/kind=ct",
                "-o",
                "json",
            ]));
            kt.push(s);
            kr.push(rss as f64 / 1024.0);
        }
        let (c, k) = (median(&mut ct), median(&mut kt));
        println!(
            "| {n} | {c:.3} | {k:.3} | {:.2} | {:.0} | {:.0} |",
            c / k,
            median(&mut cr),
            median(&mut kr)
        );
        drop_ns(&ns);
    }
}

async fn bench_create_startstop(n_create: usize, n_ss: usize) {
    let corral_count = Arc::new(AtomicU64::new(0));
    let raw_count = Arc::new(AtomicU64::new(0));
    let corral_client = counting_client(corral_count.clone()).await;
    let raw_client = counting_client(raw_count.clone()).await;
    let svc = CtService::new(Arc::new(KubeCt::new(corral_client)));
    let (ns_c, ns_r) = (
        format!("bench-create-corral-{}", std::process::id()),
        format!("bench-create-raw-{}", std::process::id()),
    );
    let (ns_c, ns_r) = (ns_c.as_str(), ns_r.as_str());
    kubectl(&["create", "namespace", ns_c]);
    kubectl(&["create", "namespace", ns_r]);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let started = Instant::now();
    stream::iter(0..n_create)
        .for_each_concurrent(16, |i| {
            let svc = svc.clone();
            async move {
                let req = CreateCtRequest {
                    spec: spec(ns_c, &format!("ct{i:05}")),
                    warnings: vec![],
                };
                svc.create(&req).await.unwrap();
            }
        })
        .await;
    let corral_s = started.elapsed().as_secs_f64();
    let corral_reqs = corral_count.swap(0, Ordering::Relaxed);
    let started = Instant::now();
    stream::iter(0..n_create)
        .for_each_concurrent(16, |i| {
            let c = raw_client.clone();
            async move { raw_create(&c, &spec(ns_r, &format!("ct{i:05}")), true).await }
        })
        .await;
    let raw_s = started.elapsed().as_secs_f64();
    let raw_reqs = raw_count.load(Ordering::Relaxed);
    println!(
        "\n## create: {n_create} CTs at concurrency 16, corral's service layer vs the raw kube client creating the same objects\n"
    );
    println!("| | CTs/s | apiserver requests per CT |");
    println!("|---|---|---|");
    println!(
        "| corral (CtService::create) | {:.1} | {:.1} |",
        n_create as f64 / corral_s,
        corral_reqs as f64 / n_create as f64
    );
    println!(
        "| raw kube creates | {:.1} | {:.1} |",
        n_create as f64 / raw_s,
        raw_reqs as f64 / n_create as f64
    );
    println!(
        "\noverhead ratio (corral time / raw time): {:.2}",
        corral_s / raw_s
    );

    // start/stop of the first n_ss CTs, waited for with watches.
    let ids: Vec<_> = (0..n_ss)
        .map(|i| spec(ns_c, &format!("ct{i:05}")).id)
        .collect();
    let wait_all = |want: WaitFor| {
        let svc = svc.clone();
        let ids = ids.clone();
        async move {
            stream::iter(ids)
                .for_each_concurrent(16, |id| {
                    let svc = svc.clone();
                    async move {
                        svc.wait(&id, want, Duration::from_secs(300), &mut |_, _, _| {})
                            .await
                            .unwrap()
                    }
                })
                .await
        }
    };
    wait_all(WaitFor::Running).await;
    corral_count.store(0, Ordering::Relaxed);
    let started = Instant::now();
    stream::iter(ids.clone())
        .for_each_concurrent(16, |id| {
            let svc = svc.clone();
            async move { svc.stop(&id).await.unwrap() }
        })
        .await;
    wait_all(WaitFor::Stopped).await;
    let stop_s = started.elapsed().as_secs_f64();
    let stop_reqs = corral_count.swap(0, Ordering::Relaxed);
    let started = Instant::now();
    stream::iter(ids.clone())
        .for_each_concurrent(16, |id| {
            let svc = svc.clone();
            async move { svc.start(&id).await.unwrap() }
        })
        .await;
    wait_all(WaitFor::Running).await;
    let start_s = started.elapsed().as_secs_f64();
    let start_reqs = corral_count.swap(0, Ordering::Relaxed);
    println!(
        "\n## startstop: stop then start {n_ss} CTs (concurrency 16), each waited for with watches\n"
    );
    println!("| | wall s | apiserver requests per CT (action + wait) |");
    println!("|---|---|---|");
    println!(
        "| stop + wait Stopped | {stop_s:.1} | {:.1} |",
        stop_reqs as f64 / n_ss as f64
    );
    println!(
        "| start + wait Running | {start_s:.1} | {:.1} |",
        start_reqs as f64 / n_ss as f64
    );
    drop_ns(ns_c);
    drop_ns(ns_r);
}

/// Echo round trips through a line-buffered `cat` over piped stdin/stdout.
fn pipe_rtt(mut cmd: Command, rounds: usize) -> Vec<f64> {
    use std::io::{Read, Write};
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut v = Vec::new();
    let mut buf = [0u8; 2];
    // Warm up: the first round includes session setup.
    stdin.write_all(b"x\n").unwrap();
    stdout.read_exact(&mut buf).unwrap();
    for _ in 0..rounds {
        let t = Instant::now();
        stdin.write_all(b"x\n").unwrap();
        stdin.flush().unwrap();
        stdout.read_exact(&mut buf).unwrap();
        v.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    drop(stdin);
    let _ = child.kill();
    let _ = child.wait();
    v
}

async fn bench_console(mib: usize, rounds: usize) {
    let corral = env("CORRAL_BENCH_CORRAL");
    let kubectl_bin = env("CORRAL_TEST_KUBECTL");
    let kc = env("CORRAL_TEST_KUBECONFIG");
    let ns = format!("bench-console-{}", std::process::id());
    let ns = ns.as_str();
    kubectl(&["create", "namespace", ns]);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let st = Command::new(&corral)
        .arg("--kubeconfig")
        .arg(&kc)
        .args([
            "-n", ns, "ct", "create", "box", "--image", "alpine", "--wait",
        ])
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    let script = format!("head -c {} /dev/zero", mib * 1024 * 1024);
    let (mut c, mut k) = (vec![], vec![]);
    for _ in 0..3 {
        let (s, _, bytes) = timed(
            Command::new(&corral)
                .arg("--kubeconfig")
                .arg(&kc)
                .args(["-n", ns, "ct", "exec", "box", "--", "sh", "-c", &script]),
        );
        assert_eq!(bytes, mib * 1024 * 1024);
        c.push(mib as f64 / s);
        let (s, _, bytes) = timed(
            Command::new(&kubectl_bin)
                .arg("--kubeconfig")
                .arg(&kc)
                .args(["exec", "-n", ns, "box", "--", "sh", "-c", &script]),
        );
        assert_eq!(bytes, mib * 1024 * 1024);
        k.push(mib as f64 / s);
    }
    let (cm, km) = (median(&mut c), median(&mut k));
    let mut cmd = Command::new(&corral);
    cmd.arg("--kubeconfig")
        .arg(&kc)
        .args(["-n", ns, "ct", "exec", "-i", "box", "--", "cat"]);
    let mut crt = pipe_rtt(cmd, rounds);
    let mut cmd = Command::new(&kubectl_bin);
    cmd.arg("--kubeconfig")
        .arg(&kc)
        .args(["exec", "-i", "-n", ns, "box", "--", "cat"]);
    let mut krt = pipe_rtt(cmd, rounds);
    let mut wrt = ws_rtt(&corral, &kc, ns, rounds).await;
    println!("\n## console: `corral ct exec` and `/api/tty` vs `kubectl exec` on the same pod\n");
    println!("| | throughput MiB/s ({mib} MiB, median of 3) | round trip p50 ms | p99 ms |");
    println!("|---|---|---|---|");
    println!(
        "| corral ct exec | {cm:.1} | {:.2} | {:.2} |",
        median(&mut crt),
        pct(&mut crt, 0.99)
    );
    println!(
        "| kubectl exec | {km:.1} | {:.2} | {:.2} |",
        median(&mut krt),
        pct(&mut krt, 0.99)
    );
    println!(
        "| /api/tty websocket (tty echo) | - | {:.2} | {:.2} |",
        median(&mut wrt),
        pct(&mut wrt, 0.99)
    );
    println!(
        "\nthroughput ratio corral/kubectl: {:.2}; round-trip ratio corral/kubectl (p50): {:.2}",
        cm / km,
        median(&mut crt) / median(&mut krt)
    );
    drop_ns(ns);
}

/// Starts `corral serve` on a free loopback port; returns it and its address.
fn serve(
    corral: &PathBuf,
    kc: &PathBuf,
    extra: &[&std::ffi::OsStr],
) -> (std::process::Child, String) {
    use std::io::BufRead;
    let mut server = Command::new(corral)
        .arg("--kubeconfig")
        .arg(kc)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(extra)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(server.stderr.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .split("http://")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    (server, addr)
}

/// A token of the local cluster's admin ServiceAccount.
fn admin_token() -> String {
    kubectl(&["create", "token", "corral-admin-sa", "-n", "kube-system"])
        .trim()
        .to_string()
}

/// Keystroke round trips through `corral serve`'s websocket console.
async fn ws_rtt(corral: &PathBuf, kc: &PathBuf, ns: &str, rounds: usize) -> Vec<f64> {
    use tokio_tungstenite::tungstenite::Message;
    let (mut server, addr) = serve(corral, kc, &[]);
    let token = admin_token();
    let mut req = tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
        format!("ws://{addr}/api/tty/{ns}/box"),
    )
    .unwrap();
    req.headers_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    // Let the shell print its prompt, then measure echo of single keystrokes.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    while let Ok(Some(_)) = tokio::time::timeout(Duration::from_millis(200), ws.next()).await {}
    let mut v = Vec::new();
    for _ in 0..rounds {
        let t = Instant::now();
        ws.send(Message::Binary(b"a".to_vec().into()))
            .await
            .unwrap();
        loop {
            match ws.next().await {
                Some(Ok(Message::Binary(b))) if b.contains(&b'a') => break,
                Some(Ok(_)) => continue,
                _ => panic!("console closed"),
            }
        }
        v.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let _ = ws.close(None).await;
    let _ = server.kill();
    let _ = server.wait();
    v
}

/// One HTTP/1.1 GET over a fresh loopback connection; returns (status, ms).
async fn http_get(addr: &str, path: &str, token: &str) -> (u16, f64) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let t = Instant::now();
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.unwrap();
    let status = std::str::from_utf8(&buf[..12.min(buf.len())])
        .ok()
        .and_then(|l| l.get(9..12))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, t.elapsed().as_secs_f64() * 1000.0)
}

/// Runs `total` calls of `f` with `conc` in flight; returns latencies (ms), failures and requests/s.
async fn load<F, Fut>(total: usize, conc: usize, f: F) -> (Vec<f64>, usize, f64)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = (bool, f64)>,
{
    let started = Instant::now();
    let results: Vec<(bool, f64)> = stream::iter(0..total)
        .map(|_| f())
        .buffer_unordered(conc)
        .collect()
        .await;
    let rps = total as f64 / started.elapsed().as_secs_f64();
    let fails = results.iter().filter(|(ok, _)| !ok).count();
    (results.into_iter().map(|(_, ms)| ms).collect(), fails, rps)
}

async fn bench_api_list(n: usize, total: usize) {
    let client = counting_client(Arc::new(AtomicU64::new(0))).await;
    let (ns, keep) = populated(&client, n).await;
    let (mut server, addr) = serve(
        &env("CORRAL_BENCH_CORRAL"),
        &env("CORRAL_TEST_KUBECONFIG"),
        &[],
    );
    let token = admin_token();
    let path = format!("/api/v1/namespaces/{ns}/cts");
    let (_, warm) = http_get(&addr, &path, &token).await;
    eprintln!("  first API list: {warm:.0} ms");
    let (mut api, api_fail, api_rps) = load(total, 16, || async {
        let (st, ms) = http_get(&addr, &path, &token).await;
        (st == 200, ms)
    })
    .await;
    let sel = "app.kubernetes.io/managed-by=corral,corral.dev/kind=ct";
    let (mut direct, direct_fail, direct_rps) = load(total, 16, || {
        let client = client.clone();
        let ns = ns.clone();
        async move {
            let t = Instant::now();
            let lp = kube::api::ListParams::default().labels(sel);
            let (a, b, c) = (
                kube::Api::<PersistentVolumeClaim>::namespaced(client.clone(), &ns),
                kube::Api::<Pod>::namespaced(client.clone(), &ns),
                kube::Api::<Service>::namespaced(client.clone(), &ns),
            );
            let r = futures::try_join!(a.list(&lp), b.list(&lp), c.list(&lp));
            (r.is_ok(), t.elapsed().as_secs_f64() * 1000.0)
        }
    })
    .await;
    let (mut heavy, heavy_fail, heavy_rps) = load(total, 50, || async {
        let (st, ms) = http_get(&addr, &path, &token).await;
        (st == 200, ms)
    })
    .await;
    println!(
        "\n## api-list: `GET {path}` with {n} CTs, {total} requests, vs a direct apiserver list of the same pods, claims and services\n"
    );
    println!("| | clients | requests/s | p50 ms | p99 ms | failures |");
    println!("|---|---|---|---|---|---|");
    println!(
        "| corral-api | 16 | {api_rps:.1} | {:.1} | {:.1} | {api_fail} |",
        median(&mut api),
        pct(&mut api, 0.99)
    );
    println!(
        "| direct apiserver (kube client, 3 lists) | 16 | {direct_rps:.1} | {:.1} | {:.1} | {direct_fail} |",
        median(&mut direct),
        pct(&mut direct, 0.99)
    );
    println!(
        "| corral-api (load test) | 50 | {heavy_rps:.1} | {:.1} | {:.1} | {heavy_fail} |",
        median(&mut heavy),
        pct(&mut heavy, 0.99)
    );
    println!(
        "\nratio corral-api/direct requests/s at 16 clients: {:.2}",
        api_rps / direct_rps
    );
    // Peak memory of `corral serve` (its list cache included).
    let hwm = std::fs::read_to_string(format!("/proc/{}/status", server.id()))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .unwrap_or(0);
    println!("corral serve peak RSS: {} MiB", hwm / 1024);
    let _ = server.kill();
    let _ = server.wait();
    if !keep {
        drop_ns(&ns);
    }
    assert_eq!(
        api_fail + heavy_fail,
        0,
        "the API failed requests under load"
    );
}

/// The web UI in headless Chromium against `corral serve` with `n` CTs in
/// one namespace (web/tests/scale.mjs).
async fn bench_ui(n: usize) {
    let client = counting_client(Arc::new(AtomicU64::new(0))).await;
    let (ns, keep) = populated(&client, n).await;
    // Stop and Start are timed from Running: wait (up to ten minutes) for
    // every CT to get there — volumes bind one after another, and at 10,000
    // that can take longer; the count measured with is printed.
    // (A count every 5 s: `kubectl wait --all` takes minutes over 10,000 pods.)
    let t = Instant::now();
    let pods = kube::Api::<Pod>::namespaced(client.clone(), &ns);
    let lp = kube::api::ListParams::default().fields("status.phase=Running");
    let mut running = 0;
    while t.elapsed() < Duration::from_secs(600) {
        running = pods
            .list_metadata(&lp)
            .await
            .map(|l| l.items.len())
            .unwrap_or(0);
        if running == n {
            break;
        }
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
    eprintln!(
        "  {running} of {n} CTs Running after {:.0}s",
        t.elapsed().as_secs_f64()
    );
    let ui = env("CORRAL_TEST_UI_DIR");
    let (mut server, addr) = serve(
        &env("CORRAL_BENCH_CORRAL"),
        &env("CORRAL_TEST_KUBECONFIG"),
        &["--ui-dir".as_ref(), ui.as_os_str()],
    );
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = Command::new("node")
        .arg(root.join("web/tests/scale.mjs"))
        .env("BASE", format!("http://{addr}/"))
        .env("TOKEN", admin_token())
        .env("NS", &ns)
        .env("N", n.to_string())
        .env("CHROMIUM", "/usr/bin/chromium")
        .output()
        .unwrap();
    let _ = server.kill();
    let _ = server.wait();
    if !keep {
        drop_ns(&ns);
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the UI bench failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: serde_json::Value = stdout
        .lines()
        .find_map(|l| l.strip_prefix("ui-bench "))
        .and_then(|j| serde_json::from_str(j).ok())
        .expect("a ui-bench line");
    let mut loads: Vec<f64> = r["load_ms"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(serde_json::Value::as_f64)
        .collect();
    println!(
        "\n## ui: the web UI (headless Chromium) with {n} CTs in one namespace, through `corral serve`\n"
    );
    println!("| step | ms |");
    println!("|---|---|");
    println!(
        "| sign in → all {n} CTs in the tree (median of 3 page loads) | {:.0} |",
        median(&mut loads)
    );
    println!(
        "| scroll a node's list to its end → last row drawn | {} |",
        r["scroll_ms"]
    );
    println!("| click Stop → tree shows Stopped | {} |", r["stop_ms"]);
    println!("| click Start → tree shows Running | {} |", r["start_ms"]);
    println!(
        "\nguest rows in the DOM: {}; CTs Running when measured: {running} of {n}",
        r["dom_rows"]
    );
}

fn bench_rootfs() {
    use corral_tests::podrun::{Ct, ok, sh};
    let dir = env("CORRAL_TEST_ROOTFS_DIR");
    let image = dir.join("debian-bookworm");
    let ct = Ct::new(&image);
    let t = Instant::now();
    let (out, _) = ct.seed();
    ok(&out);
    let seed_s = t.elapsed().as_secs_f64();
    let du = |p: &PathBuf| {
        ok(&sh(&format!("du -sb {} | cut -f1", p.display())))
            .trim()
            .parse::<u64>()
            .unwrap()
    };
    let (img, vol) = (du(&image), du(&ct.volume));
    let start_times = |n: usize| -> f64 {
        let mut v: Vec<f64> = (0..n)
            .map(|_| {
                let t = Instant::now();
                let (seed, _) = ct.seed();
                ok(&seed);
                let m = ct.start();
                let s = t.elapsed().as_secs_f64();
                m.stop();
                s
            })
            .collect();
        median(&mut v)
    };
    let before = start_times(5);
    ok(&sh(&format!(
        "mkdir -p {0}/var/ballast && for i in $(seq 1 256); do head -c 1048576 /dev/urandom > {0}/var/ballast/f$i; done",
        ct.volume.display()
    )));
    let after = start_times(5);
    println!("\n## rootfs: privileged first boot and restart on Debian bookworm (minbase)\n");
    println!("| measure | value |");
    println!("|---|---|");
    println!("| image size | {:.0} MiB |", img as f64 / 1048576.0);
    println!("| first boot seed (cp -a --one-file-system) | {seed_s:.2} s |");
    println!("| volume after seed | {:.0} MiB |", vol as f64 / 1048576.0);
    println!(
        "| start of a seeded CT (seed check + main chrooted), median of 5 | {:.3} s |",
        before
    );
    println!("| same with 256 MiB more on the volume | {:.3} s |", after);
}

/// How many of a kind are left in a namespace (one paged LIST, limit 1).
async fn left<K>(client: &kube::Client, ns: &str) -> usize
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
    K::DynamicType: Default,
{
    let lp = kube::api::ListParams::default()
        .labels("app.kubernetes.io/managed-by=corral")
        .limit(1);
    let l = kube::Api::<K>::namespaced(client.clone(), ns)
        .list_metadata(&lp)
        .await
        .unwrap();
    l.items.len() + usize::from(l.metadata.continue_.is_some_and(|c| !c.is_empty()))
}

/// Creates `n` CTs through corral's service layer, lists them, deletes them
/// all, and waits until nothing is left: no pod, claim, Service or
/// PersistentVolume of the namespace.
async fn bench_scale(n: usize) {
    let count = Arc::new(AtomicU64::new(0));
    let client = counting_client(count.clone()).await;
    let svc = CtService::new(Arc::new(KubeCt::new(client.clone())));
    let ns = format!("bench-scale-{}", std::process::id());
    kubectl(&["create", "namespace", &ns]);
    tokio::time::sleep(Duration::from_secs(2)).await;
    println!(
        "\n## scale: {n} CTs created, listed and deleted through corral's service layer (concurrency 32)\n"
    );
    println!("| step | wall s | CTs/s | apiserver requests per CT |");
    println!("|---|---|---|---|");
    let per = |r: u64| r as f64 / n as f64;
    let ids: Vec<_> = (0..n).map(|i| spec(&ns, &format!("ct{i:05}")).id).collect();
    let started = Instant::now();
    stream::iter(0..n)
        .for_each_concurrent(32, |i| {
            let (svc, ns) = (svc.clone(), ns.clone());
            async move {
                let req = CreateCtRequest {
                    spec: spec(&ns, &format!("ct{i:05}")),
                    warnings: vec![],
                };
                svc.create(&req).await.unwrap();
            }
        })
        .await;
    let create_s = started.elapsed().as_secs_f64();
    let create_reqs = count.swap(0, Ordering::Relaxed);
    println!(
        "| create | {create_s:.1} | {:.1} | {:.1} |",
        n as f64 / create_s,
        per(create_reqs)
    );
    let started = Instant::now();
    let listed = svc
        .list(Some(corral_core::Namespace::new(ns.clone()).unwrap()))
        .await
        .unwrap()
        .len();
    let list_s = started.elapsed().as_secs_f64();
    let list_reqs = count.swap(0, Ordering::Relaxed);
    assert_eq!(listed, n, "list saw {listed} of {n} CTs");
    println!("| list (one call, {listed} CTs) | {list_s:.2} | - | {list_reqs} requests in all |");
    let started = Instant::now();
    stream::iter(ids)
        .for_each_concurrent(32, |id| {
            let svc = svc.clone();
            async move { svc.delete(&id).await.unwrap() }
        })
        .await;
    let delete_s = started.elapsed().as_secs_f64();
    let delete_reqs = count.swap(0, Ordering::Relaxed);
    println!(
        "| delete | {delete_s:.1} | {:.1} | {:.1} |",
        n as f64 / delete_s,
        per(delete_reqs)
    );
    // Deletes are asynchronous in Kubernetes: wait (watch-free polling of
    // four limit=1 lists a second, outside what is measured above) until
    // every object and volume is gone.
    let pvs = kube::Api::<k8s_openapi::api::core::v1::PersistentVolume>::all(client.clone());
    let remaining = loop {
        let pv_left = pvs
            .list(&Default::default())
            .await
            .unwrap()
            .items
            .iter()
            .filter(|pv| {
                pv.spec
                    .as_ref()
                    .and_then(|s| s.claim_ref.as_ref())
                    .and_then(|c| c.namespace.as_deref())
                    == Some(ns.as_str())
            })
            .count();
        let r = (
            left::<Pod>(&client, &ns).await,
            left::<PersistentVolumeClaim>(&client, &ns).await,
            left::<Service>(&client, &ns).await,
            pv_left,
        );
        if r == (0, 0, 0, 0) || started.elapsed() > Duration::from_secs(3600) {
            break r;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    let gone_s = started.elapsed().as_secs_f64();
    drop_ns(&ns);
    println!("| until nothing is left (pods, claims, Services, volumes) | {gone_s:.1} | - | - |");
    println!(
        "\nleft behind: {} pods, {} claims, {} Services, {} PersistentVolumes",
        remaining.0, remaining.1, remaining.2, remaining.3
    );
    assert_eq!(remaining, (0, 0, 0, 0), "objects left behind");
}

/// `corral` as admin; panics with its stderr on failure.
fn corral(args: &[&str]) -> String {
    let out = Command::new(env("CORRAL_BENCH_CORRAL"))
        .arg("--kubeconfig")
        .arg(env("CORRAL_TEST_KUBECONFIG"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "corral {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Seconds one `corral` command takes.
fn corral_secs(args: &[&str]) -> f64 {
    let t = Instant::now();
    corral(args);
    t.elapsed().as_secs_f64()
}

/// The real node: `ct create --wait` to Running (unprivileged; privileged
/// first boot, seed included) and `ct start --wait` of a seeded privileged
/// CT, each `n` times, through the `corral` binary.
fn bench_node(n: usize) {
    let node = std::env::var("CORRAL_TEST_REAL_NODE").expect("CORRAL_TEST_REAL_NODE");
    let ns = format!("bench-node-{}", std::process::id());
    kubectl(&["create", "namespace", &ns]);
    let mut unpriv = Vec::new();
    let mut first_boot = Vec::new();
    let mut start = Vec::new();
    let common = ["-n", ns.as_str(), "ct"];
    for i in 0..n {
        let (u, p) = (format!("u{i}"), format!("p{i}"));
        let create = |name: &str, extra: &[&str]| {
            let mut a: Vec<&str> = common.to_vec();
            a.extend_from_slice(&["create", name, "--node", &node, "--cpu", "250m", "--wait"]);
            a.extend_from_slice(extra);
            corral_secs(&a)
        };
        let delete = |name: &str| {
            let mut d: Vec<&str> = common.to_vec();
            d.extend_from_slice(&["delete", name, "--yes", "--wait"]);
            corral(&d);
        };
        // One CT at a time, so none waits for the node's CPU.
        unpriv.push(create(&u, &["--image", "busybox:1.36"]));
        delete(&u);
        first_boot.push(create(
            &p,
            &[
                "--image",
                "docker.io/library/debian:bookworm",
                "--privileged",
            ],
        ));
        for _ in 0..2 {
            let mut stop: Vec<&str> = common.to_vec();
            stop.extend_from_slice(&["stop", &p, "--wait"]);
            corral(&stop);
            let mut st: Vec<&str> = common.to_vec();
            st.extend_from_slice(&["start", &p, "--wait"]);
            start.push(corral_secs(&st));
        }
        delete(&p);
        // The next round starts when the volumes' folders are removed, not
        // while the disk is still busy deleting this round's 200 MiB.
        let t = Instant::now();
        while kubectl(&[
            "get",
            "pv",
            "-o",
            "jsonpath={.items[*].spec.claimRef.namespace}",
        ])
        .contains(&ns)
        {
            assert!(
                t.elapsed() < Duration::from_secs(120),
                "volumes of {ns} never went"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    drop_ns(&ns);
    println!("\n## node: CTs as real pods on the real node ({n} of each)\n");
    println!("| measure | median | min | max |");
    println!("|---|---|---|---|");
    for (what, v) in [
        (
            "`ct create --wait`, unprivileged busybox, to Running",
            &mut unpriv,
        ),
        (
            "`ct create --wait`, privileged debian first boot (seed included), to Running",
            &mut first_boot,
        ),
        (
            "`ct start --wait` of a seeded privileged CT, to Running",
            &mut start,
        ),
    ] {
        let m = median(v);
        println!(
            "| {what} | {m:.2} s | {:.2} s | {:.2} s |",
            v.first().unwrap(),
            v.last().unwrap()
        );
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|a| a == "--quick");
    // `--size N`: run a bench at that one size only.
    let size: Option<usize> = args
        .iter()
        .position(|a| a == "--size")
        .and_then(|i| args.get(i + 1))
        .map(|v| v.parse().expect("--size takes a number of CTs"));
    let name = args.first().map(String::as_str).unwrap_or("");
    println!(
        "# corral bench `{name}`{} — {}",
        if quick { " (quick)" } else { "" },
        Command::new("date")
            .arg("-u")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default()
    );
    match name {
        "list" => bench_list(if quick { &[50] } else { &[1000, 10000] }).await,
        "create" | "startstop" => {
            if quick {
                bench_create_startstop(20, 10).await
            } else {
                bench_create_startstop(500, 200).await
            }
        }
        "console" => bench_console(if quick { 8 } else { 64 }, if quick { 20 } else { 200 }).await,
        "rootfs" => bench_rootfs(),
        "node" => bench_node(if quick { 1 } else { 5 }),
        "scale" => bench_scale(if quick { 50 } else { 10_000 }).await,
        "ui" => bench_ui(size.unwrap_or(if quick { 50 } else { 10_000 })).await,
        "api-list" => {
            if let Some(n) = size {
                bench_api_list(n, if n >= 10_000 { 64 } else { 400 }).await
            } else if quick {
                bench_api_list(50, 100).await
            } else {
                bench_api_list(1000, 400).await;
                bench_api_list(10_000, 64).await
            }
        }
        _ => {
            eprintln!(
                "usage: corral-bench list|api-list|create|startstop|console|rootfs|node|scale|ui [--quick] [--size N]"
            );
            std::process::exit(2);
        }
    }
}
