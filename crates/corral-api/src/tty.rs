//! `GET /api/tty/{ns}/{name}`: a websocket console.
//!
//! Protocol (documented in `docs/api.md`):
//! - client → server: binary frames are keystrokes (stdin); a text frame is
//!   a JSON control message, `{"type":"resize","cols":120,"rows":40}`;
//! - server → client: binary frames are terminal output; when the session
//!   ends a text frame `{"type":"exit","code":0}` (or
//!   `{"type":"error","message":"…"}`) and a close frame follow;
//! - the server pings every 30 s; a resize sent before the session is ready
//!   is queued, not lost (the session starts at 80×24 until one arrives).
//!
//! Auth: `?ticket=` from `POST /api/v1/tty-tickets`, or an
//! `Authorization: Bearer` header for non-browser clients. A browser's
//! `Origin` must be the server's own or one allowed with `--allow-origin`.
//! The name is looked up as a KubeVirt VirtualMachineInstance first, then as a CT.

use std::time::Duration;

use axum::extract::ws::{Message, WebSocket};
use axum::extract::{Path, Query, State, WebSocketUpgrade};
use axum::http::HeaderMap;
use axum::response::Response;
use corral_console::{Ended, SessionIo, Size};
use corral_core::service::ExecTarget;
use futures::{SinkExt, StreamExt};
use kube::api::DynamicObject;
use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

use crate::error::ApiError;
use crate::{AppState, bearer, ct_ref};

