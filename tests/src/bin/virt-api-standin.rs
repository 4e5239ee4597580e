//! A stand-in for KubeVirt's virt-api, for the VM-console test: an HTTPS
//! server that the real kube-apiserver's aggregation layer proxies
//! `subresources.kubevirt.io/v1` to (an APIService, as KubeVirt registers).
//! It serves the group's discovery and the `console` subresource of any
//! VMI: a websocket (`plain.kubevirt.io`, raw bytes in binary frames) that
//! greets with the VMI's name and echoes what it is sent, as a serial line
//! with a shell's echo would. It is not a Kubernetes API server: every
//! request reaches it through the real apiserver, which has authenticated
//! and authorized the caller.
//!
//! Usage: virt-api-standin LISTEN_ADDR CERT_PEM KEY_PEM — prints
//! `listening on ADDR` on stderr once ready.

#![allow(clippy::unwrap_used, missing_docs)]

use axum::Router;
use axum::extract::Path;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::{IntoResponse, Json};
use axum::routing::get;
use futures::{SinkExt, StreamExt};

const GROUP_VERSION: &str = "subresources.kubevirt.io/v1";

async fn discovery() -> impl IntoResponse {
    Json(serde_json::json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": GROUP_VERSION,
        "resources": [{
            "name": "virtualmachineinstances/console",
            "singularName": "",
            "namespaced": true,
            "kind": "VirtualMachineInstance",
            "verbs": ["get"]
        }]
    }))
}

async fn groups() -> impl IntoResponse {
    let gv = serde_json::json!({"groupVersion": GROUP_VERSION, "version": "v1"});
    Json(serde_json::json!({
        "kind": "APIGroupList",
        "apiVersion": "v1",
        "groups": [{"name": "subresources.kubevirt.io", "versions": [gv], "preferredVersion": gv}]
    }))
}

async fn console(
    Path((ns, name)): Path<(String, String)>,
    ws: WebSocketUpgrade,
) -> impl IntoResponse {
    ws.protocols(["plain.kubevirt.io"])
        .on_upgrade(move |socket| serial(socket, format!("{ns}/{name}")))
}

async fn serial(socket: WebSocket, vm: String) {
    let (mut tx, mut rx) = socket.split();
    let banner = format!("serial console of {vm}\r\n{vm} login: ");
    if tx
        .send(Message::Binary(banner.into_bytes().into()))
        .await
        .is_err()
    {
        return;
    }
    while let Some(Ok(m)) = rx.next().await {
        match m {
            Message::Binary(b) if tx.send(Message::Binary(b.clone())).await.is_err() => return,
            Message::Close(_) => return,
            _ => {}
        }
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [listen, cert, key] = args.as_slice() else {
        eprintln!("usage: virt-api-standin LISTEN_ADDR CERT_PEM KEY_PEM");
        std::process::exit(2);
    };
    let config =
        corral_api::tls::server_config(std::path::Path::new(cert), std::path::Path::new(key))
            .unwrap();
    let tcp = tokio::net::TcpListener::bind(listen.as_str())
        .await
        .unwrap();
    let listener = corral_api::tls::TlsListener::new(tcp, config).unwrap();
    eprintln!(
        "listening on {}",
        axum::serve::Listener::local_addr(&listener).unwrap()
    );
    let app = Router::new()
        .route("/apis", get(groups))
        .route("/apis/subresources.kubevirt.io/v1", get(discovery))
        .route(
            "/apis/subresources.kubevirt.io/v1/namespaces/{ns}/virtualmachineinstances/{name}/console",
            get(console),
        );
    axum::serve(listener, app).await.unwrap();
}
