//! The local terminal side of a console: raw mode, resizes, restore on
//! every exit path (kube-rs's `pod_shell_crossterm` example shows the shape).

use std::io::IsTerminal;

use corral_console::{Ended, SessionIo, Size};
use corral_core::service::ExecTarget;
use kube::Client;
use tokio::sync::mpsc;

use crate::error::{CommandError, Kind};

/// Leaves raw mode when dropped: on return, on error and on panic unwinding.
struct RawGuard(bool);

impl RawGuard {
    fn enable() -> Self {
        RawGuard(crossterm::terminal::enable_raw_mode().is_ok())
    }
}

impl Drop for RawGuard {
    fn drop(&mut self) {
        if self.0 {
            let _ = crossterm::terminal::disable_raw_mode();
        }
    }
}

fn size() -> Size {
    let (cols, rows) = crossterm::terminal::size().unwrap_or((80, 24));
    Size { cols, rows }
}

fn code(ended: Ended) -> Result<u8, CommandError> {
    match ended {
        Ended::Exit(c) => Ok(u8::try_from(c.clamp(0, 255)).unwrap_or(1)),
        Ended::Failure(m) => Err(CommandError {
            kind: Kind::Internal,
            message: format!("the remote command failed: {m}"),
        }),
    }
}

/// An interactive session with a TTY: raw mode, initial size, SIGWINCH forwarded.
pub async fn interactive(
    client: &Client,
    target: &ExecTarget,
    argv: Vec<String>,
) -> Result<u8, CommandError> {
    if !std::io::stdin().is_terminal() {
        return Err(CommandError::usage(
            "a console needs a terminal on stdin; use `corral ct exec NAME -- CMD` in scripts",
        ));
    }
    let (tx, rx) = mpsc::channel(8);
    let _ = tx.send(size()).await;
    let resize = tokio::spawn(async move {
        let Ok(mut sig) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::window_change())
        else {
            return;
        };
        while sig.recv().await.is_some() {
            if tx.send(size()).await.is_err() {
                break;
            }
        }
    });
    let guard = RawGuard::enable();
    let r = corral_console::run(
        client,
        target,
        argv,
        true,
        SessionIo {
            stdin: Some(Box::pin(tokio::io::stdin())),
            stdout: Box::pin(tokio::io::stdout()),
            stderr: Box::pin(tokio::io::stderr()),
            resize: Some(rx),
        },
    )
    .await;
    drop(guard);
    resize.abort();
    code(r?)
}

/// A non-interactive session: stdout and stderr kept apart, stdin piped with `-i`.
pub async fn piped(
    client: &Client,
    target: &ExecTarget,
    argv: Vec<String>,
    stdin: bool,
) -> Result<u8, CommandError> {
    let r = corral_console::run(
        client,
        target,
        argv,
        false,
        SessionIo {
            stdin: if stdin {
                Some(Box::pin(tokio::io::stdin()))
            } else {
                None
            },
            stdout: Box::pin(tokio::io::stdout()),
            stderr: Box::pin(tokio::io::stderr()),
            resize: None,
        },
    )
    .await?;
    code(r)
}