/// Query of the tty endpoint.
#[derive(Debug, Deserialize)]
pub struct TtyQuery {
    /// Ticket from `POST /api/v1/tty-tickets`.
    pub ticket: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
enum Control {
    Resize { cols: u16, rows: u16 },
}

fn origin_allowed(state: &AppState, headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get("origin").and_then(|o| o.to_str().ok()) else {
        return true; // not a browser
    };
    let host = headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    let own = [format!("http://{host}"), format!("https://{host}")];
    own.iter().any(|o| o == origin) || state.allowed_origins.iter().any(|o| o == origin)
}

/// KubeVirt VMIs (node, guest) the caller may list; none where KubeVirt is not installed.
pub async fn list_vms(
    kube: &kube::Client,
    ns: Option<&str>,
) -> Vec<(Option<String>, crate::wire::Guest)> {
    corral_k8s::vms::list(kube, ns)
        .await
        .into_iter()
        .map(|v| {
            (
                v.node,
                crate::wire::Guest {
                    kind: "vm".into(),
                    namespace: v.namespace,
                    name: v.name,
                    status: v.phase,
                },
            )
        })
        .collect()
}

/// True when `ns/name` is a KubeVirt VirtualMachineInstance the caller can read.
pub async fn is_vm(kube: &kube::Client, ns: &str, name: &str) -> Result<bool, ApiError> {
    let ar = corral_k8s::vms::resource();
    let api: kube::Api<DynamicObject> = kube::Api::namespaced_with(kube.clone(), ns, &ar);
    match api.get_opt(name).await {
        Ok(o) => Ok(o.is_some()),
        // 404 for the resource type itself: KubeVirt is not installed.
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(false),
        Err(kube::Error::Api(s)) if s.code == 403 => Ok(false),
        Err(e) => Err(ApiError::internal(e)),
    }
}

/// The handler.
pub async fn tty(
    State(state): State<AppState>,
    Path((ns, name)): Path<(String, String)>,
    Query(q): Query<TtyQuery>,
    headers: HeaderMap,
    ws: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    if !origin_allowed(&state, &headers) {
        return Err(ApiError::forbidden(
            "bad_origin",
            "this Origin may not open consoles; start the server with --allow-origin for it",
        ));
    }
    let token = match &q.ticket {
        Some(t) => state.tickets.redeem(t, &ns, &name).ok_or_else(|| {
            ApiError::unauthorized("the console ticket is unknown, used, expired or for another CT")
        })?,
        None => bearer(&headers)?,
    };
    let id = ct_ref(&ns, &name)?;
    let caller = state.backend.caller(&token).await?;
    if let Some(kube) = &caller.kube
        && is_vm(kube, &ns, &name).await?
    {
        let ws = ws.map_err(|e| ApiError::bad_request("not_websocket", e.body_text()))?;
        let kube = kube.clone();
        return Ok(ws.on_upgrade(move |socket| {
            bridge_with(socket, move |pipes| async move {
                let r = corral_console::vm_console(
                    &kube,
                    &ns,
                    &name,
                    Box::pin(pipes.stdin),
                    Box::pin(pipes.stdout),
                )
                .await;
                match r {
                    Ok(()) => serde_json::json!({"type": "closed"}),
                    Err(e) => serde_json::json!({"type": "error", "message": e.to_string()}),
                }
            })
        }));
    }
    let target = caller.service.exec_target(&id).await?;
    let Some(kube) = caller.kube else {
        return Err(ApiError::internal("no cluster client for exec"));
    };
    let argv = corral_core::entrypoint::console_command(target.mode);
    let ws = ws.map_err(|e| ApiError::bad_request("not_websocket", e.body_text()))?;
    Ok(ws.on_upgrade(move |socket| bridge(socket, kube, target, argv)))
}

/// Bridges one websocket to one exec session.
pub async fn bridge(socket: WebSocket, kube: kube::Client, target: ExecTarget, argv: Vec<String>) {
    bridge_with(socket, move |pipes| async move {
        let r = corral_console::run(
            &kube,
            &target,
            argv,
            true,
            SessionIo {
                stdin: Some(Box::pin(pipes.stdin)),
                stdout: Box::pin(pipes.stdout),
                stderr: Box::pin(tokio::io::sink()),
                resize: Some(pipes.resize),
            },
        )
        .await;
        match r {
            Ok(Ended::Exit(code)) => serde_json::json!({"type": "exit", "code": code}),
            Ok(Ended::Failure(m)) => serde_json::json!({"type": "error", "message": m}),
            Err(e) => serde_json::json!({"type": "error", "message": e.to_string()}),
        }
    })
    .await
}

/// The session's side of a websocket: what the browser typed, where the
/// session's output goes, and the browser's resizes.
pub struct Pipes {
    /// Keystrokes from the browser (EOF when it closes).
    pub stdin: tokio::io::DuplexStream,
    /// Output for the browser.
    pub stdout: tokio::io::DuplexStream,
    /// Terminal sizes, the first one (80×24) already queued.
    pub resize: mpsc::Receiver<Size>,
}

/// Runs `session` between a websocket and a pair of pipes: binary frames in
/// and out, JSON resize messages, 30 s pings; the JSON `session` returns is
/// the last text frame before the close.
pub async fn bridge_with<F, Fut>(socket: WebSocket, session: F)
where
    F: FnOnce(Pipes) -> Fut,
    Fut: std::future::Future<Output = serde_json::Value>,
{
    let (mut sink, mut stream) = socket.split();
    let (out_tx, mut out_rx) = mpsc::channel::<Message>(64);
    let writer = tokio::spawn(async move {
        while let Some(m) = out_rx.recv().await {
            let close = matches!(m, Message::Close(_));
            if sink.send(m).await.is_err() || close {
                break;
            }
        }
    });
    let (resize_tx, resize_rx) = mpsc::channel::<Size>(16);
    let _ = resize_tx.send(Size { cols: 80, rows: 24 }).await;
    let (stdin_local, stdin_remote) = tokio::io::duplex(64 * 1024);
    let (stdout_remote, mut stdout_local) = tokio::io::duplex(64 * 1024);

    // Browser → session.
    let reader = tokio::spawn(async move {
        let mut stdin_local = stdin_local;
        while let Some(Ok(m)) = stream.next().await {
            match m {
                Message::Binary(b) if stdin_local.write_all(&b).await.is_err() => break,
                Message::Binary(_) => {}
                Message::Text(t) => {
                    if let Ok(Control::Resize { cols, rows }) = serde_json::from_str::<Control>(&t)
                    {
                        let _ = resize_tx.send(Size { cols, rows }).await;
                    }
                }
                Message::Close(_) => break,
                _ => {}
            }
        }
        let _ = stdin_local.shutdown().await;
    });
    // Session → browser, with keepalive pings.
    let pump_tx = out_tx.clone();
    let pump = tokio::spawn(async move {
        let mut buf = vec![0u8; 32 * 1024];
        let mut ping = tokio::time::interval(Duration::from_secs(30));
        ping.tick().await;
        loop {
            tokio::select! {
                n = stdout_local.read(&mut buf) => match n {
                    Ok(0) | Err(_) => break,
                    Ok(n) => if pump_tx.send(Message::Binary(buf[..n].to_vec().into())).await.is_err() { break },
                },
                _ = ping.tick() => { let _ = pump_tx.send(Message::Ping(Vec::new().into())).await; }
            }
        }
    });
    let end = session(Pipes {
        stdin: stdin_remote,
        stdout: stdout_remote,
        resize: resize_rx,
    })
    .await;
    let _ = pump.await;
    let _ = out_tx.send(Message::Text(end.to_string().into())).await;
    let _ = out_tx.send(Message::Close(None)).await;
    drop(out_tx);
    reader.abort();
    let _ = writer.await;
}
