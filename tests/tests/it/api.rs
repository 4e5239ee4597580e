//! `corral serve` on the local cluster: REST as the caller, the websocket
//! console, VM/CT detection, and the in-cluster manifests.

use std::process::Command;

use futures::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::common::{Cluster, cluster, serve};

pub fn token(c: &Cluster, ns: &str, sa: &str) -> String {
    let r = c.kubectl(&["create", "token", sa, "-n", ns, "--duration=1h"]);
    assert_eq!(r.code, 0, "{r:?}");
    r.stdout.trim().to_string()
}

/// (status, body) of a curl request.
fn curl(
    method: &str,
    url: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> (u16, serde_json::Value) {
    let mut cmd = Command::new("curl");
    cmd.args(["-s", "-o", "-", "-w", "\n%{http_code}", "-X", method, url]);
    if let Some(t) = token {
        cmd.args(["-H", &format!("Authorization: Bearer {t}")]);
    }
    if let Some(b) = body {
        cmd.args(["-H", "Content-Type: application/json", "-d", b]);
    }
    let out = String::from_utf8(cmd.output().unwrap().stdout).unwrap();
    let (body, code) = out.rsplit_once('\n').unwrap();
    (
        code.parse().unwrap(),
        serde_json::from_str(body).unwrap_or(serde_json::Value::Null),
    )
}

#[test]
fn rest_api_acts_as_the_caller() {
    let Some(c) = cluster() else { return };
    let s = serve(&c, &[]);
    let ns = c.namespace("api", &[]);
    let base = format!("http://{}/api/v1", s.addr);
    let admin = token(&c, "kube-system", "corral-admin-sa");
    let dev = token(&c, "corral-dev", "corral-dev-sa");
    let n = ns.name.as_str();

    let (code, p) = curl("GET", &format!("{base}/namespaces/{n}/cts"), None, None);
    assert_eq!((code, p["code"].as_str()), (401, Some("unauthorized")));

    let (code, ct) = curl(
        "POST",
        &format!("{base}/namespaces/{n}/cts"),
        Some(&admin),
        Some(r#"{"name":"web1","image":"alpine","memory":"256Mi"}"#),
    );
    assert_eq!(code, 201, "{ct}");
    assert_eq!(ct["memory"], "256Mi");
    let (code, p) = curl(
        "POST",
        &format!("{base}/namespaces/{n}/cts"),
        Some(&admin),
        Some(r#"{"name":"web1","image":"alpine"}"#),
    );
    assert_eq!((code, p["code"].as_str()), (409, Some("conflict")), "{p}");
    let (code, p) = curl(
        "POST",
        &format!("{base}/namespaces/{n}/cts"),
        Some(&admin),
        Some(r#"{"name":"web2","image":"alpine","memory":"512"}"#),
    );
    assert_eq!((code, p["field"].as_str()), (400, Some("memory")), "{p}");

    let w = c.kubectl(&[
        "wait",
        "-n",
        n,
        "--for=condition=Ready",
        "pod/web1",
        "--timeout=60s",
    ]);
    assert_eq!(w.code, 0, "{w:?}");
    let (code, list) = curl(
        "GET",
        &format!("{base}/namespaces/{n}/cts"),
        Some(&admin),
        None,
    );
    assert_eq!(code, 200);
    assert_eq!(list["items"][0]["status"], "Running");
    let (code, tree) = curl(
        "GET",
        &format!("{base}/tree?namespace={n}"),
        Some(&admin),
        None,
    );
    assert_eq!(code, 200);
    let on_nodes: Vec<String> = tree["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|node| {
            node["guests"]
                .as_array()
                .unwrap()
                .iter()
                .map(|g| g["name"].as_str().unwrap().to_string())
        })
        .collect();
    assert_eq!(on_nodes, vec!["web1"], "{tree}");
    assert!(tree["cluster"].as_str().unwrap().contains("v1.36.3"));

    let (code, _) = curl(
        "POST",
        &format!("{base}/namespaces/{n}/cts/web1/stop"),
        Some(&admin),
        None,
    );
    assert_eq!(code, 202);
    let (code, p) = curl(
        "POST",
        &format!("{base}/namespaces/{n}/cts/web1/stop"),
        Some(&admin),
        None,
    );
    assert_eq!(code, 409, "{p}");

    // The non-admin token: its own namespace only; the message names verb and resource.
    let (code, _) = curl(
        "GET",
        &format!("{base}/namespaces/corral-dev/cts"),
        Some(&dev),
        None,
    );
    assert_eq!(code, 200);
    for (method, url, body) in [
        ("GET", format!("{base}/namespaces/{n}/cts"), None),
        ("GET", format!("{base}/cts"), None),
        (
            "POST",
            format!("{base}/namespaces/{n}/cts"),
            Some(r#"{"name":"sneaky","image":"alpine"}"#),
        ),
        (
            "POST",
            format!("{base}/tty-tickets"),
            Some(&*format!(r#"{{"namespace":"{n}","name":"web1"}}"#)),
        ),
    ] {
        let (code, p) = curl(method, &url, Some(&dev), body);
        assert_eq!(code, 403, "{method} {url}: {p}");
        let d = p["detail"].as_str().unwrap();
        assert!(d.contains("cannot") && d.contains("resource"), "{d}");
    }
    let (code, _) = curl(
        "DELETE",
        &format!("{base}/namespaces/{n}/cts/web1"),
        Some(&admin),
        None,
    );
    assert_eq!(code, 202);
}

/// Polls `f` every 100 ms for up to `secs`; true once it holds.
fn eventually(secs: u64, mut f: impl FnMut() -> bool) -> bool {
    let until = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while std::time::Instant::now() < until {
        if f() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    false
}

/// Lists are served from a watch-fed cache per caller: changes made behind
/// the API's back show up, the change feed ticks, and a caller whose right
/// to list is taken away is refused at once although its cache entry exists.
#[test]
fn api_lists_follow_the_cluster_and_the_callers_rights() {
    let Some(c) = cluster() else { return };
    let s = serve(&c, &[]);
    let ns = c.namespace("apicache", &[]);
    let n = ns.name.as_str();
    for args in [
        vec!["create", "serviceaccount", "reader", "-n", n],
        vec![
            "create",
            "rolebinding",
            "reader",
            "-n",
            n,
            "--clusterrole=view",
            &*format!("--serviceaccount={n}:reader"),
        ],
    ] {
        let r = c.kubectl(&args);
        assert_eq!(r.code, 0, "{r:?}");
    }
    let reader = token(&c, n, "reader");
    let url = format!("http://{}/api/v1/namespaces/{n}/cts", s.addr);
    let names = |list: &serde_json::Value| -> Vec<(String, String)> {
        list["items"]
            .as_array()
            .map(|v| {
                v.iter()
                    .map(|i| {
                        let f = |k: &str| i[k].as_str().unwrap_or_default().to_string();
                        (f("name"), f("status"))
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    // RBAC may take a moment to see the new binding.
    assert!(eventually(10, || curl("GET", &url, Some(&reader), None).0 == 200));
    let (_, list) = curl("GET", &url, Some(&reader), None);
    assert_eq!(names(&list), vec![]);

    // Changes made with the CLI, not through the API, reach the cached list.
    let mut feed = Command::new("curl")
        .args(["-sN", "-H", &format!("Authorization: Bearer {reader}")])
        .arg(format!("http://{}/api/v1/watch?namespace={n}", s.addr))
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let feed_out = feed.stdout.take().unwrap();
    let ticks = std::thread::spawn(move || {
        use std::io::BufRead;
        std::io::BufReader::new(feed_out)
            .lines()
            .map_while(Result::ok)
            .find(|l| l == "data: changed")
            .is_some()
    });
    let r = c.corral(&["ct", "create", "w1", "-n", n, "--image", "alpine", "--wait"]);
    assert_eq!(r.code, 0, "{r:?}");
    let shows = |status: &str| {
        let want = vec![("w1".to_string(), status.to_string())];
        eventually(10, || {
            names(&curl("GET", &url, Some(&reader), None).1) == want
        })
    };
    assert!(
        shows("Running"),
        "w1 never showed Running in the API's list"
    );
    let _ = feed.kill();
    let _ = feed.wait();
    assert!(ticks.join().unwrap(), "the change feed never ticked");
    let r = c.corral(&["ct", "stop", "w1", "-n", n, "--wait"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        shows("Stopped"),
        "w1 never showed Stopped in the API's list"
    );

    // Taking the right away refuses the next list, cache or not.
    let r = c.kubectl(&["delete", "rolebinding", "reader", "-n", n]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        eventually(10, || curl("GET", &url, Some(&reader), None).0 == 403),
        "a caller without the right to list still got a list"
    );
    let (code, p) = curl("GET", &url, Some(&reader), None);
    assert_eq!((code, p["code"].as_str()), (403, Some("forbidden")), "{p}");
}

pub const VMI_CRD: &str = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: virtualmachineinstances.kubevirt.io}
spec:
  group: kubevirt.io
  names: {kind: VirtualMachineInstance, plural: virtualmachineinstances, singular: virtualmachineinstance, shortNames: [vmi]}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
"#;

async fn ws_connect(
    url: &str,
    origin: Option<&str>,
) -> Result<
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    u16,
> {
    let mut req = url.into_client_request().unwrap();
    if let Some(o) = origin {
        req.headers_mut().insert("origin", o.parse().unwrap());
    }
    match tokio_tungstenite::connect_async(req).await {
        Ok((s, _)) => Ok(s),
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => Err(r.status().as_u16()),
        Err(e) => panic!("{e}"),
    }
}

#[tokio::test]
async fn websocket_console_bridges_a_ct_and_checks_auth_origin_and_kind() {
    let Some(c) = cluster() else { return };
    let s = serve(&c, &[]);
    let ns = c.namespace("tty", &[]);
    let n = ns.name.clone();
    let admin = token(&c, "kube-system", "corral-admin-sa");
    let r = c.corral(&[
        "-n", &n, "ct", "create", "web1", "--image", "alpine", "--wait",
    ]);
    assert_eq!(r.code, 0, "{r:?}");
    let base = format!("http://{}", s.addr);
    let ticket = |t: &str| {
        let (code, j) = curl(
            "POST",
            &format!("{base}/api/v1/tty-tickets"),
            Some(t),
            Some(&format!(r#"{{"namespace":"{n}","name":"web1"}}"#)),
        );
        assert_eq!(code, 201, "{j}");
        j["ticket"].as_str().unwrap().to_string()
    };
    let origin = format!("http://{}", s.addr);
    let t = ticket(&admin);
    let url = format!("ws://{}/api/tty/{n}/web1?ticket={t}", s.addr);
    let mut ws = ws_connect(&url, Some(&origin)).await.unwrap();
    // A resize before the shell is ready is queued, then `stty size` sees it.
    ws.send(Message::Text(
        r#"{"type":"resize","cols":123,"rows":45}"#.into(),
    ))
    .await
    .unwrap();
    // Output first, exit after: kwok's pty copy may drop what a shell prints
    // in the instant it exits, so the checked output is read before `exit`.
    ws.send(Message::Binary(
        b"stty size; echo corral-$((40+2))\n".to_vec().into(),
    ))
    .await
    .unwrap();
    let mut out = Vec::new();
    let mut end = None;
    let mut sent_exit = false;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    while let Ok(Some(Ok(m))) = tokio::time::timeout_at(deadline, ws.next()).await {
        match m {
            Message::Binary(b) => out.extend_from_slice(&b),
            Message::Text(t) => end = Some(serde_json::from_str::<serde_json::Value>(&t).unwrap()),
            Message::Close(_) => break,
            _ => {}
        }
        if !sent_exit && String::from_utf8_lossy(&out).contains("corral-42") {
            ws.send(Message::Binary(b"exit\n".to_vec().into()))
                .await
                .unwrap();
            sent_exit = true;
        }
    }
    let text = String::from_utf8_lossy(&out);
    assert!(
        text.contains("45 123"),
        "resize did not reach the remote side: {text:?}"
    );
    assert!(text.contains("corral-42"), "{text:?}");
    assert_eq!(end.unwrap()["type"], "exit");

    // The same ticket again, a bad Origin, no credentials.
    assert_eq!(ws_connect(&url, Some(&origin)).await.err(), Some(401));
    let t2 = ticket(&admin);
    let bad_origin = format!("ws://{}/api/tty/{n}/web1?ticket={t2}", s.addr);
    assert_eq!(
        ws_connect(&bad_origin, Some("http://evil.example"))
            .await
            .err(),
        Some(403)
    );
    assert_eq!(
        ws_connect(&format!("ws://{}/api/tty/{n}/web1", s.addr), None)
            .await
            .err(),
        Some(401)
    );

    // VM vs CT by name, with the KubeVirt CRD installed.
    let f = std::env::temp_dir().join("corral-vmi-crd.yaml");
    std::fs::write(&f, VMI_CRD).unwrap();
    assert_eq!(c.kubectl(&["apply", "-f", f.to_str().unwrap()]).code, 0);
    let est = c.kubectl(&[
        "wait",
        "--for=condition=Established",
        "crd/virtualmachineinstances.kubevirt.io",
        "--timeout=30s",
    ]);
    assert_eq!(est.code, 0, "{est:?}");
    let vmi = std::env::temp_dir().join(format!("corral-vmi-{n}.yaml"));
    std::fs::write(&vmi, "apiVersion: kubevirt.io/v1\nkind: VirtualMachineInstance\nmetadata: {name: vm1}\nspec: {}\n").unwrap();
    assert_eq!(
        c.kubectl(&["apply", "-n", &n, "-f", vmi.to_str().unwrap()])
            .code,
        0
    );
    let with_bearer = |name: &str| {
        let mut req = format!("ws://{}/api/tty/{n}/{name}", s.addr)
            .into_client_request()
            .unwrap();
        req.headers_mut()
            .insert("authorization", format!("Bearer {admin}").parse().unwrap());
        req
    };
    // The VM is in the datacenter tree beside the CT.
    let (code, tree) = curl(
        "GET",
        &format!("{base}/api/v1/tree?namespace={n}"),
        Some(&admin),
        None,
    );
    assert_eq!(code, 200);
    assert!(
        tree["unscheduled"]
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g["kind"] == "vm" && g["name"] == "vm1"),
        "{tree}"
    );
    // (The VM's serial console itself: vm_console.rs.)
    for (name, status) in [("nothing", 404u16)] {
        let got = match tokio_tungstenite::connect_async(with_bearer(name)).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(r)) => r.status().as_u16(),
            other => panic!("{name}: {other:?}"),
        };
        assert_eq!(got, status, "{name}");
    }
}

#[test]
fn in_cluster_manifests_are_admitted_under_restricted() {
    let Some(c) = cluster() else { return };
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/corral-api.yaml");
    let r = c.kubectl(&["apply", "-f", path.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{r:?}");
    let w = c.kubectl(&[
        "rollout",
        "status",
        "-n",
        "corral-system",
        "deployment/corral-api",
        "--timeout=60s",
    ]);
    assert_eq!(w.code, 0, "{w:?}");
    let rbac = c.kubectl(&[
        "get",
        "rolebindings,clusterrolebindings",
        "-A",
        "-o",
        "jsonpath={..subjects[?(@.name==\"corral-api\")].name}",
    ]);
    assert_eq!(
        rbac.stdout.trim(),
        "",
        "the API's ServiceAccount needs no RBAC"
    );
    let _ = c.kubectl(&["delete", "-f", path.to_str().unwrap(), "--wait=false"]);
}

#[test]
fn serve_speaks_tls_and_keeps_plain_http_on_loopback() {
    let Some(c) = cluster() else { return };
    let dir = std::env::temp_dir().join(format!("corral-tls-it-{}", std::process::id()));
    let (cert, key) = crate::common::self_signed_cert(&dir, "IP:127.0.0.1,DNS:localhost");

    let server = serve(
        &c,
        &[
            "--tls-cert".as_ref(),
            cert.as_os_str(),
            "--tls-key".as_ref(),
            key.as_os_str(),
        ],
    );
    let get = |scheme: &str| {
        let out = Command::new("curl")
            .args([
                "-s",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                "--max-time",
                "5",
            ])
            .arg("--cacert")
            .arg(&cert)
            .arg(format!("{scheme}://{}/healthz", server.addr))
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert_eq!(get("https"), "200", "HTTPS with the server's certificate");
    assert_ne!(get("http"), "200", "plain HTTP on the TLS port");

    // Input errors, before anything listens: each names the flag and value.
    let missing = dir.join("nope.pem");
    let cases: Vec<(Vec<&std::ffi::OsStr>, &str)> = vec![
        (
            vec!["serve".as_ref(), "--listen".as_ref(), "0.0.0.0:0".as_ref()],
            "--listen 0.0.0.0:0: not a loopback address",
        ),
        (
            vec![
                "serve".as_ref(),
                "--tls-cert".as_ref(),
                missing.as_os_str(),
                "--tls-key".as_ref(),
                key.as_os_str(),
            ],
            "--tls-cert",
        ),
        (
            vec![
                "serve".as_ref(),
                "--tls-cert".as_ref(),
                cert.as_os_str(),
                "--tls-key".as_ref(),
                cert.as_os_str(),
            ],
            "--tls-key",
        ),
        (
            vec!["serve".as_ref(), "--tls-cert".as_ref(), cert.as_os_str()],
            "--tls-key",
        ),
    ];
    for (args, want) in cases {
        let out = Command::new(crate::common::corral_bin())
            .arg("--kubeconfig")
            .arg(&c.admin)
            .args(&args)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: {err}");
    }
}
