//! # corral-console
//!
//! Bridges an exec session in a CT's main container to byte streams: the
//! CLI's terminal (`corral ct console`, `corral ct exec`) and, later, the
//! API's websocket at `/api/tty/{ns}/{name}`. Uses kube's websocket exec
//! (v5 channel protocol, so closing stdin reaches the remote process).
//!
//! Architecture invariant: no terminal handling here (raw mode, signals);
//! that belongs to the frontend. This crate moves bytes, resizes and the
//! exit status.

use std::pin::Pin;

use corral_core::service::ExecTarget;
use futures::SinkExt;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Status;
use kube::api::{AttachParams, TerminalSize};
use kube::{Api, Client};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

/// Size of the pipes between the exec websocket and the local streams.
pub const STREAM_BUF: usize = 256 * 1024;

/// A terminal size: columns, rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size {
    /// Columns.
    pub cols: u16,
    /// Rows.
    pub rows: u16,
}

/// The local ends of a session.
pub struct SessionIo {
    /// Bytes for the remote stdin; `None` runs without stdin.
    pub stdin: Option<Pin<Box<dyn AsyncRead + Send>>>,
    /// Where remote stdout goes (with a TTY, stderr too).
    pub stdout: Pin<Box<dyn AsyncWrite + Send>>,
    /// Where remote stderr goes when there is no TTY.
    pub stderr: Pin<Box<dyn AsyncWrite + Send>>,
    /// Terminal sizes; the first is sent before any input.
    pub resize: Option<mpsc::Receiver<Size>>,
}

/// Why a session failed (the remote command's own failure is an exit code, not an error).
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    /// The exec request was refused or could not connect.
    #[error("opening a session in pod {pod}: {source}")]
    Open {
        /// Pod name.
        pod: String,
        /// Cause, sorted into a kind.
        #[source]
        source: corral_core::ports::PortError,
    },
    /// The session ended without an exit status and with a failure from the cluster.
    #[error("the session in pod {pod} failed: {message}")]
    Remote {
        /// Pod name.
        pod: String,
        /// The cluster's message.
        message: String,
    },
    /// Copying bytes to or from the local side failed.
    #[error("copying session output: {0}")]
    Copy(#[source] std::io::Error),
}

/// How a session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    /// The remote command exited with this code.
    Exit(i32),
    /// The cluster reported a failure without an exit code (some runtimes
    /// and simulated nodes report a non-zero exit this way).
    Failure(String),
}

/// Reads the exit status from the status frame kube hands back.
pub fn ended(status: Option<&Status>) -> Ended {
    let Some(s) = status else {
        return Ended::Failure("the session closed without an exit status".into());
    };
    if s.status.as_deref() == Some("Success") {
        return Ended::Exit(0);
    }
    if s.reason.as_deref() == Some("NonZeroExitCode")
        && let Some(code) = s
            .details
            .as_ref()
            .and_then(|d| d.causes.as_ref())
            .and_then(|c| c.iter().find(|c| c.reason.as_deref() == Some("ExitCode")))
            .and_then(|c| c.message.as_deref())
            .and_then(|m| m.parse::<i32>().ok())
    {
        return Ended::Exit(code);
    }
    let message = s
        .message
        .clone()
        .unwrap_or_else(|| "the session failed".into());
    // Some runtimes (kwok's local exec, some CRI shims) report a non-zero
    // exit as an error whose text ends with Go's `exec.ExitError` form.
    if let Some(code) = message
        .rsplit_once("exit status ")
        .and_then(|(_, n)| n.trim().parse::<i32>().ok())
    {
        return Ended::Exit(code);
    }
    Ended::Failure(message)
}

