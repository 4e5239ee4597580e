//! The websocket console of a KubeVirt VM: `/api/tty/{ns}/{name}` finds a
//! VirtualMachineInstance of that name and bridges it to the VMI's `console`
//! subresource (`subresources.kubevirt.io/v1`), which the real apiserver's
//! aggregation layer proxies to virt-api. KubeVirt cannot run here (its
//! images come from a registry), so `virt-api-standin` (tests/src/bin)
//! takes virt-api's place behind a real APIService; everything between the
//! browser and it is the production path.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::api::{VMI_CRD, token};
use crate::common::{Cluster, real_node, serve};

const APISERVICE: &str = "v1.subresources.kubevirt.io";

/// Removes the cluster-wide APIService and stops the stand-in when dropped.
struct StandIn<'a> {
    cluster: &'a Cluster,
    child: std::process::Child,
}

impl Drop for StandIn<'_> {
    fn drop(&mut self) {
        let _ = self
            .cluster
            .kubectl(&["delete", "apiservice", APISERVICE, "--ignore-not-found"]);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn ok(r: crate::common::Run) -> crate::common::Run {
    assert_eq!(r.code, 0, "{r:?}");
    r
}

#[tokio::test]
async fn vm_console_bridges_the_kubevirt_serial_console_through_the_apiserver() {
    let Some((c, node)) = real_node() else { return };
    // The stand-in listens on the real node's address: an Endpoint may not
    // be a loopback address.
    let ip = ok(c.kubectl(&[
        "get",
        "node",
        &node,
        "-o",
        r#"jsonpath={.status.addresses[?(@.type=="InternalIP")].address}"#,
    ]))
    .stdout;
    let dir = std::env::temp_dir().join(format!("corral-virt-api-{}", std::process::id()));
    let (cert, key) = crate::common::self_signed_cert(&dir, &format!("IP:{ip}"));
    let mut child = Command::new(env!("CARGO_BIN_EXE_virt-api-standin"))
        .arg(format!("{ip}:0"))
        .args([&cert, &key])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let line = crate::common::first_stderr_line(&mut child);
    let port = line
        .trim()
        .rsplit(':')
        .next()
        .unwrap_or_else(|| panic!("{line}"))
        .to_string();
    let _standin = StandIn { cluster: &c, child };

    let ns = c.namespace("vm", &[]);
    let n = ns.name.as_str();
    let crd = dir.join("crd.yaml");
    std::fs::write(&crd, VMI_CRD).unwrap();
    ok(c.kubectl(&["apply", "-f", crd.to_str().unwrap()]));
    ok(c.kubectl(&[
        "wait",
        "--for=condition=Established",
        "crd/virtualmachineinstances.kubevirt.io",
        "--timeout=30s",
    ]));
    // How KubeVirt registers virt-api: an APIService backed by a Service.
    let objects = format!(
        r#"apiVersion: v1
kind: Service
metadata: {{name: virt-api, namespace: {n}}}
spec:
  ports: [{{port: 443, targetPort: {port}, protocol: TCP}}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: virt-api-standin
  namespace: {n}
  labels: {{kubernetes.io/service-name: virt-api}}
addressType: IPv4
endpoints: [{{addresses: ["{ip}"], conditions: {{ready: true}}}}]
ports: [{{port: {port}, protocol: TCP}}]
---
apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata: {{name: {APISERVICE}}}
spec:
  group: subresources.kubevirt.io
  version: v1
  service: {{namespace: {n}, name: virt-api, port: 443}}
  insecureSkipTLSVerify: true
  groupPriorityMinimum: 1000
  versionPriority: 15
---
apiVersion: kubevirt.io/v1
kind: VirtualMachineInstance
metadata: {{name: vm1, namespace: {n}}}
spec: {{}}
"#
    );
    let f = dir.join("objects.yaml");
    std::fs::write(&f, objects).unwrap();
    ok(c.kubectl(&["apply", "-f", f.to_str().unwrap()]));
    ok(c.kubectl(&[
        "wait",
        "--for=condition=Available",
        &format!("apiservice/{APISERVICE}"),
        "--timeout=90s",
    ]));

    let s = serve(&c, &[]);
    let admin = token(&c, "kube-system", "corral-admin-sa");
    // As the browser does: a single-use ticket for the VM, then the websocket.
    let out = Command::new("curl")
        .args(["-s", "-X", "POST", "-H", "Content-Type: application/json"])
        .args(["-H", &format!("Authorization: Bearer {admin}")])
        .args(["-d", &format!(r#"{{"namespace":"{n}","name":"vm1"}}"#)])
        .arg(format!("http://{}/api/v1/tty-tickets", s.addr))
        .output()
        .unwrap();
    let ticket: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let ticket = ticket["ticket"]
        .as_str()
        .unwrap_or_else(|| panic!("no ticket: {ticket}"));
    let mut req = format!("ws://{}/api/tty/{n}/vm1?ticket={ticket}", s.addr)
        .into_client_request()
        .unwrap();
    req.headers_mut()
        .insert("origin", format!("http://{}", s.addr).parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    ws.send(Message::Binary(b"root\r".to_vec().into()))
        .await
        .unwrap();
    let mut seen = Vec::new();
    let began = Instant::now();
    let want = format!("serial console of {n}/vm1\r\n{n}/vm1 login: root\r");
    while !String::from_utf8_lossy(&seen).contains(&want) {
        assert!(
            began.elapsed() < Duration::from_secs(20),
            "got {:?}",
            String::from_utf8_lossy(&seen)
        );
        match tokio::time::timeout(Duration::from_secs(20), ws.next()).await {
            Ok(Some(Ok(Message::Binary(b)))) => seen.extend_from_slice(&b),
            Ok(Some(Ok(Message::Text(t)))) => panic!("session ended early: {t}"),
            Ok(Some(Ok(_))) => {}
            other => panic!("{other:?} after {:?}", String::from_utf8_lossy(&seen)),
        }
    }
    // Stopping the stand-in (virt-api going away) ends the session with a
    // closing frame, not a hang.
    drop(_standin);
    let end = loop {
        match tokio::time::timeout(Duration::from_secs(20), ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => break t.to_string(),
            Ok(Some(Ok(_))) => {}
            other => panic!("no end frame: {other:?}"),
        }
    };
    assert!(
        end.contains(r#""type":"closed""#) || end.contains(r#""type":"error""#),
        "{end}"
    );
}