/// Runs `argv` in the target container, bridging `io`, and returns how it ended.
pub async fn run(
    client: &Client,
    target: &ExecTarget,
    argv: Vec<String>,
    tty: bool,
    mut io: SessionIo,
) -> Result<Ended, ConsoleError> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), target.id.namespace.as_str());
    let mut ap = AttachParams::default()
        .container(target.container.clone())
        .stdin(io.stdin.is_some())
        .stdout(true)
        .stderr(!tty)
        .tty(tty);
    // kube's default 1 KiB pipes between the websocket and the streams cost
    // a wake-up per KiB; bulk output needs room.
    ap.max_stdin_buf_size = Some(STREAM_BUF);
    ap.max_stdout_buf_size = Some(STREAM_BUF);
    ap.max_stderr_buf_size = Some(STREAM_BUF);
    let mut proc = pods
        .exec(&target.pod, argv, &ap)
        .await
        .map_err(|e| ConsoleError::Open {
            pod: target.pod.clone(),
            source: corral_k8s::error::port_error(&format!("pod {}", target.id), e),
        })?;
    let status = proc.take_status();

    // Resizes: the first size goes out before stdin starts flowing.
    let mut resize_task = None;
    if let (Some(mut rx), Some(mut tx)) = (io.resize.take(), proc.terminal_size()) {
        if let Some(first) = rx.recv().await {
            let _ = tx
                .send(TerminalSize {
                    width: first.cols,
                    height: first.rows,
                })
                .await;
        }
        resize_task = Some(tokio::spawn(async move {
            while let Some(s) = rx.recv().await {
                if tx
                    .send(TerminalSize {
                        width: s.cols,
                        height: s.rows,
                    })
                    .await
                    .is_err()
                {
                    break;
                }
            }
        }));
    }
    let stdin_task = match (io.stdin.take(), proc.stdin()) {
        (Some(mut local), Some(mut remote)) => Some(tokio::spawn(async move {
            let _ = tokio::io::copy(&mut local, &mut remote).await;
            let _ = remote.shutdown().await;
        })),
        _ => None,
    };
    let mut out = io.stdout;
    let mut err = io.stderr;
    let (remote_out, remote_err) = (proc.stdout(), proc.stderr());
    let out_copy = async {
        if let Some(mut r) = remote_out {
            tokio::io::copy(&mut r, &mut out).await?;
        }
        out.flush().await
    };
    let err_copy = async {
        if let Some(mut r) = remote_err {
            tokio::io::copy(&mut r, &mut err).await?;
        }
        err.flush().await
    };
    let (o, e) = tokio::join!(out_copy, err_copy);
    let st = match status {
        Some(s) => s.await,
        None => None,
    };
    if let Some(t) = stdin_task {
        t.abort();
    }
    if let Some(t) = resize_task {
        t.abort();
    }
    o.map_err(ConsoleError::Copy)?;
    e.map_err(ConsoleError::Copy)?;
    let _ = proc.join().await;
    Ok(ended(st.as_ref()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{StatusCause, StatusDetails};

    #[test]
    fn exit_codes_are_read_from_status() {
        let ok = Status {
            status: Some("Success".into()),
            ..Default::default()
        };
        let nonzero = Status {
            status: Some("Failure".into()),
            reason: Some("NonZeroExitCode".into()),
            message: Some("command terminated with non-zero exit code".into()),
            details: Some(StatusDetails {
                causes: Some(vec![StatusCause {
                    reason: Some("ExitCode".into()),
                    message: Some("42".into()),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            ..Default::default()
        };
        let internal = Status {
            status: Some("Failure".into()),
            reason: Some("InternalError".into()),
            message: Some("exit status 3".into()),
            ..Default::default()
        };
        let other = Status {
            status: Some("Failure".into()),
            message: Some("container not found".into()),
            ..Default::default()
        };
        let cases = [
            (Some(&ok), Ended::Exit(0)),
            (Some(&nonzero), Ended::Exit(42)),
            (Some(&internal), Ended::Exit(3)),
            (Some(&other), Ended::Failure("container not found".into())),
            (
                None,
                Ended::Failure("the session closed without an exit status".into()),
            ),
        ];
        for (s, want) in cases {
            assert_eq!(ended(s), want);
        }
    }
}

/// Why a VM's serial console could not be used.
#[derive(Debug, thiserror::Error)]
pub enum VmConsoleError {
    /// The apiserver (or KubeVirt behind it) refused or failed the upgrade.
    #[error("opening the serial console of VM {vm}: {source}")]
    Open {
        /// `namespace/name` of the VMI.
        vm: String,
        /// Cause, sorted into a kind.
        #[source]
        source: corral_core::ports::PortError,
    },
    /// The HTTP upgrade to a websocket did not happen.
    #[error(
        "opening the serial console of VM {vm}: the server did not switch to a websocket: {message}"
    )]
    Upgrade {
        /// `namespace/name` of the VMI.
        vm: String,
        /// What was wrong.
        message: String,
    },
    /// Copying bytes between the console and the local side failed.
    #[error("copying serial console bytes: {0}")]
    Copy(#[source] std::io::Error),
}

/// The websocket subprotocol of KubeVirt's console subresource: raw bytes
/// in binary frames both ways.
pub const KUBEVIRT_CONSOLE_PROTOCOL: &str = "plain.kubevirt.io";

/// The path of a VMI's serial console subresource.
pub fn vm_console_path(namespace: &str, name: &str) -> String {
    format!(
        "/apis/subresources.kubevirt.io/v1/namespaces/{namespace}/virtualmachineinstances/{name}/console"
    )
}

/// Bridges a KubeVirt VirtualMachineInstance's serial console (the
/// `console` subresource of `subresources.kubevirt.io/v1`, proxied by the
/// apiserver to virt-api) to `input`/`output`, as the caller whose
/// credentials `kube` carries. Ends when either side closes.
pub async fn vm_console(
    kube: &kube::Client,
    namespace: &str,
    name: &str,
    mut input: Pin<Box<dyn AsyncRead + Send>>,
    mut output: Pin<Box<dyn AsyncWrite + Send>>,
) -> Result<(), VmConsoleError> {
    use futures::{SinkExt, StreamExt};
    use http::header::{self, HeaderValue};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio_tungstenite::tungstenite::{
        Message, handshake::client::generate_key, protocol::Role,
    };

    let vm = format!("{namespace}/{name}");
    let key = generate_key();
    let mut req = http::Request::get(vm_console_path(namespace, name))
        .body(kube::client::Body::empty())
        .map_err(|e| VmConsoleError::Upgrade {
            vm: vm.clone(),
            message: e.to_string(),
        })?;
    let h = req.headers_mut();
    h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(
        header::SEC_WEBSOCKET_VERSION,
        HeaderValue::from_static("13"),
    );
    h.insert(
        header::SEC_WEBSOCKET_PROTOCOL,
        HeaderValue::from_static(KUBEVIRT_CONSOLE_PROTOCOL),
    );
    if let Ok(v) = HeaderValue::from_str(&key) {
        h.insert(header::SEC_WEBSOCKET_KEY, v);
    }
    let open = |source| VmConsoleError::Open {
        vm: vm.clone(),
        source,
    };
    let res = kube
        .send(req)
        .await
        .map_err(|e| open(corral_k8s::error::port_error(&format!("VM {vm}"), e)))?;
    if res.status() != http::StatusCode::SWITCHING_PROTOCOLS {
        // Errors from the apiserver and KubeVirt are metav1.Status bodies.
        let code = res.status().as_u16();
        let body = http_body_util::BodyExt::collect(res.into_body())
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        let status = serde_json::from_slice::<kube::core::Status>(&body).unwrap_or_else(|_| {
            kube::core::Status::failure(&String::from_utf8_lossy(&body), "").with_code(code)
        });
        return Err(open(corral_k8s::error::port_error(
            &format!("VM {vm}"),
            kube::Error::Api(Box::new(status)),
        )));
    }
    let upgraded = hyper::upgrade::on(res)
        .await
        .map_err(|e| VmConsoleError::Upgrade {
            vm: vm.clone(),
            message: e.to_string(),
        })?;
    let ws = tokio_tungstenite::WebSocketStream::from_raw_socket(
        hyper_util::rt::TokioIo::new(upgraded),
        Role::Client,
        None,
    )
    .await;
    let (mut sink, mut stream) = ws.split();
    let to_vm = async {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = input.read(&mut buf).await.map_err(VmConsoleError::Copy)?;
            if n == 0 {
                let _ = sink.send(Message::Close(None)).await;
                return Ok::<(), VmConsoleError>(());
            }
            if sink
                .send(Message::Binary(buf[..n].to_vec().into()))
                .await
                .is_err()
            {
                return Ok(());
            }
        }
    };
    let from_vm = async {
        while let Some(Ok(m)) = stream.next().await {
            match m {
                Message::Binary(b) => output.write_all(&b).await.map_err(VmConsoleError::Copy)?,
                Message::Text(t) => output
                    .write_all(t.as_bytes())
                    .await
                    .map_err(VmConsoleError::Copy)?,
                Message::Close(_) => break,
                _ => {}
            }
            output.flush().await.map_err(VmConsoleError::Copy)?;
        }
        Ok::<(), VmConsoleError>(())
    };
    // Either side ending ends the session.
    tokio::select! {
        r = to_vm => r,
        r = from_vm => r,
    }
}
